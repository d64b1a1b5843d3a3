#pragma once
// A yoi-runtime (fs store, bearer token) and a yoi-server that has it as its
// only runtime ("edge"), as real processes — on loopback, or each inside a
// network namespace (NetLab::in_runtime / in_server prefixes). Canary
// secrets are planted in the runtime token, the access token and a
// provider-key variable of an (unused) openai profile.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_client.hpp"
#include "yoi/testing/process.hpp"

namespace yoi::reliability {

using namespace std::chrono_literals;

struct StackOptions {
  std::string runtime_host = "127.0.0.1";
  std::string server_host = "127.0.0.1";
  std::vector<std::string> runtime_prefix;  // e.g. {"ip", "netns", "exec", NS}
  std::vector<std::string> server_prefix;
  int timeout_ms = 2000;          // yoi-server → runtime: whole request
  int connect_timeout_ms = 2000;  // ... and connect
  int probe_interval_ms = 1000;
  int echo_chunk_delay_ms = 10;
  int heartbeat_ms = 1000;  // runtime's WS heartbeat
  int header_timeout_ms = 0;  // both servers' [limits] header_timeout_ms; 0: their default
  std::string runtime_log_level = "info";
  std::string server_log_level = "info";
};

// Distinctive values that must never appear in a log line, metric, body or
// frame (ARCHITECTURE §8).
struct Canaries {
  std::string runtime_token = "canary-rt-token-7f3a9c1e5b";
  std::string access_token = "canary-access-token-4d8e2b6a0c";
  std::string provider_key = "sk-canary-provider-key-91c0de55aa";
  std::string provider_env = "YOI_REL_CANARY_PROVIDER_KEY";
};

class Stack {
 public:
  explicit Stack(StackOptions o = {});
  ~Stack();

  // Starts (or restarts, on the same port and data dir) the runtime.
  ::testing::AssertionResult start_runtime();
  ::testing::AssertionResult start_server();
  void kill_runtime();  // SIGKILL, reap
  void kill_server();

  testing::Process* runtime() { return rt_.get(); }
  testing::Process* server() { return srv_.get(); }
  std::uint16_t runtime_port() const { return rt_port_; }
  std::uint16_t server_port() const { return srv_port_; }
  // The runtime's base URL as yoi-server knows it (a secret of the server).
  std::string runtime_url() const;
  const Canaries& canaries() const { return canaries_; }
  net::test::Fields auth() const { return {{"Authorization", "Bearer " + canaries_.access_token}}; }
  net::test::Fields runtime_auth() const { return {{"Authorization", "Bearer " + canaries_.runtime_token}}; }
  const std::filesystem::path& dir() const { return dir_; }
  // Every stderr line both processes wrote so far (all incarnations).
  std::string logs() const;

 private:
  std::string limits() const;  // the [limits] table both config files get
  StackOptions o_;
  Canaries canaries_;
  std::filesystem::path dir_;
  std::unique_ptr<testing::Process> rt_, srv_;
  std::uint16_t rt_port_ = 0, srv_port_ = 0;
};

}  // namespace yoi::reliability
