#pragma once
// RuntimeServer: yoi-runtime's HTTP face. The REST command API and the
// WebSocket observation API of ARCHITECTURE §5-6 (docs/API.md), bearer auth,
// /healthz and /metrics, on top of a yoi::rt::Runtime. It re-implements no
// Worker semantics: every route is one call into the Runtime, encoded with
// yoi::rt::wire.
//
// Threading: the server, the Runtime and every handler share one io_context
// and run on its thread. Construct, start and shut down on that thread (or
// before it runs).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace boost::asio {
class io_context;
}
namespace yoi::rt {
class Runtime;
}

namespace yoi::runtime_server {

struct ServerSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8790;
  // Empty: no auth (only allowed on loopback; see check_listen_policy in host.hpp).
  Secret token;
  // Host names beyond the loopback ones (net/request_policy.hpp). Any
  // request carrying Origin is refused: this API is never for a browser.
  std::vector<std::string> allowed_hosts;
  std::chrono::milliseconds heartbeat_interval{15'000};
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t ws_max_message_bytes = 64 * 1024;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds ws_idle_timeout{60'000};
  std::chrono::milliseconds header_timeout{10'000};      // net::ServerOptions' fields of the same names
  std::chrono::milliseconds keep_alive_timeout{60'000};
  // Events pulled from the log per read while streaming (bounded batch).
  std::size_t stream_batch = 64;
};


class RuntimeServer {
 public:
  RuntimeServer(boost::asio::io_context& io, rt::Runtime& runtime, ServerSettings settings);
  ~RuntimeServer();
  RuntimeServer(const RuntimeServer&) = delete;
  RuntimeServer& operator=(const RuntimeServer&) = delete;

  // Binds and accepts (errors name the address, never the token).
  Result<void> start();
  std::uint16_t port() const;
  // Stop accepting, close streams with 1001, let requests finish within
  // `deadline`; `done` once every connection is gone.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);
  std::size_t open_streams() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace yoi::runtime_server
