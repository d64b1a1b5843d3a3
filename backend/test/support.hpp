#pragma once
// Test support for the backend: run the io_context until a callback has
// answered (with a deadline that fails the test), temp dirs, spawned
// processes (yoi_testing), and paths of the built binaries.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "yoi/error.hpp"
#include "yoi/testing/process.hpp"
#include "yoi/testing/run_until.hpp"

namespace yoi::backend::test {

using namespace std::chrono_literals;

// Runs `io` until `*done` or the deadline; false (and a test failure naming
// `what`) on timeout.
inline bool run_until(boost::asio::io_context& io, const bool& done, std::chrono::milliseconds deadline,
                      std::string_view what = "operation") {
  if (yoi::testing::run_until(io, [&] { return done; }, deadline)) return true;
  ADD_FAILURE() << what << " did not complete within " << deadline.count() << " ms";
  return false;
}

// Calls `start(callback)` and runs `io` until the callback ran.
template <class T, class F>
Result<T> await(boost::asio::io_context& io, F&& start, std::chrono::milliseconds deadline = 15s) {
  std::optional<Result<T>> out;
  bool done = false;
  start([&](Result<T> r) {
    out = std::move(r);
    done = true;
  });
  if (!run_until(io, done, deadline)) return fail(Code::internal, "test deadline");
  return std::move(*out);
}

struct TmpDir {
  std::filesystem::path path;
  TmpDir() {
    char tmpl[] = "/tmp/yoi-backend-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TmpDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    auto p = path / name;
    std::ofstream(p) << content;
    return p.string();
  }
};

std::string build_dir();
std::string runtime_binary();
std::string server_binary();

// A child process (yoi::testing::Process): ready line, stderr to a file, signals.
using Proc = yoi::testing::Process;

// A yoi-runtime child on 127.0.0.1:`port` (0: any) with `token`, an echo
// profile that streams one byte per `chunk_delay_ms`, and a memory store.
struct RuntimeProc {
  TmpDir dir;
  std::unique_ptr<Proc> proc;
  std::uint16_t port = 0;
  std::string token;
  int chunk_delay_ms = 20;
  std::string extra_toml;
  bool start(std::uint16_t want_port = 0);
  void kill();  // SIGKILL and reap
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

}  // namespace yoi::backend::test
