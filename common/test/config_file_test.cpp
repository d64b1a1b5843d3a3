// The config idiom both binaries share (config_file.cpp).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "yoi/config_file.hpp"

namespace yoi::config {
namespace {

struct Tmp {
  std::filesystem::path dir;
  Tmp() {
    char tmpl[] = "/tmp/yoi-config-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Tmp() { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name, const std::string& content) const {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  }
};

TEST(ConfigFile, SettersApplyKnownKeysAndNameUnknownOnesWithTheLine) {
  File file("/etc/yoi/s.toml");
  auto t = parse("[t]\na = \"x\"\nn = 5\nd = \"rel/dir\"\n", file);
  ASSERT_TRUE(t) << t.error().message;
  std::string a, d;
  std::size_t n = 0;
  Setters s{{"a", string(a)}, {"n", count(n, 1, 9)}, {"d", path(d, file)}};
  ASSERT_TRUE(apply(file, *(*t)["t"].as_table(), "t", s));
  EXPECT_EQ(a, "x");
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(d, "/etc/yoi/rel/dir");

  auto bad = parse("[t]\na = \"x\"\nzz = 1\n", file);
  auto r = apply(file, *(*bad)["t"].as_table(), "t", s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::config_invalid);
  EXPECT_EQ(r.error().message, "/etc/yoi/s.toml:3: 't.zz' is not a known key");
  auto range = parse("[t]\nn = 10\n", file);
  EXPECT_EQ(apply(file, *(*range)["t"].as_table(), "t", s).error().message,
            "/etc/yoi/s.toml:2: 't.n' must be between 1 and 9");
  auto syntax = parse("a = [\n", file);
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().message.rfind("/etc/yoi/s.toml:", 0), 0u) << syntax.error().message;
}

TEST(ConfigFile, AbsolutePathsAndFilesWithoutAFolderStayAsWritten) {
  EXPECT_EQ(File("/etc/yoi/s.toml").resolve("/abs/x"), "/abs/x");
  EXPECT_EQ(File("s.toml").resolve("x.token"), "x.token");
  EXPECT_EQ(File("conf/s.toml").resolve("x.token"), "conf/x.token");
}

TEST(ConfigFile, TokenFilesAreTrimmedBoundedAndNeverQuoted) {
  Tmp tmp;
  auto ok = read_token_file(tmp.file("t", "\n  s3cret-token \r\n"), "runtime.token_file");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->expose(), "s3cret-token");

  auto empty = read_token_file(tmp.file("e", " \n\t"), "runtime.token_file");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("is empty"), std::string::npos);
  EXPECT_NE(empty.error().message.find((tmp.dir / "e").string()), std::string::npos) << "names the file";

  std::string big(5000, 'k');
  big.replace(0, 9, "CANARY-42");
  auto large = read_token_file(tmp.file("big", big), "x");
  ASSERT_FALSE(large);
  EXPECT_NE(large.error().message.find("larger than 4096 bytes"), std::string::npos);
  EXPECT_EQ(large.error().message.find("CANARY-42"), std::string::npos) << "never the content";

  auto missing = read_token_file((tmp.dir / "none").string(), "access_token_file");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::config_invalid);
  EXPECT_NE(missing.error().message.find("access_token_file"), std::string::npos);
}

// Issue 19: the access token (and the cursor key) made once: 256 random
// bits as hex, mode 0600, read back on the next call, never replaced.
TEST(ConfigFile, SecretFileIsMadeOnceWithMode0600AndThenReused) {
  Tmp t;
  const auto path = (t.dir / "access-token").string();
  bool created = false;
  auto a = secret_file(path, "the access token file", &created);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(created);
  EXPECT_EQ(a->expose().size(), 64u);
  EXPECT_EQ(a->expose().find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = secret_file(path, "the access token file", &created);
  ASSERT_TRUE(b);
  EXPECT_FALSE(created);
  EXPECT_EQ(b->expose(), a->expose());
  EXPECT_NE(secret_file((t.dir / "other").string(), "x")->expose(), a->expose());
  std::size_t files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(t.dir)) ++files;
  EXPECT_EQ(files, 2u) << "no temporary file left behind";
  auto nowhere = secret_file((t.dir / "no-such-dir" / "f").string(), "the access token file");
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().code, Code::store_io);
}

}  // namespace
}  // namespace yoi::config
