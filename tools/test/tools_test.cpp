#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "support.hpp"

namespace yoi::tools::test {
namespace {

void set_mtime(const fs::path& p, time_t sec) {
  struct timespec ts[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, 0), 0);
}

// ---- arguments ----

TEST_F(ToolsTest, ArgumentsAreCheckedStrictlyAndNamed) {
  struct Case {
    const char* tool;
    const char* json;
    const char* field;
  } cases[] = {
      {"read", R"({})", "path"},
      {"read", R"({"path": 7})", "path"},
      {"read", R"({"path": "a", "offset": "1"})", "offset"},
      {"read", R"({"path": "a", "offset": 0})", "offset"},
      {"read", R"({"path": "a", "limit": 1.5})", "limit"},
      {"read", R"({"path": "a", "bogus": 1})", "bogus"},
      {"write", R"({"path": "a"})", "content"},
      {"write", R"({"path": "a", "content": ["x"]})", "content"},
      {"edit", R"({"path": "a", "old_string": "x"})", "new_string"},
      {"edit", R"({"path": "a", "old_string": "", "new_string": "y"})", "old_string"},
      {"edit", R"({"path": "a", "old_string": "x", "new_string": "y", "replace_all": "yes"})", "replace_all"},
      {"glob", R"({"pattern": 1})", "pattern"},
      {"glob", R"({"pattern": "/etc/*"})", "pattern"},
      {"grep", R"({"pattern": "x", "case_insensitive": 1})", "case_insensitive"},
      {"grep", R"({"pattern": "x", "glob": 3})", "glob"},
  };
  for (const Case& c : cases) {
    ToolResult r = call(c.tool, c.json);
    ASSERT_TRUE(r.error) << c.json;
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(code(r), "invalid_arguments") << c.json;
    EXPECT_NE(r.error->message.find(c.field), std::string::npos) << c.json << ": " << r.error->message;
  }
  ToolResult unknown = call("rm", R"({})");
  EXPECT_EQ(code(unknown), "invalid_arguments");
  EXPECT_NE(unknown.error->message.find("unknown tool 'rm'"), std::string::npos);
}

// ---- read ----

TEST_F(ToolsTest, ReadNumbersLinesLikeCatN) {
  put(home_ / "notes.md", "alpha\nbeta\n\ngamma");
  ToolResult r = call("read", R"({"path": "notes.md"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.output, "     1\talpha\n     2\tbeta\n     3\t\n     4\tgamma\n");
  EXPECT_FALSE(r.truncated);
}

TEST_F(ToolsTest, ReadPagesWithOffsetAndLimitOverALargeFile) {
  std::string big;
  for (int i = 1; i <= 200000; ++i) big += fmt::format("line {}\n", i);
  put(home_ / "big.txt", big);
  ToolResult r = call("read", R"({"path": "/work/big.txt", "offset": 150000, "limit": 3})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output, "150000\tline 150000\n150001\tline 150001\n150002\tline 150002\n"
                      "… more lines follow: continue with offset 150003\n");
  ToolResult all = call("read", R"({"path": "/work/big.txt"})");  // default page, cut by the output bound
  ASSERT_TRUE(all.ok);
  EXPECT_LE(all.output.size(), Limits{}.max_output_bytes + 200);
  EXPECT_TRUE(all.truncated);
  EXPECT_NE(all.output.find("continue with offset"), std::string::npos);
  ToolResult past = call("read", R"({"path": "/work/big.txt", "offset": 300000})");
  ASSERT_TRUE(past.ok);
  EXPECT_EQ(past.output, "(no lines: '/work/big.txt' has 200000 line(s))\n");
}

TEST_F(ToolsTest, ReadCutsVeryLongLinesAtAUtf8Boundary) {
  put(home_ / "long.txt", std::string(10000, 'x') + "\nnext\n");
  Limits limits;
  limits.read_max_line_bytes = 100;
  ToolResult r = call("read", R"({"path": "long.txt"})", limits);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output, "     1\t" + std::string(100, 'x') + " … [line cut]\n     2\tnext\n");
}

TEST_F(ToolsTest, ReadRefusesBinaryFilesDirectoriesAndFifos) {
  put(home_ / "bin.dat", std::string("abc\0def", 7));
  ToolResult bin = call("read", R"({"path": "bin.dat"})");
  EXPECT_EQ(code(bin), "invalid_arguments");
  EXPECT_NE(bin.error->message.find("binary"), std::string::npos);
  EXPECT_EQ(code(call("read", R"({"path": "/work"})")), "invalid_arguments");
  ASSERT_EQ(::mkfifo((home_ / "pipe").c_str(), 0600), 0);
  ToolResult fifo = with_deadline([&] { return call("read", R"({"path": "pipe"})"); });  // must not block
  EXPECT_EQ(code(fifo), "invalid_arguments");
  EXPECT_EQ(code(call("read", R"({"path": "missing.txt"})")), "not_found");
}

// ---- write ----

TEST_F(ToolsTest, WriteCreatesParentsAndReplacesAtomically) {
  ToolResult r = call("write", R"({"path": "/workspaces/rw/deep/er/f.txt", "content": "one\n"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.output, "created '/workspaces/rw/deep/er/f.txt' (4 bytes)");
  EXPECT_EQ(slurp(rw_ / "deep/er/f.txt"), "one\n");
  ::chmod((rw_ / "deep/er/f.txt").c_str(), 0600);
  ToolResult again = call("write", R"({"path": "/workspaces/rw/deep/er/f.txt", "content": "two\n"})");
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.output, "replaced '/workspaces/rw/deep/er/f.txt' (4 bytes)");
  EXPECT_EQ(slurp(rw_ / "deep/er/f.txt"), "two\n");
  EXPECT_EQ(fs::status(rw_ / "deep/er/f.txt").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(rw_ / "deep/er")) ++entries;
  EXPECT_EQ(entries, 1);  // no temp file left behind
}

TEST_F(ToolsTest, WriteBoundsContentAndRefusesDirectories) {
  Limits limits;
  limits.max_file_bytes = 10;
  EXPECT_EQ(code(call("write", R"({"path": "a.txt", "content": "12345678901"})", limits)), "too_large");
  EXPECT_FALSE(fs::exists(home_ / "a.txt"));
  fs::create_directories(home_ / "dir");
  EXPECT_EQ(code(call("write", R"({"path": "dir", "content": "x"})")), "invalid_arguments");
  EXPECT_EQ(code(call("write", R"({"path": "/work", "content": "x"})")), "invalid_arguments");
}

TEST_F(ToolsTest, WriteReplacesASymlinkRatherThanWritingThroughIt) {
  put(home_ / "target.txt", "target\n");
  fs::create_symlink("target.txt", home_ / "link.txt");
  ASSERT_TRUE(call("write", R"({"path": "link.txt", "content": "new\n"})").ok);
  EXPECT_EQ(slurp(home_ / "target.txt"), "target\n");
  EXPECT_FALSE(fs::is_symlink(home_ / "link.txt"));
}

// ---- edit ----

TEST_F(ToolsTest, EditReplacesOnceAndAnswersAUnifiedDiff) {
  put(rw_ / "a.txt", "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\n");
  ToolResult r = call("edit", R"({"path": "/workspaces/rw/a.txt", "old_string": "l5", "new_string": "five"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.output,
            "--- /workspaces/rw/a.txt\n+++ /workspaces/rw/a.txt\n"
            "@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+five\n l6\n l7\n l8\n");
  EXPECT_EQ(slurp(rw_ / "a.txt"), "l1\nl2\nl3\nl4\nfive\nl6\nl7\nl8\nl9\n");
}

TEST_F(ToolsTest, EditCountsAmbiguousMatchesAndReportsMissingOnes) {
  put(home_ / "a.txt", "x x\nx\n");
  ToolResult many = call("edit", R"({"path": "a.txt", "old_string": "x", "new_string": "y"})");
  EXPECT_EQ(code(many), "invalid_arguments");
  EXPECT_NE(many.error->message.find("occurs 3 times"), std::string::npos);
  ToolResult none = call("edit", R"({"path": "a.txt", "old_string": "zzz", "new_string": "y"})");
  EXPECT_EQ(code(none), "not_found");
  EXPECT_EQ(slurp(home_ / "a.txt"), "x x\nx\n");  // nothing changed
  ToolResult all = call("edit", R"({"path": "a.txt", "old_string": "x", "new_string": "y", "replace_all": true})");
  ASSERT_TRUE(all.ok);
  EXPECT_EQ(slurp(home_ / "a.txt"), "y y\ny\n");
  EXPECT_EQ(all.output, "--- /work/a.txt\n+++ /work/a.txt\n@@ -1,2 +1,2 @@\n-x x\n-x\n+y y\n+y\n");
}

TEST_F(ToolsTest, EditRefusesBinaryAndOversizedFiles) {
  put(home_ / "bin", std::string("a\0b", 3));
  EXPECT_EQ(code(call("edit", R"({"path": "bin", "old_string": "a", "new_string": "b"})")), "invalid_arguments");
  put(home_ / "big", std::string(100, 'a'));
  Limits limits;
  limits.max_file_bytes = 50;
  EXPECT_EQ(code(call("edit", R"({"path": "big", "old_string": "a", "new_string": "b"})", limits)), "too_large");
  EXPECT_EQ(code(call("edit", R"({"path": "nope", "old_string": "a", "new_string": "b"})")), "not_found");
}

// ---- glob ----

TEST_F(ToolsTest, GlobListsMatchesNewestFirst) {
  put(home_ / "src/a.cpp", "");
  put(home_ / "src/deep/b.cpp", "");
  put(home_ / "c.cpp", "");
  put(home_ / "src/readme.md", "");
  set_mtime(home_ / "src/a.cpp", 1000);
  set_mtime(home_ / "src/deep/b.cpp", 3000);
  set_mtime(home_ / "c.cpp", 2000);
  ToolResult r = call("glob", R"({"pattern": "**/*.cpp"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.output, "/work/src/deep/b.cpp\n/work/c.cpp\n/work/src/a.cpp\n");
  ToolResult sub = call("glob", R"({"pattern": "*.cpp", "path": "src"})");
  EXPECT_EQ(sub.output, "/work/src/a.cpp\n");
  ToolResult none = call("glob", R"({"pattern": "*.rs"})");
  ASSERT_TRUE(none.ok);
  EXPECT_EQ(none.output, "no files match '*.rs' under '/work'\n");
}

TEST_F(ToolsTest, GlobIsBoundedAndSkipsGitAndIgnoredFiles) {
  for (int i = 0; i < 30; ++i) {
    put(home_ / fmt::format("f{:02}.txt", i), "");
    set_mtime(home_ / fmt::format("f{:02}.txt", i), 1000 + i);
  }
  put(home_ / ".git/HEAD.txt", "");
  put(home_ / "build/out.txt", "");
  put(home_ / ".gitignore", "build/\n");
  Limits limits;
  limits.glob_max_results = 5;
  ToolResult r = call("glob", R"({"pattern": "**/*.txt"})", limits);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.output, "/work/f29.txt\n/work/f28.txt\n/work/f27.txt\n/work/f26.txt\n/work/f25.txt\n"
                      "… 25 more match(es); the newest 5 are shown\n");
}

// ---- grep ----

TEST_F(ToolsTest, GrepAnswersPathLineText) {
  put(home_ / "src/a.cpp", "int main() {\n  return 0;\n}\n");
  put(home_ / "src/b.hpp", "// RETURN here\n");
  put(rw_ / "c.cpp", "no\nreturn 1;\n");
  ToolResult r = call("grep", R"({"pattern": "return \\d"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.output, "/work/src/a.cpp:2:  return 0;\n");
  ToolResult ci = call("grep", R"({"pattern": "^.*return", "case_insensitive": true, "path": "src"})");
  EXPECT_EQ(ci.output, "/work/src/a.cpp:2:  return 0;\n/work/src/b.hpp:1:// RETURN here\n");
  ToolResult filtered = call("grep", R"({"pattern": "return", "case_insensitive": true, "glob": "*.hpp"})");
  EXPECT_EQ(filtered.output, "/work/src/b.hpp:1:// RETURN here\n");
  ToolResult ws = call("grep", R"({"pattern": "return", "path": "/workspaces/rw/c.cpp"})");
  EXPECT_EQ(ws.output, "/workspaces/rw/c.cpp:2:return 1;\n");
  ToolResult none = call("grep", R"({"pattern": "nothing-like-this"})");
  ASSERT_TRUE(none.ok);
  EXPECT_EQ(none.output, "no matches\n");
}

TEST_F(ToolsTest, GrepCountsLinesExactlyAcrossChunks) {
  std::string text;  // lines of 1..40 bytes, ~4 MB: several 1 MiB reads
  for (int i = 1; i <= 200000; ++i) text += fmt::format("{}{}\n", std::string(static_cast<std::size_t>(i % 31), '.'), i);
  put(home_ / "lines.txt", text);
  EXPECT_EQ(call("grep", R"({"pattern": "^\\.*(7|123457|199999)$"})").output,
            "/work/lines.txt:7:......." "7\n/work/lines.txt:123457:" + std::string(123457 % 31, '.') +
                "123457\n/work/lines.txt:199999:" + std::string(199999 % 31, '.') + "199999\n");
}

TEST_F(ToolsTest, GrepMatchesNeverSpanLines) {
  put(home_ / "a.txt", "foo\nbar\nfoo bar\n");
  EXPECT_EQ(call("grep", R"({"pattern": "foo\\sbar"})").output, "/work/a.txt:3:foo bar\n");
  EXPECT_EQ(call("grep", R"({"pattern": "foo[^x]bar"})").output, "/work/a.txt:3:foo bar\n");
  EXPECT_EQ(call("grep", R"({"pattern": "^bar$"})").output, "/work/a.txt:2:bar\n");
  EXPECT_EQ(call("grep", R"({"pattern": "foo\\nbar"})").output, "no matches\n");
  EXPECT_EQ(call("grep", R"({"pattern": "(?s)foo.bar"})").output, "/work/a.txt:3:foo bar\n");
}

TEST_F(ToolsTest, GrepHonoursGitignoreAndSkipsGitAndBinaries) {
  put(home_ / ".gitignore", "*.log\n!keep.log\n/top/\nnested/**/gen\n");
  put(home_ / "a.log", "needle\n");
  put(home_ / "keep.log", "needle\n");
  put(home_ / "top/x.txt", "needle\n");
  put(home_ / "sub/top/x.txt", "needle\n");  // /top/ is anchored
  put(home_ / "nested/a/b/gen", "needle\n");
  put(home_ / "sub/.gitignore", "local.txt\n");
  put(home_ / "sub/local.txt", "needle\n");
  put(home_ / "local.txt", "needle\n");  // sub's rules stay in sub
  put(home_ / ".git/config", "needle\n");
  put(home_ / "bin.dat", std::string("needle\0", 7));
  ToolResult r = call("grep", R"({"pattern": "needle"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output, "/work/keep.log:1:needle\n/work/local.txt:1:needle\n/work/sub/top/x.txt:1:needle\n");
}

TEST_F(ToolsTest, GrepBoundsMatchesAndLineLength) {
  std::string many;
  for (int i = 0; i < 50; ++i) many += "hit " + std::string(2000, 'z') + "\n";
  put(home_ / "many.txt", many);
  Limits limits;
  limits.grep_max_matches = 10;
  limits.grep_max_line_bytes = 20;
  ToolResult r = call("grep", R"({"pattern": "hit"})", limits);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.truncated);
  std::string expected;
  for (int i = 1; i <= 10; ++i) expected += fmt::format("/work/many.txt:{}:hit {} …\n", i, std::string(16, 'z'));
  expected += "… the search stopped after 10 matches; results may be incomplete\n";
  EXPECT_EQ(r.output, expected);
}

TEST_F(ToolsTest, GrepPathologicalPatternsStayWithinTheirBound) {
  put(home_ / "aaaa.txt", std::string(1 << 20, 'a') + "\n");
  ToolResult nested = with_deadline([&] { return call("grep", R"({"pattern": "(a*)*b"})"); });
  ASSERT_TRUE(nested.ok);  // RE2: linear time, no backtracking
  EXPECT_EQ(nested.output, "no matches\n");
  ToolResult huge = with_deadline([&] {
    boost::json::object a;
    a["pattern"] = std::string(1 << 20, 'a');  // a 1 MB pattern
    return run("grep", *scope_, a);
  });
  EXPECT_EQ(code(huge), "invalid_arguments");
  ToolResult blowup = with_deadline([&] { return call("grep", R"({"pattern": "((a{100}){100}){100}"})"); });
  EXPECT_EQ(code(blowup), "invalid_arguments");  // above RE2's repeat/max_mem bounds
  ToolResult broken = call("grep", R"({"pattern": "(unclosed"})");
  EXPECT_EQ(code(broken), "invalid_arguments");
  EXPECT_NE(broken.error->message.find("RE2"), std::string::npos);
}

TEST_F(ToolsTest, EveryToolBoundsItsOutput) {
  std::string lines;
  for (int i = 0; i < 5000; ++i) lines += fmt::format("match line {}\n", i);
  put(home_ / "big.txt", lines);
  Limits limits;
  limits.max_output_bytes = 1000;
  ToolResult g = call("grep", R"({"pattern": "match"})", limits);
  ASSERT_TRUE(g.ok);
  EXPECT_TRUE(g.truncated);
  EXPECT_LE(g.output.size(), 1000u + 100);
  ToolResult rd = call("read", R"({"path": "big.txt"})", limits);
  EXPECT_TRUE(rd.truncated);
  EXPECT_LE(rd.output.size(), 1000u + 200);
}

}  // namespace
}  // namespace yoi::tools::test
