#pragma once
// In-process yoi-runtime for tests: a Runtime and a RuntimeServer on their
// own io thread, listening on 127.0.0.1:0. The test thread is the client.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "yoi/runtime/types.hpp"
#include "yoi/secret.hpp"
#include "yoi/engines/engine.hpp"

namespace yoi::runtime_server::test {

struct HarnessOptions {
  std::string token = "test-token";
  std::chrono::milliseconds heartbeat{15'000};
  rt::Limits limits;
  std::chrono::milliseconds echo_delay{0};
  std::size_t echo_chunk_bytes = 8;
  std::string fs_dir;  // non-empty: fs store (fsync none) in this directory
  std::size_t max_body_bytes = 1 << 20;
};

class Harness {
 public:
  explicit Harness(HarnessOptions opts = {});
  ~Harness();
  std::uint16_t port() const;
  // Runs fn on the io thread and waits for it (10 s deadline).
  void on_io(std::function<void()> fn);
  std::string auth() const { return "Bearer " + token_; }
  std::size_t open_streams();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string token_;
};

// Resident set size of this process in bytes (/proc/self/statm).
std::size_t rss_bytes();

}  // namespace yoi::runtime_server::test
