#pragma once
// Blocking HTTP/1.1 and WebSocket clients for the yoi CLI, on Boost.Beast
// (kept in transport.cpp). A CLI may block; it may not hang: every call has a
// deadline covering DNS, connect, write and read. Each object owns a private
// io_context and is used from one thread.
//
// The access token is a Secret: it goes into the Authorization header (and,
// for WebSockets, the `yoi-token.<token>` subprotocol the console also uses)
// and nowhere else — never into an error text.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace yoi::cli {

// Where yoi-server is: http://host[:port][/base]. `display` is what messages
// show (the URL the user gave, which is theirs to see).
struct Endpoint {
  std::string host;
  std::string port = "80";
  std::string base_path;  // without a trailing '/'
  std::string display;
};
// invalid_request for anything but a plain http:// URL; HOST:PORT without a
// scheme is read as http://HOST:PORT.
Result<Endpoint> parse_server_url(std::string_view url);

// A transport failure: no HTTP answer at all. Exit code 3 territory.
struct TransportFailure {
  enum Kind { refused, unreachable, timeout, protocol, too_large } kind = unreachable;
  std::string what;  // short human text ("connection refused", "timed out reading the reply")
};

struct HttpReply {
  int status = 0;
  std::string body;
};

using HttpOutcome = tl::expected<HttpReply, TransportFailure>;

// One request per connection (a CLI makes few); `timeout` bounds each call.
class HttpClient {
 public:
  HttpClient(Endpoint ep, Secret token, std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is path + query, appended to the endpoint's base path. A body,
  // when given, is sent as application/json.
  HttpOutcome request(std::string_view method, std::string_view target, std::string_view body = {});

  const Endpoint& endpoint() const { return ep_; }
  const Secret& token() const { return token_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  Endpoint ep_;
  Secret token_;
  std::chrono::milliseconds timeout_;
};

// Why a WebSocket could not be opened: a transport failure, or an HTTP
// answer other than 101 (`status` and `body` hold it, e.g. a typed 404).
struct WsOpenFailure {
  TransportFailure transport;
  int status = 0;  // 0: no HTTP answer
  std::string body;
};

// A client WebSocket that reads in the background of next(): a read is always
// outstanding while the connection lives, keep-alive pings answer for us, and
// a connection silent for `idle_timeout` (no frame, no pong) counts as dead.
class WsConnection {
 public:
  static tl::expected<std::unique_ptr<WsConnection>, WsOpenFailure> open(
      const Endpoint& ep, const Secret& token, std::string_view target, std::chrono::milliseconds timeout,
      std::chrono::milliseconds idle_timeout = std::chrono::seconds(40));
  ~WsConnection();
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  enum class Next { message, timeout, closed };
  // Waits up to `wait` (zero: only what is already there) for the next text
  // message. `closed`: the peer closed or the connection failed; see
  // close_reason(). Once closed, always closed.
  Next next(std::string& out, std::chrono::milliseconds wait);
  const std::string& close_reason() const;
  // The socket, for a caller's poll(): readable means next() has work. The
  // connection's timers (pings, idle timeout) run only inside next(), so a
  // caller calls it at least every second or so even when nothing arrives.
  int native_handle();
  // Best-effort close handshake, bounded by `grace`.
  void close(std::chrono::milliseconds grace = std::chrono::milliseconds(500));

 private:
  struct Impl;
  explicit WsConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yoi::cli
