#include "yoi/net/http_server.hpp"

#include <array>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/net/header_line.hpp"
#include "yoi/net/metrics.hpp"
#include "write_gate.hpp"

namespace yoi::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Completion handler for co_spawn: exceptions are logged, never swallowed.
auto log_exceptions(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("net: {} ended with an exception: {}", what, x.what());
    }
  };
}

}  // namespace

// ---- server internals ----

struct HttpConn;
struct WsSession;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, Router r, ServerOptions o)
      : io(io), router(std::move(r)), opts(std::move(o)), shutdown_timer(io) {}

  asio::io_context& io;
  Router router;
  ServerOptions opts;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  bool stopping = false;
  std::set<HttpConn*> conns;
  std::set<WsSession*> wss;
  std::function<void()> on_drained;
  asio::steady_timer shutdown_timer;

  Family<Counter>* m_requests = nullptr;
  Family<Histogram>* m_latency = nullptr;
  Gauge* m_ws_open = nullptr;
  Gauge* m_conns_open = nullptr;

  awaitable<void> accept_loop();
  void maybe_drained();
  void force_close_all();
  void record(const std::string& route, const std::string& method, int status, double seconds) {
    if (!m_requests) return;
    m_requests->with({route, method, std::to_string(status)}).inc();
    m_latency->with({route}).observe(seconds);
  }
  void update_gauges() {
    if (m_ws_open) m_ws_open->set(static_cast<double>(wss.size()));
    if (m_conns_open) m_conns_open->set(static_cast<double>(conns.size()));
  }
};

// Lingering close after an early 413: at most this long, this many bytes.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kLingerBytes = 16u << 20;

// A connection's first read of a request (before the header deadline).
constexpr std::size_t kFirstRead = 8192;

// The writer's batch: frames are pulled until this many bytes are ready.
constexpr std::size_t kBatchBytes = 64 * 1024;

// One unfragmented text frame as a server sends it (RFC 6455 §5.2: FIN, no
// RSV bits since no extension is negotiated, unmasked).
void append_text_frame(std::string& out, std::string_view payload) {
  const std::uint64_t n = payload.size();
  out += static_cast<char>(0x81);
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  out += payload;
}

// A WebSocket session: one reader coroutine (always reading, so pings,
// pongs and the client's close are processed) and one writer coroutine that
// pulls frames from the producer's source one at a time.
struct WsSession final : WsStream, std::enable_shared_from_this<WsSession> {
  WsSession(std::shared_ptr<HttpServer::Impl> s, beast::tcp_stream&& stream)
      : srv(std::move(s)), ws(std::move(stream)), wake_timer(srv->io), close_timer(srv->io) {
    srv->wss.insert(this);
    srv->update_gauges();
  }
  ~WsSession() override {
    if (srv->wss.erase(this)) {
      srv->update_gauges();
      srv->maybe_drained();
    }
  }

  void set_source(Source s) override {
    source = std::move(s);
    wake();
  }
  void wake() override {
    woken = true;
    wake_timer.cancel();
  }
  void set_idle_interval(std::chrono::milliseconds d) override {
    idle = d;
    wake_timer.cancel();  // re-arm with the new interval
  }
  void on_message(std::function<void(std::string_view)> fn) override { on_msg = std::move(fn); }
  void on_close(std::function<void(WsCloseInfo)> fn) override { on_close_fn = std::move(fn); }
  void close(std::uint16_t code, std::string reason) override {
    if (!open || close_req) return;
    close_req = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    wake();
  }
  bool is_open() const override { return open; }

  void force_close() {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
  }

  // The close handshake ran out of time, or the session is finished. Closing
  // the socket ends the operations waiting on it, but not the two that can
  // wait on each other inside Beast: our close holds the write lock and waits for the read
  // lock; the reader, failing on the peer's bad frame, holds the read lock
  // and waits for the write lock to send its own close. Cancelling both ends
  // that wait too.
  void abandon_close() {
    force_close();
    ws.next_layer().abandon();
    read_cancel.emit(asio::cancellation_type::terminal);
    close_cancel.emit(asio::cancellation_type::terminal);
  }

  void finish(std::uint16_t code, bool by_client) {
    if (!open) return;
    auto keep = shared_from_this();  // the caller may hold only a raw pointer
    open = false;
    wake_timer.cancel();
    close_timer.cancel();
    // Every operation ends, including one parked inside Beast: a parked op
    // holds a coroutine that holds this session, and would keep it (and the
    // server) alive past an io_context that stops now (LeakSanitizer).
    abandon_close();
    if (srv->wss.erase(this)) {
      srv->update_gauges();
    }
    auto fn = std::move(on_close_fn);
    on_close_fn = nullptr;
    source = nullptr;
    on_msg = nullptr;
    if (fn) fn(WsCloseInfo{code, by_client});
    srv->maybe_drained();
  }

  awaitable<void> reader() {
    auto self = shared_from_this();
    beast::flat_buffer buf;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buf, asio::bind_cancellation_slot(read_cancel.slot(), use_tuple));
      if (ec) {
        if (ec == websocket::error::closed)
          finish(ws.reason().code, !close_req.has_value());
        else if (ec == websocket::error::message_too_big)
          finish(websocket::close_code::too_big, true);
        else
          finish(close_req ? close_req->code : 1006, !close_req.has_value());
        co_return;
      }
      if (on_msg) {
        auto data = buf.data();
        on_msg(std::string_view(static_cast<const char*>(data.data()), data.size()));
      }
      buf.consume(buf.size());
      if (!open) co_return;
    }
  }

  awaitable<void> writer() {
    auto self = shared_from_this();
    while (open) {
      if (close_req) {
        auto reason = *close_req;
        // The close handshake is bounded: a peer that never answers, or a
        // read stuck behind our close on the peer's bad frame (each waits
        // for the other inside Beast), would otherwise hold the session
        // until the idle timeout. abandon_close() ends both operations.
        close_timer.expires_after(srv->opts.ws_close_timeout);
        close_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
          if (auto self = weak.lock(); self && !ec) self->abandon_close();
        });
        co_await ws.async_close(reason, asio::bind_cancellation_slot(close_cancel.slot(), use_tuple));
        close_timer.cancel();
        finish(reason.code, false);
        co_return;
      }
      // A batch: every frame the source has ready, up to kBatchBytes, framed
      // here and written with one write (write_gate.hpp).
      woken = false;
      batch.clear();
      while (batch.size() < kBatchBytes && !close_req) {
        auto f = source ? source(false) : std::nullopt;
        if (!f) break;
        append_text_frame(batch, *f);
      }
      if (batch.empty() && (close_req || woken)) continue;
      if (batch.empty()) {
        wake_timer.expires_after(idle.count() > 0 ? idle : std::chrono::hours(24 * 365));
        auto [ec] = co_await wake_timer.async_wait(use_tuple);
        if (!open) co_return;
        if (ec || woken || close_req || idle.count() == 0) continue;
        auto f = source ? source(true) : std::nullopt;  // idle: a heartbeat, if the producer wants one
        if (!f) continue;
        append_text_frame(batch, *f);
      }
      // Beast is closing on its own (the peer's bad frame): no data after
      // its close frame. The reader's finish() ends the wait.
      if (!ws.is_open()) {
        wake_timer.expires_after(std::chrono::hours(24 * 365));
        co_await wake_timer.async_wait(use_tuple);
        continue;
      }
      auto [ec, n] = co_await ws.next_layer().write_all(asio::buffer(batch), use_tuple);
      if (ec) {
        finish(close_req ? close_req->code : 1006, !close_req.has_value());
        co_return;
      }
    }
  }

  std::shared_ptr<HttpServer::Impl> srv;
  websocket::stream<detail::WriteGate<beast::tcp_stream>> ws;
  asio::steady_timer wake_timer;
  asio::steady_timer close_timer;  // bounds the close handshake
  asio::cancellation_signal read_cancel;   // see abandon_close()
  asio::cancellation_signal close_cancel;
  Source source;
  std::function<void(std::string_view)> on_msg;
  std::function<void(WsCloseInfo)> on_close_fn;
  std::chrono::milliseconds idle{0};
  std::optional<websocket::close_reason> close_req;
  bool open = true;
  bool woken = false;
  std::string batch;  // the frames in flight; outlive their write
};

struct ResponseSlot {
  explicit ResponseSlot(asio::io_context& io) : timer(io) {}
  std::optional<Response> response;
  asio::steady_timer timer;
};

// Destroyed with the last copy of a Respond: a handler that drops it without
// answering gets a 500 instead of a hung connection.
struct RespondGuard {
  std::shared_ptr<ResponseSlot> slot;
  ~RespondGuard() {
    if (slot && !slot->response) {
      slot->response = Response::error(Error{Code::internal, "the handler did not answer"});
      slot->timer.cancel();
    }
  }
};

struct HttpConn : std::enable_shared_from_this<HttpConn> {
  HttpConn(std::shared_ptr<HttpServer::Impl> s, tcp::socket sock)
      : srv(std::move(s)), stream(std::move(sock)) {
    beast::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    srv->conns.insert(this);
    srv->update_gauges();
  }
  ~HttpConn() {
    srv->conns.erase(this);
    srv->update_gauges();
    srv->maybe_drained();
  }

  void force_close() {
    beast::error_code ec;
    stream.socket().close(ec);
    if (pending) pending->timer.cancel();
  }
  // Shutdown: an idle keep-alive connection closes now; a busy one after
  // its response.
  void shutdown_idle() {
    if (!busy && !upgraded) force_close();
  }

  // The response is formatted into one buffer and written with one
  // async_write. (Beast's serializer walks a buffers_cat of every field and
  // the body per write: about a fifth of the instructions of a proxied GET in
  // callgrind; the head here is a few short lines.) Same fields, same order
  // as before: Server, Content-Type, extra headers, Connection when needed,
  // Content-Length.
  awaitable<void> write_response(Response r, unsigned version, bool keep_alive) {
    out.clear();
    out.reserve(192 + r.body.size());
    const auto status = static_cast<http::status>(r.status);
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += http::obsolete_reason(status);
    append_field("Server", srv->opts.server_name);
    append_field("Content-Type", r.content_type);
    for (auto& [k, v] : r.headers) append_field(k, v);
    if (version == 10 && keep_alive) append_field("Connection", "keep-alive");
    if (version != 10 && !keep_alive) append_field("Connection", "close");
    // No body and no length for 1xx, 204 and 304 (RFC 9110 §8.6).
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodiless) append_field("Content-Length", std::to_string(r.body.size()));
    out += "\r\n\r\n";
    if (!bodiless) out += r.body;
    stream.expires_after(srv->opts.read_timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
    if (ec) write_failed = true;
  }
  void append_field(std::string_view k, std::string_view v) { append_header_line(out, k, v); }

  awaitable<void> run();

  // After answering before the request was read to its end (413): stop
  // sending, then discard what the client still sends, for a bounded time
  // and amount, so that closing does not reset the connection (and drop our
  // answer from the client's receive buffer) while it is still writing.
  awaitable<void> linger() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(kLingerTime);
    std::array<char, 16384> sink;
    std::size_t total = 0;
    while (total < kLingerBytes) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
      if (rec) break;
      total += n;
    }
  }

  std::shared_ptr<HttpServer::Impl> srv;
  beast::tcp_stream stream;
  std::string remote;
  bool busy = false;
  bool upgraded = false;
  bool write_failed = false;
  std::shared_ptr<ResponseSlot> pending;
  std::string out;  // the response being written (kept: its capacity is reused)
};

awaitable<void> HttpConn::run() {
  auto self = shared_from_this();
  const auto& opts = srv->opts;
  beast::flat_buffer buffer;
  for (;;) {
    busy = false;
    if (srv->stopping) co_return;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);
    // Idle until a request starts (keep_alive_timeout), then the whole
    // header within header_timeout: a client dribbling a header a byte at a
    // time holds the connection for that long at most, however patient it
    // is. Beast parses what the buffer holds before reading again, so the
    // first read costs no extra system call.
    if (buffer.size() == 0) {
      stream.expires_after(opts.keep_alive_timeout);
      auto [fec, fn] = co_await stream.async_read_some(buffer.prepare(kFirstRead), use_tuple);
      if (fec) co_return;  // EOF, idle timeout, reset, shutdown
      buffer.commit(fn);
    }
    stream.expires_after(opts.header_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    auto start = std::chrono::steady_clock::now();
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      busy = true;
      auto e = Error{Code::payload_too_large,
                     ec == http::error::header_limit
                         ? fmt::format("request headers exceed {} bytes", opts.max_header_bytes)
                         : fmt::format("request body exceeds {} bytes", opts.max_body_bytes)};
      srv->record("unmatched", "?", 413, 0);
      co_await write_response(Response::error(e), 11, false);
      if (!write_failed) co_await linger();
      co_return;
    }
    if (ec) co_return;  // EOF, timeout, reset, shutdown: nothing to answer
    busy = true;
    // curl and others wait for this before sending a body.
    if (auto ex = parser.get()[http::field::expect]; iequals(ex, "100-continue")) {
      static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(cont), use_tuple);
      if (wec) co_return;
    }
    stream.expires_after(opts.read_timeout);
    if (!parser.is_done()) {
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (rec == http::error::body_limit) {
        auto e = Error{Code::payload_too_large,
                       fmt::format("request body exceeds {} bytes", opts.max_body_bytes)};
        srv->record("unmatched", std::string(parser.get().method_string()), 413, 0);
        co_await write_response(Response::error(e), parser.get().version(), false);
        if (!write_failed) co_await linger();
        co_return;
      }
      if (rec) co_return;
    }
    auto& msg = parser.get();
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();

    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.remote = remote;
    for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());

    std::optional<Response> immediate;
    const Router::Match* route = nullptr;
    std::string allow;
    auto url = boost::urls::parse_origin_form(req.target);
    if (!url) {
      immediate = Response::error(Error{Code::invalid_request, "malformed request target"});
    } else {
      req.path = std::string(url->path());
      for (auto p : url->params()) req.query.emplace_back(std::string(p.key), std::string(p.value));
      auto m = srv->router.match(req.method, url->encoded_path(), req.params, &allow);
      if (m) {
        route = *m;
        req.route = route->pattern;
      }
      // Auth runs first (also for unmatched paths) so that probing routes
      // without a token learns nothing.
      if ((!route || route->opts.auth) && opts.auth) {
        if (auto e = opts.auth(req)) immediate = Response::error(*e);
      }
      if (!immediate && !m) {
        immediate = Response::error(m.error());
        if (!allow.empty()) immediate->headers.emplace_back("Allow", allow);
      }
    }
    const std::string route_label = route ? route->pattern : "unmatched";

    // ---- WebSocket upgrade ----
    if (!immediate && route && route->ws) {
      if (!websocket::is_upgrade(msg)) {
        immediate = Response::error(Error{Code::invalid_request, "this route requires a WebSocket upgrade"});
      } else if (srv->stopping) {
        immediate = Response::error(Error{Code::shutting_down, "the server is shutting down"});
      } else {
        WsDecision d;
        try {
          d = route->ws(req);
        } catch (const std::exception& x) {
          spdlog::error("net: websocket handler for {} threw: {}", route->pattern, x.what());
          d = Response::error(Error{Code::internal, "internal error"});
        }
        if (auto* r = std::get_if<Response>(&d)) {
          immediate = std::move(*r);
        } else {
          auto accept = std::get<WsAccept>(std::move(d));
          upgraded = true;
          stream.expires_never();
          auto session = std::make_shared<WsSession>(srv, std::move(stream));
          websocket::stream_base::timeout t;
          t.handshake_timeout = std::chrono::seconds(10);
          t.idle_timeout = opts.ws_idle_timeout;
          t.keep_alive_pings = true;
          session->ws.set_option(t);
          session->ws.read_message_max(opts.ws_max_message_bytes);
          session->ws.auto_fragment(false);
          auto server_name = opts.server_name;
          session->ws.set_option(websocket::stream_base::decorator(
              [server_name, proto = accept.subprotocol](websocket::response_type& res) {
                res.set(http::field::server, server_name);
                if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
              }));
          auto [aec] = co_await session->ws.async_accept(msg, use_tuple);
          auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (aec) {
            srv->record(route_label, req.method, 400, elapsed);
            session->finish(1006, true);
            co_return;
          }
          srv->record(route_label, req.method, 101, elapsed);
          if (accept.on_open) accept.on_open(session);
          if (session->open) {
            asio::co_spawn(srv->io, session->reader(), log_exceptions("websocket reader"));
            asio::co_spawn(srv->io, session->writer(), log_exceptions("websocket writer"));
          }
          co_return;
        }
      }
    }

    Response response;
    if (immediate) {
      response = std::move(*immediate);
    } else {
      pending = std::make_shared<ResponseSlot>(srv->io);
      auto slot = pending;
      slot->timer.expires_after(opts.request_deadline);
      {
        auto guard = std::make_shared<RespondGuard>();
        guard->slot = slot;
        Respond respond = [guard](Response r) {
          auto& s = guard->slot;
          if (s->response) return;
          s->response = std::move(r);
          s->timer.cancel();
        };
        try {
          route->handler(req, std::move(respond));
        } catch (const std::exception& x) {
          spdlog::error("net: handler for {} threw: {}", route->pattern, x.what());
          if (!slot->response) slot->response = Response::error(Error{Code::internal, "internal error"});
        }
      }
      if (!slot->response) co_await slot->timer.async_wait(use_tuple);
      if (!slot->response)
        slot->response = Response::error(Error{Code::internal, "the request deadline passed"});
      response = std::move(*slot->response);
      pending.reset();
    }
    const int status = response.status;
    const bool keep = keep_alive && !srv->stopping && status != 413;
    co_await write_response(std::move(response), version, keep);
    srv->record(route_label, req.method, status,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (write_failed) co_return;
    if (!keep) {
      beast::error_code sec;
      stream.socket().shutdown(tcp::socket::shutdown_send, sec);
      co_return;
    }
  }
}

awaitable<void> HttpServer::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopping) {
    auto [ec, sock] = co_await acceptor->async_accept(use_tuple);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("net: accept failed: {}", ec.message());
      // e.g. EMFILE: back off instead of spinning.
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    if (conns.size() + wss.size() >= opts.max_connections) {
      beast::error_code cec;
      sock.close(cec);
      continue;
    }
    sock.set_option(tcp::no_delay(true));
    auto conn = std::make_shared<HttpConn>(self, std::move(sock));
    asio::co_spawn(io, conn->run(), log_exceptions("http connection"));
  }
}

void HttpServer::Impl::maybe_drained() {
  if (!stopping || !on_drained || !conns.empty() || !wss.empty()) return;
  shutdown_timer.cancel();
  auto fn = std::move(on_drained);
  on_drained = nullptr;
  asio::post(io, std::move(fn));
}

void HttpServer::Impl::force_close_all() {
  for (auto* c : std::vector<HttpConn*>(conns.begin(), conns.end())) c->force_close();
  for (auto* w : std::vector<WsSession*>(wss.begin(), wss.end())) w->finish(1001, false);
}

// ---- HttpServer ----

HttpServer::HttpServer(asio::io_context& io, Router router, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(router), std::move(options))) {
  if (auto* m = impl_->opts.metrics) {
    const auto& p = impl_->opts.metrics_prefix;
    impl_->m_requests = &m->counter(p + "_requests_total", "HTTP requests by route pattern, method and status",
                                    {"route", "method", "status"});
    impl_->m_latency = &m->histogram(p + "_request_duration_seconds",
                                     "Time from request headers to response written, by route pattern",
                                     {"route"}, MetricsRegistry::latency_buckets());
    impl_->m_ws_open = &m->gauge(p + "_websockets_open", "Open WebSocket sessions").get();
    impl_->m_conns_open = &m->gauge(p + "_connections_open", "Open HTTP connections (not upgraded)").get();
  }
}

HttpServer::~HttpServer() {
  // Coroutines may outlive this object (they hold the Impl until they
  // unwind); they must not touch the caller's registry or auth state.
  impl_->stopping = true;
  impl_->m_requests = nullptr;
  impl_->m_latency = nullptr;
  impl_->m_ws_open = nullptr;
  impl_->m_conns_open = nullptr;
  impl_->opts.metrics = nullptr;
  impl_->opts.auth = [](const Request&) -> std::optional<Error> {
    return Error{Code::shutting_down, "the server is shutting down"};
  };
  if (impl_->acceptor) {
    beast::error_code ec;
    impl_->acceptor->close(ec);
  }
  impl_->on_drained = nullptr;
  impl_->force_close_all();
}

Result<void> HttpServer::start() {
  auto& im = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(im.opts.host == "localhost" ? "127.0.0.1" : im.opts.host, ec);
  if (ec) {
    tcp::resolver resolver(im.io);
    auto results = resolver.resolve(im.opts.host, "", ec);
    if (ec || results.empty())
      return fail(Code::invalid_request, fmt::format("cannot resolve listen host '{}'", im.opts.host));
    addr = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, im.opts.port);
  im.acceptor.emplace(im.io);
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) im.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Code::internal, fmt::format("cannot listen on {}:{}: {}", im.opts.host, im.opts.port, ec.message()));
  im.port = im.acceptor->local_endpoint().port();
  asio::co_spawn(im.io, im.accept_loop(), log_exceptions("accept loop"));
  return {};
}

std::uint16_t HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->opts.host; }
std::size_t HttpServer::open_connections() const { return impl_->conns.size(); }
std::size_t HttpServer::open_websockets() const { return impl_->wss.size(); }

void HttpServer::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  auto& im = *impl_;
  im.stopping = true;
  im.on_drained = std::move(done);
  if (im.acceptor) {
    beast::error_code ec;
    im.acceptor->close(ec);
  }
  for (auto* w : std::vector<WsSession*>(im.wss.begin(), im.wss.end())) w->close(1001, "server shutting down");
  for (auto* c : std::vector<HttpConn*>(im.conns.begin(), im.conns.end())) c->shutdown_idle();
  im.shutdown_timer.expires_after(deadline);
  im.shutdown_timer.async_wait([weak = std::weak_ptr<Impl>(impl_)](beast::error_code ec) {
    if (ec) return;
    if (auto im = weak.lock()) im->force_close_all();
  });
  im.maybe_drained();
}

// ---- helpers ----

Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view s) {
  auto bad = [&] {
    return fail(Code::invalid_request, fmt::format("listen address '{}' is not HOST:PORT", s));
  };
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return bad();
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad();
    host = std::string(s.substr(0, colon));
    if (host.find(':') != std::string::npos) return bad();
    port = s.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return bad();
  unsigned v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return bad();
  return std::pair{host, static_cast<std::uint16_t>(v)};
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  beast::error_code ec;
  auto a = asio::ip::make_address(std::string(host), ec);
  if (ec) return false;
  return a.is_loopback();
}

}  // namespace yoi::net
