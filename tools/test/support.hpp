#pragma once
// Test support: a real temporary tree with a worker's home, a writable and a
// read-only workspace, a sibling worker's home and an "outside" directory
// with a secret, and the Scope over them.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include <boost/json/parse.hpp>

#include "yoi/tools/scope.hpp"
#include "yoi/tools/tools.hpp"

namespace yoi::tools::test {

namespace fs = std::filesystem;

inline void put(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline boost::json::object args(std::string_view json) { return boost::json::parse(json).as_object(); }

// Runs `f` on a thread and fails the test if it takes longer than `deadline`.
template <class F>
auto with_deadline(F f, std::chrono::seconds deadline = std::chrono::seconds(30)) {
  auto fut = std::async(std::launch::async, std::move(f));
  if (fut.wait_for(deadline) != std::future_status::ready) {
    ADD_FAILURE() << "deadline of " << deadline.count() << " s passed";
    std::abort();  // the task cannot be cancelled; a hang must not pass
  }
  return fut.get();
}

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "yoi-tools-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    home_ = base_ / "data" / "homes" / "w1";
    sibling_ = base_ / "data" / "homes" / "w2";
    rw_ = base_ / "ws-rw";
    ro_ = base_ / "ws-ro";
    outside_ = base_ / "outside";
    for (const auto& d : {home_, sibling_, rw_, ro_, outside_}) fs::create_directories(d);
    put(outside_ / "secret.txt", "OUTSIDE-SECRET\n");
    put(sibling_ / "secret.txt", "SIBLING-SECRET\n");
    put(base_ / "data" / "token", "TOKEN-SECRET\n");
    put(ro_ / "readme.md", "read only\n");
    auto s = Scope::open(ViewSpec{home_.string(), {MountSpec{"rw", rw_.string(), Access::write},
                                                    MountSpec{"ro", ro_.string(), Access::read}}});
    ASSERT_TRUE(s) << s.error().message;
    scope_.emplace(std::move(*s));
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(base_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(base_, ec);
  }

  ToolResult call(std::string_view tool, std::string_view json, const Limits& limits = {}) {
    return run(tool, *scope_, args(json), limits);
  }
  // The error code's wire name, or "ok".
  static std::string code(const ToolResult& r) {
    return r.error ? std::string(code_name(r.error->code)) : (r.ok ? "ok" : "no error and not ok");
  }
  // No message, output or error may show a host path.
  void expect_no_host_path(const ToolResult& r) {
    EXPECT_EQ(r.output.find(base_.string()), std::string::npos) << r.output;
    if (r.error) {
      EXPECT_EQ(r.error->message.find(base_.string()), std::string::npos) << r.error->message;
    }
  }

  fs::path base_, home_, sibling_, rw_, ro_, outside_;
  std::optional<Scope> scope_;
};

}  // namespace yoi::tools::test
