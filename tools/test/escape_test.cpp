// Every way out of the worker's view (ARCHITECTURE §13), through the tools
// themselves: each must fail with a typed error, reveal no outside content
// and no host path, and change nothing.
#include <fcntl.h>
#include <stdio.h>

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "support.hpp"

namespace yoi::tools::test {
namespace {

using EscapeTest = ToolsTest;

const char* kSecrets[] = {"OUTSIDE-SECRET", "SIBLING-SECRET", "TOKEN-SECRET", "root:"};

void expect_no_secret(const ToolResult& r, std::string_view what) {
  for (const char* s : kSecrets) {
    EXPECT_EQ(r.output.find(s), std::string::npos) << what << " leaked " << s;
    if (r.error) {
      EXPECT_EQ(r.error->message.find(s), std::string::npos) << what;
    }
  }
}

boost::json::object with_path(std::string_view tool, const std::string& path) {
  boost::json::object a;
  a["path"] = path;
  if (tool == "write") a["content"] = "PWNED";
  if (tool == "edit") a["old_string"] = "SECRET", a["new_string"] = "PWNED";
  if (tool == "glob") a["pattern"] = "**";
  if (tool == "grep") a["pattern"] = ".";
  return a;
}

TEST_F(EscapeTest, PathsOutsideTheViewAreRefusedByEveryTool) {
  fs::create_symlink("/etc", rw_ / "etc");                   // a workspace link to /etc
  fs::create_symlink(sibling_, home_ / "sibling");           // to a sibling worker's home
  fs::create_symlink("../../token", home_ / "token");        // to the runtime's token file
  fs::create_symlink("../../../outside", home_ / "rel-out");  // relative, out of the root
  const std::string paths[] = {
      "../outside/secret.txt", "../../token", "/etc/passwd", home_.string() + "/../w2/secret.txt",
      (sibling_ / "secret.txt").string(), (outside_ / "secret.txt").string(), "/workspaces/rw/etc/passwd",
      "/workspaces/rw/etc", "/work/sibling/secret.txt", "/work/sibling", "/work/token", "/work/rel-out/secret.txt",
      "/work/rel-out", "/workspaces/nope/x", std::string("a\0b", 3)};
  for (const char* tool : {"read", "write", "edit", "glob", "grep"}) {
    for (const std::string& p : paths) {
      // write replaces a symlink itself (never its target): covered by
      // WriteReplacesASymlinkRatherThanWritingThroughIt.
      const bool bare_link = p == "/workspaces/rw/etc" || p == "/work/sibling" || p == "/work/token" ||
                             p == "/work/rel-out";
      if (tool == std::string_view("write") && bare_link) continue;
      ToolResult r = run(tool, *scope_, with_path(tool, p));
      std::string what = fmt::format("{} {}", tool, p);
      ASSERT_FALSE(r.ok) << what << " answered: " << r.output;
      std::string c = code(r);
      EXPECT_TRUE(c == "path_outside_scope" || (p.find('\0') != std::string::npos && c == "invalid_arguments"))
          << what << ": " << c << " " << r.error->message;
      expect_no_secret(r, what);
      expect_no_host_path(r);
    }
  }
  EXPECT_EQ(slurp(outside_ / "secret.txt"), "OUTSIDE-SECRET\n");
  EXPECT_EQ(slurp(sibling_ / "secret.txt"), "SIBLING-SECRET\n");
  EXPECT_EQ(slurp(base_ / "data" / "token"), "TOKEN-SECRET\n");
  EXPECT_FALSE(fs::exists(outside_ / "PWNED"));
}

TEST_F(EscapeTest, WalksNeverFollowSymlinksOutOfTheRoot) {
  put(home_ / "in.txt", "SECRET inside\n");
  fs::create_symlink(outside_, home_ / "out-dir");
  fs::create_symlink(outside_ / "secret.txt", home_ / "out-file.txt");
  fs::create_symlink("/etc", home_ / "etc");
  ToolResult g = call("grep", R"({"pattern": "SECRET|root"})");
  ASSERT_TRUE(g.ok);
  EXPECT_EQ(g.output, "/work/in.txt:1:SECRET inside\n");
  ToolResult gl = call("glob", R"({"pattern": "**"})");
  ASSERT_TRUE(gl.ok);
  EXPECT_EQ(gl.output, "/work/in.txt\n");
}

TEST_F(EscapeTest, ReadOnlyMountsRefuseEveryWrite) {
  EXPECT_EQ(code(call("write", R"({"path": "/workspaces/ro/readme.md", "content": "x"})")), "read_only");
  EXPECT_EQ(code(call("write", R"({"path": "/workspaces/ro/new/dir/f", "content": "x"})")), "read_only");
  EXPECT_EQ(code(call("edit", R"({"path": "/workspaces/ro/readme.md", "old_string": "read", "new_string": "w"})")),
            "read_only");
  EXPECT_EQ(slurp(ro_ / "readme.md"), "read only\n");
  EXPECT_FALSE(fs::exists(ro_ / "new"));
  // A writable path that leads into the read-only mount by a symlink is still
  // beneath the writable root only: the link's target is outside it.
  fs::create_symlink(ro_, rw_ / "to-ro");
  EXPECT_EQ(code(call("write", R"({"path": "/workspaces/rw/to-ro/readme.md", "content": "x"})")),
            "path_outside_scope");
  EXPECT_EQ(slurp(ro_ / "readme.md"), "read only\n");
  // Reading the read-only mount works.
  EXPECT_TRUE(call("read", R"({"path": "/workspaces/ro/readme.md"})").ok);
}

// A directory and a symlink to the outside swap places (renameat2
// RENAME_EXCHANGE) as fast as they can while the tools run in a loop through
// that name. No call may ever see the outside file or write there.
TEST_F(EscapeTest, SymlinkSwappedInDuringACallNeverEscapes) {
  put(home_ / "swap" / "secret.txt", "inside\n");
  fs::create_symlink(outside_, home_ / "other");
  std::atomic<bool> done{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    std::string a = (home_ / "swap").string(), b = (home_ / "other").string();
    while (!done) {
      if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) ++swaps;
    }
  });
  long reads_ok = 0, refused = 0;
  with_deadline([&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
      ToolResult r = call("read", R"({"path": "swap/secret.txt"})");
      if (r.ok) {
        ++reads_ok;
        EXPECT_EQ(r.output, "     1\tinside\n");
      } else {
        ++refused;
        EXPECT_TRUE(code(r) == "path_outside_scope" || code(r) == "not_found") << code(r);
      }
      expect_no_secret(r, "read");
      ToolResult g = call("grep", R"({"pattern": "SECRET", "path": "swap"})");
      expect_no_secret(g, "grep");
      ToolResult w = call("write", R"({"path": "swap/new.txt", "content": "PWNED"})");
      expect_no_secret(w, "write");
      ToolResult e = call("edit", R"({"path": "swap/secret.txt", "old_string": "SECRET", "new_string": "PWNED"})");
      EXPECT_NE(code(e), "ok");
    }
    return 0;
  });
  done = true;
  swapper.join();
  EXPECT_GT(swaps.load(), 100);
  EXPECT_GT(reads_ok + refused, 10);
  EXPECT_EQ(slurp(outside_ / "secret.txt"), "OUTSIDE-SECRET\n");
  EXPECT_FALSE(fs::exists(outside_ / "new.txt"));
  std::cout << "swaps " << swaps << ", reads ok " << reads_ok << ", refused " << refused << "\n";
}

}  // namespace
}  // namespace yoi::tools::test
