#include <fcntl.h>

#include "support.hpp"

namespace yoi::tools::test {
namespace {

using ScopeTest = ToolsTest;

std::string view_of(const Scope& s, std::string_view path, Access need = Access::read) {
  auto r = s.resolve(path, need);
  return r ? r->view_path : "error " + std::string(code_name(r.error().code));
}

TEST_F(ScopeTest, MapsRelativeAndViewPathsLexically) {
  EXPECT_EQ(view_of(*scope_, "a/b"), "/work/a/b");
  EXPECT_EQ(view_of(*scope_, "./a//b/"), "/work/a/b");
  EXPECT_EQ(view_of(*scope_, "/work"), "/work");
  EXPECT_EQ(view_of(*scope_, "/work/x/../y"), "/work/y");
  EXPECT_EQ(view_of(*scope_, "/../../work/z"), "/work/z");  // `..` stops at `/`
  EXPECT_EQ(view_of(*scope_, "/workspaces/ro/readme.md"), "/workspaces/ro/readme.md");
  EXPECT_EQ(view_of(*scope_, "/work/../workspaces/rw/a"), "/workspaces/rw/a");
}

TEST_F(ScopeTest, AnythingElseIsOutsideTheView) {
  for (std::string p : {"../etc/passwd", "/etc/passwd", "/", "/workspaces", "/workspaces/nope/x", "/workx",
                        "../../../token", "/work/../data/token"}) {
    auto r = scope_->resolve(p, Access::read);
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().code, ToolCode::path_outside_scope) << p;
  }
  auto host = scope_->resolve(home_.string() + "/x", Access::read);  // the home's host path
  ASSERT_FALSE(host);
  EXPECT_EQ(host.error().code, ToolCode::path_outside_scope);
}

TEST_F(ScopeTest, BadPathsAreInvalidArguments) {
  for (std::string p : {std::string(""), std::string("a\0b", 3), std::string(5000, 'a'), std::string("bad\xFF")}) {
    auto r = scope_->resolve(p, Access::read);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ToolCode::invalid_arguments);
  }
  EXPECT_TRUE(scope_->resolve(std::string(4096, 'a'), Access::read));  // exactly the limit
}

TEST_F(ScopeTest, WriteOnAReadOnlyMountIsReadOnly) {
  auto r = scope_->resolve("/workspaces/ro/new.txt", Access::write);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ToolCode::read_only);
  auto ok = scope_->resolve("/workspaces/ro/readme.md", Access::read);
  ASSERT_TRUE(ok);
  auto fd = scope_->open_at(*ok, O_WRONLY);  // even a resolved read path cannot be opened for writing
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ToolCode::read_only);
}

TEST_F(ScopeTest, SymlinksLeavingTheRootFailInTheKernel) {
  fs::create_symlink("/etc", rw_ / "etc");
  fs::create_symlink(sibling_, home_ / "sibling");
  fs::create_symlink("../../token", home_ / "token");
  fs::create_symlink("../outside/secret.txt", rw_ / "rel");
  for (std::string p : {"/workspaces/rw/etc/passwd", "/work/sibling/secret.txt", "/work/token",
                        "/workspaces/rw/rel"}) {
    auto r = scope_->resolve(p, Access::read);
    ASSERT_TRUE(r) << p;
    auto fd = scope_->open_at(*r, O_RDONLY);
    ASSERT_FALSE(fd) << p;
    EXPECT_EQ(fd.error().code, ToolCode::path_outside_scope) << p;
    EXPECT_EQ(fd.error().message.find(base_.string()), std::string::npos);
  }
}

TEST_F(ScopeTest, SymlinksInsideTheRootAreFollowed) {
  put(home_ / "real" / "f.txt", "inside\n");
  fs::create_symlink("real", home_ / "alias");
  auto r = scope_->resolve("alias/f.txt", Access::read);
  ASSERT_TRUE(r);
  EXPECT_TRUE(scope_->open_at(*r, O_RDONLY));
}

TEST_F(ScopeTest, OpenParentCreatesMissingDirectoriesBeneathTheRoot) {
  auto r = scope_->resolve("/workspaces/rw/a/b/c/file.txt", Access::write);
  ASSERT_TRUE(r);
  auto p = scope_->open_parent(*r, true);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->second, "file.txt");
  EXPECT_TRUE(fs::is_directory(rw_ / "a" / "b" / "c"));

  fs::create_symlink(outside_, home_ / "out");  // a parent through a link out of the root
  auto q = scope_->resolve("/work/out/new/file.txt", Access::write);
  ASSERT_TRUE(q);
  auto bad = scope_->open_parent(*q, true);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ToolCode::path_outside_scope);
  EXPECT_FALSE(fs::exists(outside_ / "new"));
}

TEST_F(ScopeTest, OpeningTheViewRejectsBadMounts) {
  EXPECT_FALSE(Scope::open(ViewSpec{home_.string(), {MountSpec{"a/b", rw_.string(), Access::read}}}));
  EXPECT_FALSE(Scope::open(ViewSpec{home_.string(), {MountSpec{"x", rw_.string(), Access::read},
                                                      MountSpec{"x", ro_.string(), Access::read}}}));
  auto missing = Scope::open(ViewSpec{(base_ / "nope").string(), {}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.find(base_.string()), std::string::npos);
}

}  // namespace
}  // namespace yoi::tools::test
