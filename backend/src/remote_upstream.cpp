// The remote upstream: one worker's event stream from a yoi-runtime, a Beast
// WebSocket client of its /v1/workers/{id}/events/ws (over TLS for https
// runtimes). Protocol: StreamHandlers in source.hpp. Every failure is mapped
// by upstream::map_failure (upstream_error.hpp); this file only says what
// happened.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "read_hook.hpp"
#include "tls.hpp"
#include "upstream.hpp"
#include "upstream_error.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
namespace bj = boost::json;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

using ReadResult = std::tuple<beast::error_code, std::size_t>;

// The upstream WebSocket, plain (http runtimes) or over TLS (https): the
// frame loop below is written once against this.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  virtual ~Conn() = default;
  virtual asio::awaitable<ReadResult> read(beast::flat_buffer& buf) = 0;
  virtual void abort() = 0;  // closes the socket; a pending read ends
  virtual void on_starved(std::function<void()> fn) = 0;  // read_hook.hpp
  virtual std::uint64_t socket_reads() const = 0;        // read_hook.hpp
  virtual void ping() = 0;  // a keep-alive ping; the runtime's pong is a read
};

template <class Next>
class ConnOf final : public Conn {
 public:
  template <class... Args>
  explicit ConnOf(Args&&... args) : ws(std::forward<Args>(args)...) {}
  asio::awaitable<ReadResult> read(beast::flat_buffer& buf) override {
    co_return co_await ws.async_read(buf, use_tuple);
  }
  void abort() override {
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
  }
  void on_starved(std::function<void()> fn) override { ws.next_layer().on_starved(std::move(fn)); }
  std::uint64_t socket_reads() const override { return ws.next_layer().reads(); }
  void ping() override {
    ws.async_ping({}, [keep = shared_from_this()](beast::error_code) {});  // a failure ends the read too
  }
  websocket::stream<ReadHook<Next>> ws;
};
using PlainConn = ConnOf<beast::tcp_stream>;
using TlsConn = ConnOf<beast::ssl_stream<beast::tcp_stream>>;

// What happened, in upstream::map_failure's terms.
Error no_reply(http::Failure kind) { return upstream::map_failure(upstream::NoReply{kind}); }
Error undecodable(std::string_view what) { return upstream::map_failure(upstream::Undecodable{what}); }
Error stream_lost() { return upstream::map_failure(upstream::StreamLost{}); }

bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

// A failed WebSocket upgrade that got no HTTP answer to map.
http::Failure handshake_failure(const beast::error_code& ec) {
  if (is_timeout(ec)) return http::Failure::timeout;
  if (ec == websocket::condition::handshake_failed) return http::Failure::protocol;
  return http::Failure::unreachable;
}

Error diagnostic_of(const bj::object& o) {
  return upstream::map_failure(
      upstream::StreamDiagnostic{json::str_or_empty(o, "code"), json::str_or_empty(o, "message")});
}

// Decodes one frame of the runtime's stream. Unknown types are ignored.
struct Frame {
  std::string type;
  bj::object obj;
};

Result<std::string> epoch_of(const bj::object& o) {
  auto c = json::str_or_empty(o, "cursor");
  auto parts = rt::parse_cursor(c);
  if (!parts) return fail(undecodable("frame cursor"));
  return std::string(parts->epoch);
}

// An event frame in the runtime's own layout, read without building it
// (rt::wire::scan_event_frame, beside the frame writer and round-tripped
// against it in wire_test): the event's bytes are checked for grammar and
// passed on as they are, instead of parsed into a DOM and serialised again.
// Anything else, malformed frames included, takes the general path, which
// decides what is an error.
struct FastEvent {
  std::string_view epoch;
  std::uint64_t seq = 0;
  std::string_view event;
};

std::optional<FastEvent> fast_event(std::string_view f) {
  auto v = rt::wire::scan_event_frame(f);
  if (!v) return std::nullopt;
  auto parts = rt::parse_cursor(v->cursor);
  if (!parts) return std::nullopt;
  return FastEvent{parts->epoch, v->seq, v->event};
}

std::optional<std::uint64_t> seq_of(const bj::object& o) {
  auto* v = o.if_contains("seq");
  if (!v) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
  return std::nullopt;
}

Result<Frame> read_frame(const beast::flat_buffer& buf) {
  auto data = beast::buffers_to_string(buf.data());
  auto v = json::parse(data, data.size() + 1);
  if (!v || !v->is_object()) return fail(undecodable("event stream frame"));
  Frame f;
  f.obj = std::move(v->as_object());
  f.type = json::str_or_empty(f.obj, "type");
  return f;
}

Result<StreamSnapshot> to_snapshot(bj::object o) {
  auto epoch = epoch_of(o);
  if (!epoch) return fail(epoch.error());
  auto seq = seq_of(o);
  if (!seq) return fail(undecodable("snapshot"));
  StreamSnapshot s;
  s.epoch = std::move(*epoch);
  s.seq = *seq;
  s.frame = std::move(o);
  return s;
}

class RemoteUpstream final : public EventStream {
  struct State : std::enable_shared_from_this<State> {
    asio::io_context& io;
    RemoteEndpoint remote;
    std::string wid;
    StreamOptions opts;
    StreamHandlers h;
    bool active = false;
    unsigned gen = 0;
    std::shared_ptr<Conn> ws;  // the live connection, if any
    asio::steady_timer idle_timer;  // watch_idle()
    std::unique_ptr<ssl::context> tls_ctx;  // https runtimes

    State(asio::io_context& i, RemoteEndpoint r, std::string w, StreamOptions o)
        : io(i), remote(std::move(r)), wid(std::move(w)), opts(o), idle_timer(i) {
      if (!remote.endpoint.tls) return;
      tls_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      if (!tls::configure_client(*tls_ctx, remote.ca_file))
        spdlog::warn("observe: could not load trust anchors for a runtime");
    }

    bool live(unsigned g) const { return active && gen == g; }

    std::string target(const std::optional<Position>& after) const {
      std::string t = remote.endpoint.base_path + "/v1/workers/" + wid + "/events/ws";
      if (after) t += "?cursor=" + rt::encode_cursor(after->epoch, rt::worker_tag(wid), after->seq);
      return t;
    }

    // Resolve (raced with a timer: DNS is not covered by stream timeouts),
    // connect, TLS for https runtimes, handshake with the bearer token.
    asio::awaitable<Result<std::shared_ptr<Conn>>> dial(std::string tgt) {
      auto deadline = std::chrono::steady_clock::now() + opts.connect_timeout;
      tcp::resolver resolver(io);
      asio::steady_timer timer(io);
      timer.expires_at(deadline);
      const auto& ep = remote.endpoint;
      auto race = co_await (resolver.async_resolve(ep.host, ep.port, use_tuple) || timer.async_wait(use_tuple));
      if (race.index() == 1) co_return fail(no_reply(http::Failure::timeout));
      auto [rec, results] = std::get<0>(race);
      if (rec || results.empty()) co_return fail(no_reply(http::Failure::unreachable));
      if (tls_ctx) co_return co_await open(std::make_shared<TlsConn>(io, *tls_ctx), results, deadline, tgt);
      co_return co_await open(std::make_shared<PlainConn>(io), results, deadline, tgt);
    }

    template <class C>
    asio::awaitable<Result<std::shared_ptr<Conn>>> open(std::shared_ptr<C> conn, tcp::resolver::results_type results,
                                                        std::chrono::steady_clock::time_point deadline,
                                                        std::string tgt) {
      auto& sock = conn->ws;
      auto& low = beast::get_lowest_layer(sock);
      low.expires_at(deadline);
      auto [cec, endpoint] = co_await low.async_connect(results, use_tuple);
      if (cec) co_return fail(no_reply(is_timeout(cec) ? http::Failure::timeout : http::Failure::unreachable));
      low.socket().set_option(tcp::no_delay(true));
      if constexpr (std::is_same_v<C, TlsConn>) {
        auto& tls_layer = sock.next_layer().next_layer();
        if (!tls::name_peer(tls_layer, remote.endpoint.host)) co_return fail(no_reply(http::Failure::tls));
        auto [tec] = co_await tls_layer.async_handshake(ssl::stream_base::client, use_tuple);
        if (tec) co_return fail(no_reply(is_timeout(tec) ? http::Failure::timeout : http::Failure::tls));
      }
      sock.read_message_max(opts.max_frame);
      std::string auth = remote.token.empty() ? std::string() : "Bearer " + remote.token.expose();
      sock.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "yoi-server");
        if (!auth.empty()) req.set(beast::http::field::authorization, auth);
      }));
      websocket::response_type res;
      const auto& h = remote.endpoint.host;  // IPv6 bracketed, for the runtime's Host check
      std::string host = (h.find(':') == std::string::npos ? h : "[" + h + "]") + ":" + remote.endpoint.port;
      auto [hec] = co_await sock.async_handshake(res, host, tgt, use_tuple);
      if (hec == websocket::error::upgrade_declined)  // the runtime answered, with an HTTP error
        co_return fail(upstream::map_failure(upstream::Reply{static_cast<int>(res.result_int()), res.body()}));
      if (hec) co_return fail(no_reply(handshake_failure(hec)));
      low.expires_never();
      // No idle timeout of Beast's: it re-arms its timer at every read (a
      // cancelled wait posted per event). watch_idle() does its job.
      auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
      t.idle_timeout = websocket::stream_base::none();
      t.keep_alive_pings = false;
      sock.set_option(t);
      co_return std::shared_ptr<Conn>(std::move(conn));
    }

    // One connection: dial, then dispatch frames until it ends.
    asio::awaitable<void> run(std::optional<Position> after, unsigned g) {
      auto self = shared_from_this();
      auto conn = co_await dial(target(after));
      if (!live(g)) co_return;
      if (!conn) {
        auto lost = h.lost;
        lost(conn.error());
        co_return;
      }
      ws = *conn;
      auto my_ws = ws;
      my_ws->on_starved([weak = weak_from_this(), g] {
        if (auto st = weak.lock(); st && st->live(g) && st->h.idle) st->h.idle();
      });
      h.connected();
      watch_idle(my_ws, g, my_ws->socket_reads(), 0);
      Error why = co_await pump(*my_ws, g);
      if (!live(g)) co_return;  // replaced: the timer may be the next connection's by now
      idle_timer.cancel();
      ws.reset();
      my_ws->abort();
      auto lost = h.lost;
      lost(why);
    }

    // The upstream's idle detection, Beast's rule (a ping after half the idle
    // timeout without a byte from the runtime, the connection lost after the
    // whole of it) checked every quarter of it against the count of socket
    // reads, so that the read path itself touches no timer (issue 22).
    // Silence is noticed after idle_timeout to 1.25 times it.
    void watch_idle(std::shared_ptr<Conn> conn, unsigned g, std::uint64_t reads, int silent) {
      idle_timer.expires_after(opts.idle_timeout / 4);
      idle_timer.async_wait([weak = weak_from_this(), conn, g, reads, silent](boost::system::error_code ec) {
        auto st = weak.lock();
        if (ec || !st || !st->live(g) || st->ws != conn) return;
        const auto now_reads = conn->socket_reads();
        const int quiet = now_reads == reads ? silent + 1 : 0;
        if (quiet >= 4) return conn->abort();  // the read fails: the stream is lost
        if (quiet == 2) conn->ping();
        st->watch_idle(conn, g, now_reads, quiet);
      });
    }

    // Reads frames and hands them to the handlers until the connection ends
    // (the error says why) or is replaced (then the caller stops quietly).
    asio::awaitable<Error> pump(Conn& conn, unsigned g) {
      beast::flat_buffer buf;
      while (live(g)) {
        buf.clear();
        auto [rec, n] = co_await conn.read(buf);
        if (!live(g) || rec) break;
        if (auto fe = fast_event(std::string_view(static_cast<const char*>(buf.data().data()), buf.size()))) {
          h.event(std::string(fe->epoch), SourceEvent{fe->seq, std::string(fe->event)});
          continue;
        }
        if (auto bad = dispatch(buf)) co_return std::move(*bad);
      }
      co_return stream_lost();
    }

    // A frame the fast path did not take. An error ends the connection.
    std::optional<Error> dispatch(const beast::flat_buffer& buf) {
      auto f = read_frame(buf);
      if (!f) return f.error();
      if (f->type == "event") {
        auto epoch = epoch_of(f->obj);
        auto seq = seq_of(f->obj);
        auto* ev = f->obj.if_contains("event");
        if (!epoch || !seq || !ev || !ev->is_object()) return undecodable("event frame");
        h.event(std::move(*epoch), SourceEvent{*seq, bj::serialize(*ev)});
      } else if (f->type == "snapshot") {
        auto s = to_snapshot(std::move(f->obj));
        if (!s) return s.error();
        h.snapshot(std::move(*s));
      } else if (f->type == "diagnostic") {
        h.diagnostic(diagnostic_of(f->obj), std::string(json::str_or_empty(f->obj, "action")));
      }
      // heartbeat: nothing to do (the position is the last event's).
      return std::nullopt;
    }

    // A short connection without a cursor: its first frame is a snapshot.
    asio::awaitable<Result<StreamSnapshot>> fetch_snapshot() {
      auto self = shared_from_this();
      auto conn = co_await dial(target(std::nullopt));
      if (!conn) co_return fail(conn.error());
      auto w = *conn;
      beast::flat_buffer buf;
      asio::steady_timer timer(io);
      timer.expires_after(opts.connect_timeout);
      auto race = co_await (w->read(buf) || timer.async_wait(use_tuple));
      w->abort();
      if (race.index() == 1) co_return fail(no_reply(http::Failure::timeout));
      if (auto [rec, n] = std::get<0>(race); rec) co_return fail(stream_lost());
      auto f = read_frame(buf);
      if (!f) co_return fail(f.error());
      if (f->type == "snapshot") co_return to_snapshot(std::move(f->obj));
      if (f->type == "diagnostic") co_return fail(diagnostic_of(f->obj));
      co_return fail(undecodable("snapshot"));
    }
  };

 public:
  RemoteUpstream(asio::io_context& io, RemoteEndpoint remote, std::string wid, const StreamOptions& opts)
      : st_(std::make_shared<State>(io, std::move(remote), std::move(wid), opts)) {}
  ~RemoteUpstream() override { disconnect(); }

  void connect(std::optional<Position> after, StreamHandlers handlers) override {
    st_->h = std::move(handlers);
    st_->active = true;
    unsigned g = ++st_->gen;
    asio::co_spawn(st_->io, st_->run(std::move(after), g), [](std::exception_ptr ep) {
      if (!ep) return;
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        spdlog::error("observe: upstream stream failed unexpectedly: {}", e.what());
      } catch (...) {
        spdlog::error("observe: upstream stream failed unexpectedly");
      }
    });
  }
  void disconnect() override {
    st_->active = false;
    ++st_->gen;
    st_->idle_timer.cancel();
    if (st_->ws) {
      st_->ws->abort();
      st_->ws.reset();
    }
  }
  void snapshot(std::function<void(Result<StreamSnapshot>)> done) override {
    asio::co_spawn(st_->io, st_->fetch_snapshot(),
                   [done = std::move(done)](std::exception_ptr ep, Result<StreamSnapshot> r) {
                     if (ep) return done(fail(Code::internal, "snapshot fetch failed"));
                     done(std::move(r));
                   });
  }

 private:
  std::shared_ptr<State> st_;
};

}  // namespace

std::unique_ptr<EventStream> make_remote_upstream(asio::io_context& io, RemoteEndpoint remote, std::string worker_id,
                                                  const StreamOptions& options) {
  return std::make_unique<RemoteUpstream>(io, std::move(remote), std::move(worker_id), options);
}

}  // namespace yoi::backend::detail
