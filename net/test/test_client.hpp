#pragma once
// Test-only HTTP and WebSocket clients on Beast (blocking, with deadlines).
// Each client owns its own io_context and runs it only inside its calls, so
// tests stay single-threaded on the client side while the server under test
// runs on its own thread (or in its own process).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yoi::net::test {

using Fields = std::vector<std::pair<std::string, std::string>>;
using namespace std::chrono_literals;

struct HttpResult {
  int status = 0;  // 0: transport failure (see error)
  std::string body;
  Fields headers;
  std::string error;
  std::optional<std::string> header(std::string_view name) const;
};

// One keep-alive connection; reconnects when the server closed it.
class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port);
  ~HttpClient();
  HttpResult request(std::string_view method, std::string_view target, std::string body = {},
                     Fields headers = {}, std::chrono::milliseconds timeout = 10s);
  // Sends raw bytes on a fresh connection and reads one response.
  HttpResult raw(std::string bytes, std::chrono::milliseconds timeout = 10s);
  // Number of TCP connections opened so far (keep-alive checks).
  int connects() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct WsHandshake {
  bool ok = false;
  int status = 0;  // HTTP status of a refused upgrade
  std::string body;
  std::string error;
};

class WsClient {
 public:
  WsClient(std::string host, std::uint16_t port);
  WsClient(WsClient&&) noexcept;
  WsClient& operator=(WsClient&&) noexcept;
  ~WsClient();
  WsHandshake connect(std::string_view target, Fields headers = {}, std::chrono::milliseconds timeout = 10s);
  // The next text message; nullopt when the stream closed (closed() true) or
  // nothing arrived within `timeout` (the read stays pending for next time).
  std::optional<std::string> read(std::chrono::milliseconds timeout = 10s);
  bool send(std::string_view text, std::chrono::milliseconds timeout = 5s);
  // Sends a close frame and waits for the server's.
  void close(std::uint16_t code = 1000, std::chrono::milliseconds timeout = 5s);
  bool closed() const;
  std::uint16_t close_code() const;  // from the server's close frame (1006 if none)
  // Test control for slow clients: shrink the receive buffer before connect.
  void set_receive_buffer(int bytes);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace yoi::net::test
