#pragma once
// An HTTP/1.1 + WebSocket server on Boost.Beast, C++20 coroutines, one io
// thread. Shared by yoi-runtime (/v1) and yoi-server (/api); each registers
// its own routes, auth filter and WebSocket handlers. Beast and Asio stay in
// the .cpp files: this header only forward-declares io_context.
//
// Threading: an HttpServer, its Router, every handler, every Respond and
// every WsStream call live on the io_context's thread. Nothing here is
// thread-safe; post to the io_context from other threads.
//
// Before auth and routing, every request and upgrade passes
// ServerOptions::policy (request_policy.hpp): 403 forbidden_host /
// forbidden_origin, 415 unsupported_media_type. No CORS header is ever sent.
//
// Errors: every error response is `{"error":{"code","message"}}` with the
// status from yoi::http_status(code) — unknown path 404 not_found, known path
// with another method 405 method_not_allowed (+ Allow), body over the limit
// 413 payload_too_large, headers over the limit 413 payload_too_large, a
// handler that never answers within the request deadline 500 internal.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/fwd.hpp>

#include "yoi/error.hpp"
#include "yoi/net/request_policy.hpp"
#include "yoi/secret.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::net {

class MetricsRegistry;

using Fields = std::vector<std::pair<std::string, std::string>>;

// One parsed request. Owned by the connection; a handler's reference stays
// valid until it calls its Respond (the connection waits for the answer).
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. /v1/workers?limit=5
  std::string path;    // percent-decoded path
  Fields query;        // percent-decoded query parameters, in order
  Fields headers;      // as received
  Fields params;       // path parameters matched from `{name}` segments
  std::string body;
  std::string remote;  // peer address, "ip:port"
  std::string route;   // the matched route pattern (for metrics), "" if none

  // Case-insensitive header lookup; the first occurrence.
  std::optional<std::string_view> header(std::string_view name) const;
  // First query parameter with this name.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // A path parameter ("" if the route has no such segment).
  std::string_view param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Fields headers;  // extra headers (Content-Type/Length are set from the fields above)

  // A JSON body; serialises `v`.
  static Response json(int status, const boost::json::value& v);
  static Response json(int status, const boost::json::object& v);
  // `{"error":{"code","message"}}` with status http_status(e.code).
  static Response error(const Error& e);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

// Answers a request. Call it exactly once, on the io thread, now or later. If
// every copy is destroyed without a call, the client gets 500 internal.
using Respond = std::function<void(Response)>;
using Handler = std::function<void(const Request&, Respond)>;

// ---- WebSocket ----

// How a WebSocket session ended.
struct WsCloseInfo {
  std::uint16_t code = 1006;  // the close code sent or received; 1006 when the socket just died
  bool by_client = false;     // the client closed (or vanished) first
};

// A server-side WebSocket the handler feeds. The writer *pulls*: whenever no
// frame is in flight it calls the source for the next text frame, so at most
// one frame per client is ever buffered by this layer and a slow client
// simply gets pulled from less often. When the source has nothing it returns
// nullopt; the producer calls wake() once it has more.
class WsStream {
 public:
  virtual ~WsStream() = default;

  // `idle` is true when the writer has been idle for the idle interval (see
  // set_idle_interval): return a heartbeat then, or nullopt. The frame
  // returned need only stay valid until the source returns to the writer,
  // which copies it into its batch at once: a producer hands out a frame it
  // keeps (the observation proxy's ring) without a copy of its own.
  using Source = std::function<std::optional<std::string_view>(bool idle)>;

  // Install the source; the writer starts pulling at once.
  virtual void set_source(Source source) = 0;
  // New data may be available: pull again when the writer is free, once the
  // handler that called wake() has returned (a producer appending many
  // events in one handler gets them out as one batch).
  virtual void wake() = 0;
  // New data, and the producer's burst is over (it knows: the observation
  // proxy at its upstream's idle()): a free writer pulls and writes now,
  // without the extra turn of the io loop that wake() takes.
  virtual void flush() = 0;
  // After this long without a frame written, pull(idle = true); up to a
  // clock tick (1-10 ms) sooner (ws_session.cpp: coarse_now). Zero: never.
  virtual void set_idle_interval(std::chrono::milliseconds interval) = 0;
  // Every text or binary message the client sends (the read loop always runs,
  // so control frames, pings and the client's close are handled).
  virtual void on_message(std::function<void(std::string_view)> fn) = 0;
  // Runs once when the session ends, whichever side ends it. The stream drops
  // its source and callbacks afterwards (breaking reference cycles).
  virtual void on_close(std::function<void(WsCloseInfo)> fn) = 0;
  // Close with `code` once the frame in flight (if any) is written; frames
  // not yet pulled are not sent. Idempotent.
  virtual void close(std::uint16_t code, std::string reason = {}) = 0;
  virtual bool is_open() const = 0;
};

// A WebSocket route decides synchronously: refuse with a plain HTTP response
// (401, 404, ...) or accept; on_open runs once the handshake succeeded.
struct WsAccept {
  std::function<void(std::shared_ptr<WsStream>)> on_open;
  // Sec-WebSocket-Protocol to select in the handshake (one the client
  // offered); empty: none.
  std::string subprotocol;
};
using WsDecision = std::variant<Response, WsAccept>;
using WsHandler = std::function<WsDecision(const Request&)>;

// ---- routing ----

struct RouteOptions {
  bool auth = true;  // run the server's auth filter first
};

// Method + path pattern → handler. Patterns are literal segments and `{name}`
// segments that match one non-empty segment ("/v1/workers/{id}/input").
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler, RouteOptions opts = {});
  // GET + Upgrade: websocket on this pattern.
  void websocket(std::string pattern, WsHandler handler, RouteOptions opts = {});

  struct Match;
  // Finds the route for `method` + `path` (the raw, percent-encoded path:
  // split on '/' first, then each segment decoded, so an encoded '/' never
  // changes the route); fills params (decoded). not_found /
  // method_not_allowed (with the allowed methods in *allow) otherwise.
  Result<const Match*> match(std::string_view method, std::string_view path, Fields& params,
                             std::string* allow = nullptr) const;

  struct Match {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    WsHandler ws;
    RouteOptions opts;
    // Compiled once by add(): per segment, the name of a `{name}` segment,
    // empty for a literal one.
    std::vector<std::string> param_names;
    std::size_t param_count = 0;  // of non-empty param_names
  };

 private:
  void insert(Match m);

  std::vector<Match> routes_;
  // Indices into routes_ by segment count, each list in route order: a path
  // only ever matches patterns with as many segments as it has.
  std::vector<std::vector<std::size_t>> by_count_;
};

// What both servers route the same way.
// GET /healthz → 200 {"status":"ok"}, without auth (for probes).
void add_healthz(Router& r);
// GET /metrics → the registry in Prometheus text format (empty without one).
void add_metrics(Router& r, MetricsRegistry* metrics);
// The bearer check behind ServerOptions::auth: nothing when `token` is empty
// (auth off) or the request carries "Authorization: Bearer <token>" (the
// scheme is case-insensitive, RFC 9110 §11.1; the token is compared in
// constant time); unauthorized otherwise, never naming the token.
std::optional<Error> check_bearer(const Request& req, const Secret& token);

// ---- the server ----

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the OS picks; see HttpServer::port()
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds keep_alive_timeout{60'000};  // idle, before a request's first byte
  std::chrono::milliseconds header_timeout{10'000};      // first byte → end of the header (slowloris)
  std::chrono::milliseconds read_timeout{30'000};        // the body, after the header; each response write
  std::chrono::milliseconds request_deadline{30'000};   // handler must answer within this
  std::size_t max_connections = 10'000;
  // WebSocket
  std::size_t ws_max_message_bytes = 64 * 1024;  // client → server
  std::chrono::milliseconds ws_idle_timeout{60'000};  // pings at half; close if nothing heard
  std::chrono::milliseconds ws_close_timeout{3'000};  // a close we start waits this long for the peer's
  std::string server_name = "yoi";
  // Host, Origin and media-type checks (request_policy.hpp), before auth and
  // routing, for every request and every WebSocket upgrade.
  RequestPolicy policy;
  // Auth filter for routes with opts.auth (and for unmatched paths). Return an
  // Error (usually unauthorized) to refuse.
  std::function<std::optional<Error>(const Request&)> auth;
  // Optional: record requests/latency/open streams under `metrics_prefix`.
  MetricsRegistry* metrics = nullptr;
  std::string metrics_prefix = "yoi_http";
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Router router, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. config_invalid for a policy no client could
  // pass (check_policy), invalid_request for a bad host, internal
  // naming the errno text for a bind failure (e.g. address in use).
  Result<void> start();
  std::uint16_t port() const;
  const std::string& host() const;

  // Graceful shutdown: stop accepting; close every WebSocket with 1001; let
  // requests in flight finish (their connections then close); after
  // `deadline` force-close whatever is left. `done` runs on the io thread once
  // every connection is gone.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

  std::size_t open_connections() const;
  std::size_t open_websockets() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// "host:port" → pair; IPv6 as "[::1]:8080". invalid_request on malformed.
Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view s);
// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace yoi::net
