// Upstreams of the observation proxy: embedded (Runtime::subscribe +
// read_after) and remote (a Beast WebSocket client of yoi-runtime's
// /v1/workers/{id}/events/ws, over TLS for https runtimes). See observe_upstream.hpp for the protocol.
// Every failure of the remote one is mapped by upstream::map_failure
// (upstream_error.hpp); this file only says what happened.
#include "observe_upstream.hpp"

#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "read_hook.hpp"
#include "cursor.hpp"  // runtime/cursor.hpp: the runtime's cursor format (same project)
#include "tls.hpp"
#include "upstream_error.hpp"
#include "yoi/backend/http_client.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/runtime.hpp"
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

constexpr std::size_t kDrainBatch = 256;
constexpr std::size_t kDrainPerTurn = 4096;  // then yield to other work

bool resyncable(Code c) {
  return c == Code::cursor_expired || c == Code::cursor_unknown || c == Code::cursor_invalid;
}

// ---------------------------------------------------------------- embedded

class EmbeddedUpstream final : public Upstream {
  struct State : std::enable_shared_from_this<State> {
    asio::io_context& io;
    rt::Runtime& rt;
    std::string wid;
    UpHandlers h;
    bool active = false;
    unsigned gen = 0;
    rt::Subscription sub;
    std::string cursor;
    bool drain_posted = false;

    State(asio::io_context& i, rt::Runtime& r, std::string w) : io(i), rt(r), wid(std::move(w)) {}

    Result<UpSnapshot> take_snapshot() const {
      auto snap = rt.snapshot(wid);
      if (!snap) return fail(snap.error());
      auto v = json::parse(rt::wire::snapshot_frame(*snap), 64u << 20);
      if (!v || !v->is_object()) return fail(Code::internal, "snapshot frame does not parse");
      UpSnapshot s;
      s.epoch = rt.epoch();
      s.seq = snap->seq;
      s.frame = std::move(v->as_object());
      return s;
    }

    // false: the stream ended (a fatal diagnostic and `lost` were delivered).
    bool send_snapshot() {
      auto s = take_snapshot();
      if (!s) return end(s.error());
      cursor = rt.cursor_for(wid, s->seq);
      h.snapshot(std::move(*s));
      return active;
    }

    bool end(const Error& e) {
      auto lost = h.lost;
      unsigned g = gen;
      h.diagnostic(e, "fatal");
      if (g != gen) return false;
      active = false;
      sub.reset();
      if (lost) lost(e);
      return false;
    }

    void start(std::optional<Position> after, unsigned g) {
      if (!active || g != gen) return;
      h.connected();
      if (!active || g != gen) return;
      if (!after) {
        if (!send_snapshot()) return;
      } else {
        cursor = rt::encode_cursor(after->epoch, rt::worker_tag(wid), after->seq);
        auto s = rt.cursor_seq(wid, cursor);
        if (!s) {
          if (!resyncable(s.error().code)) return (void)end(s.error());
          h.diagnostic(s.error(), "resync");
          if (!active || g != gen || !send_snapshot()) return;
        }
      }
      auto weak = weak_from_this();
      auto sub_r = rt.subscribe(wid, [weak] {
        if (auto st = weak.lock()) st->schedule_drain();
      });
      if (!sub_r) return (void)end(sub_r.error());
      sub = std::move(*sub_r);
      drain(true);
    }

    void schedule_drain() {
      if (drain_posted || !active) return;
      drain_posted = true;
      asio::post(io, [weak = weak_from_this(), g = gen] {
        auto st = weak.lock();
        if (!st) return;
        st->drain_posted = false;
        if (st->active && st->gen == g) st->drain(false);
      });
    }

    // Delivers what the log has now, then tells the feed it is idle.
    void drain(bool first) {
      unsigned g = gen;
      drain_events(first);
      if (active && g == gen && h.idle) h.idle();
    }

    void drain_events(bool first) {
      unsigned g = gen;
      std::size_t sent = 0;
      std::uint64_t last = 0;
      while (active && g == gen) {
        auto page = rt.read_after(wid, cursor, kDrainBatch);
        if (!page) {
          if (resyncable(page.error().code)) {
            h.diagnostic(page.error(), "resync");
            if (!active || g != gen || !send_snapshot()) return;
            continue;
          }
          return (void)end(page.error());
        }
        last = page->last_seq;
        if (page->events.empty()) break;
        for (auto& e : page->events) {
          cursor = e.cursor;
          h.event(rt.epoch(), SourceEvent{e.seq, std::move(e.json)});
          if (!active || g != gen) return;
        }
        sent += page->events.size();
        if (sent >= kDrainPerTurn) return schedule_drain();
      }
      if (first && active && g == gen) {
        // Already stopped and drained: say so, like the runtime's own stream.
        auto d = rt.detail(wid);
        auto at = rt.cursor_seq(wid, cursor);
        if (d && d->record.status == rt::WorkerStatus::stopped && at && *at >= last)
          end(Error{Code::worker_stopped, fmt::format("worker '{}' is stopped", wid)});
      }
    }
  };

 public:
  EmbeddedUpstream(asio::io_context& io, rt::Runtime& rt, std::string wid)
      : st_(std::make_shared<State>(io, rt, std::move(wid))) {}
  ~EmbeddedUpstream() override { disconnect(); }

  void connect(std::optional<Position> after, UpHandlers handlers) override {
    st_->h = std::move(handlers);
    st_->active = true;
    unsigned g = ++st_->gen;
    asio::post(st_->io, [st = st_, after = std::move(after), g] { st->start(after, g); });
  }
  void disconnect() override {
    st_->active = false;
    ++st_->gen;
    st_->sub.reset();
    // Handlers stay: disconnect() may run inside one of them.
  }
  void snapshot(std::function<void(Result<UpSnapshot>)> done) override {
    asio::post(st_->io, [st = st_, done = std::move(done)] { done(st->take_snapshot()); });
  }

 private:
  std::shared_ptr<State> st_;
};

// ---------------------------------------------------------------- remote

using ReadResult = std::tuple<beast::error_code, std::size_t>;

// The upstream WebSocket, plain (http runtimes) or over TLS (https): the
// frame loop below is written once against this.
class Conn {
 public:
  virtual ~Conn() = default;
  virtual asio::awaitable<ReadResult> read(beast::flat_buffer& buf) = 0;
  virtual void abort() = 0;  // closes the socket; a pending read ends
  virtual void on_starved(std::function<void()> fn) = 0;  // read_hook.hpp
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

// An event frame in the runtime's own layout (rt::wire::event_frame), read
// without building it: the event's bytes are checked for grammar
// (json::is_object_text) and passed on as they are, instead of parsed into a
// DOM and serialised again. Anything else, malformed frames included, takes
// the general path, which decides what is an error.
struct FastEvent {
  std::string_view epoch;
  std::uint64_t seq = 0;
  std::string_view event;
};

std::optional<FastEvent> fast_event(std::string_view f) {
  auto take = [&f](std::string_view lit) {
    if (!f.starts_with(lit)) return false;
    f.remove_prefix(lit.size());
    return true;
  };
  // The rest of a string whose opening quote was taken; none with escapes.
  auto plain_string = [&f]() -> std::optional<std::string_view> {
    auto q = f.find('"');
    if (q == std::string_view::npos) return std::nullopt;
    auto s = f.substr(0, q);
    if (s.find('\\') != std::string_view::npos) return std::nullopt;
    f.remove_prefix(q + 1);
    return s;
  };
  if (!take(R"({"type":"event","cursor":")")) return std::nullopt;
  auto cursor = plain_string();
  if (!cursor || !take(R"(,"seq":)")) return std::nullopt;
  FastEvent e;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), e.seq);
  if (ec != std::errc{}) return std::nullopt;
  f.remove_prefix(static_cast<std::size_t>(end - f.data()));
  if (!take(R"(,"runtime_id":")") || !plain_string() || !take(R"(,"worker_id":")") || !plain_string() ||
      !take(R"(,"event":)"))
    return std::nullopt;
  if (f.empty() || f.back() != '}') return std::nullopt;
  e.event = f.substr(0, f.size() - 1);
  if (!json::is_object_text(e.event)) return std::nullopt;
  auto parts = rt::parse_cursor(*cursor);
  if (!parts) return std::nullopt;
  e.epoch = parts->epoch;
  return e;
}

std::optional<std::uint64_t> seq_of(const bj::object& o) {
  auto* v = o.if_contains("seq");
  if (!v) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
  return std::nullopt;
}

class RemoteUpstream final : public Upstream {
  struct State : std::enable_shared_from_this<State> {
    asio::io_context& io;
    http::Endpoint ep;
    Secret token;
    std::string wid;
    ObserveOptions opts;
    UpHandlers h;
    bool active = false;
    unsigned gen = 0;
    std::shared_ptr<Conn> ws;  // the live connection, if any
    std::unique_ptr<ssl::context> tls_ctx;  // https runtimes

    State(asio::io_context& i, http::Endpoint e, Secret t, std::string w, ObserveOptions o,
          const std::string& ca_file)
        : io(i), ep(std::move(e)), token(std::move(t)), wid(std::move(w)), opts(std::move(o)) {
      if (!ep.tls) return;
      tls_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      if (!tls::configure_client(*tls_ctx, ca_file))
        spdlog::warn("observe: could not load trust anchors for a runtime");
    }

    std::string target(const std::optional<Position>& after) const {
      std::string t = ep.base_path + "/v1/workers/" + wid + "/events/ws";
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
        if (!tls::name_peer(tls_layer, ep.host)) co_return fail(no_reply(http::Failure::tls));
        auto [tec] = co_await tls_layer.async_handshake(ssl::stream_base::client, use_tuple);
        if (tec) co_return fail(no_reply(is_timeout(tec) ? http::Failure::timeout : http::Failure::tls));
      }
      sock.read_message_max(opts.max_upstream_frame);
      std::string auth = token.empty() ? std::string() : "Bearer " + token.expose();
      sock.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "yoi-server");
        if (!auth.empty()) req.set(beast::http::field::authorization, auth);
      }));
      websocket::response_type res;
      std::string host = ep.host + ":" + ep.port;
      auto [hec] = co_await sock.async_handshake(res, host, tgt, use_tuple);
      if (hec == websocket::error::upgrade_declined)  // the runtime answered, with an HTTP error
        co_return fail(upstream::map_failure(upstream::Reply{static_cast<int>(res.result_int()), res.body()}));
      if (hec) co_return fail(no_reply(handshake_failure(hec)));
      low.expires_never();
      auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
      t.idle_timeout = opts.upstream_idle_timeout;
      t.keep_alive_pings = true;
      sock.set_option(t);
      co_return std::shared_ptr<Conn>(std::move(conn));
    }

    static Result<Frame> read_frame(const beast::flat_buffer& buf) {
      auto data = beast::buffers_to_string(buf.data());
      auto v = json::parse(data, data.size() + 1);
      if (!v || !v->is_object()) return fail(undecodable("event stream frame"));
      Frame f;
      f.obj = std::move(v->as_object());
      f.type = json::str_or_empty(f.obj, "type");
      return f;
    }

    static Result<UpSnapshot> to_snapshot(bj::object o) {
      auto epoch = epoch_of(o);
      if (!epoch) return fail(epoch.error());
      UpSnapshot s;
      s.epoch = std::move(*epoch);
      auto seq = seq_of(o);
      if (!seq) return fail(undecodable("snapshot"));
      s.seq = *seq;
      s.frame = std::move(o);
      return s;
    }

    // One connection: dial, then dispatch frames until it ends.
    asio::awaitable<void> run(std::optional<Position> after, unsigned g) {
      auto self = shared_from_this();
      auto live = [&] { return active && gen == g; };
      auto conn = co_await dial(target(after));
      if (!live()) co_return;
      if (!conn) {
        auto lost = h.lost;
        lost(conn.error());
        co_return;
      }
      ws = *conn;
      auto my_ws = ws;
      my_ws->on_starved([weak = weak_from_this(), g] {
        if (auto st = weak.lock(); st && st->active && st->gen == g && st->h.idle) st->h.idle();
      });
      h.connected();
      beast::flat_buffer buf;
      Error why = stream_lost();
      while (live()) {
        buf.clear();
        auto [rec, n] = co_await my_ws->read(buf);
        if (!live()) co_return;
        if (rec) break;
        if (auto fe = fast_event(std::string_view(static_cast<const char*>(buf.data().data()), buf.size()))) {
          h.event(std::string(fe->epoch), SourceEvent{fe->seq, std::string(fe->event)});
          continue;
        }
        auto f = read_frame(buf);
        if (!f) {
          why = f.error();
          break;
        }
        if (f->type == "event") {
          auto epoch = epoch_of(f->obj);
          auto seq = seq_of(f->obj);
          auto* ev = f->obj.if_contains("event");
          if (!epoch || !seq || !ev || !ev->is_object()) {
            why = undecodable("event frame");
            break;
          }
          h.event(std::move(*epoch), SourceEvent{*seq, bj::serialize(*ev)});
        } else if (f->type == "snapshot") {
          auto s = to_snapshot(std::move(f->obj));
          if (!s) {
            why = s.error();
            break;
          }
          h.snapshot(std::move(*s));
        } else if (f->type == "diagnostic") {
          h.diagnostic(diagnostic_of(f->obj), std::string(json::str_or_empty(f->obj, "action")));
        }
        // heartbeat: nothing to do (the position is the last event's).
      }
      if (!live()) co_return;
      ws.reset();
      my_ws->abort();
      auto lost = h.lost;
      lost(why);
    }

    asio::awaitable<Result<UpSnapshot>> fetch_snapshot() {
      auto self = shared_from_this();
      auto conn = co_await dial(target(std::nullopt));
      if (!conn) co_return fail(conn.error());
      auto w = *conn;
      beast::flat_buffer buf;
      asio::steady_timer timer(io);
      timer.expires_after(opts.connect_timeout);
      auto race = co_await (w->read(buf) || timer.async_wait(use_tuple));
      if (race.index() == 1) {
        w->abort();
        co_return fail(no_reply(http::Failure::timeout));
      }
      auto [rec, n] = std::get<0>(race);
      Result<UpSnapshot> out = fail(stream_lost());
      if (!rec) {
        auto f = read_frame(buf);
        if (!f)
          out = fail(f.error());
        else if (f->type == "snapshot")
          out = to_snapshot(std::move(f->obj));
        else if (f->type == "diagnostic")
          out = fail(diagnostic_of(f->obj));
        else
          out = fail(undecodable("snapshot"));
      }
      w->abort();
      co_return out;
    }
  };

 public:
  RemoteUpstream(asio::io_context& io, http::Endpoint ep, Secret token, std::string wid, ObserveOptions opts,
                 const std::string& ca_file)
      : st_(std::make_shared<State>(io, std::move(ep), std::move(token), std::move(wid), std::move(opts), ca_file)) {}
  ~RemoteUpstream() override { disconnect(); }

  void connect(std::optional<Position> after, UpHandlers handlers) override {
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
    if (st_->ws) {
      st_->ws->abort();
      st_->ws.reset();
    }
  }
  void snapshot(std::function<void(Result<UpSnapshot>)> done) override {
    asio::co_spawn(st_->io, st_->fetch_snapshot(),
                   [done = std::move(done)](std::exception_ptr ep, Result<UpSnapshot> r) {
                     if (ep) return done(fail(Code::internal, "snapshot fetch failed"));
                     done(std::move(r));
                   });
  }

 private:
  std::shared_ptr<State> st_;
};

// Undecodable URLs (the registry refused them already): every connection
// attempt fails; clients get runtime_unavailable.
class UnavailableUpstream final : public Upstream {
 public:
  UnavailableUpstream(asio::io_context& io, Error why) : io_(io), why_(std::move(why)) {}
  void connect(std::optional<Position>, UpHandlers h) override {
    auto g = ++*gen_;
    asio::post(io_, [gen = gen_, g, lost = h.lost, e = why_] {
      if (g == *gen && lost) lost(e);
    });
  }
  void disconnect() override { ++*gen_; }
  void snapshot(std::function<void(Result<UpSnapshot>)> done) override {
    asio::post(io_, [done = std::move(done), e = why_] { done(fail(e)); });
  }

 private:
  asio::io_context& io_;
  Error why_;
  std::shared_ptr<unsigned> gen_ = std::make_shared<unsigned>(0);
};

}  // namespace

std::unique_ptr<Upstream> make_embedded_upstream(asio::io_context& io, rt::Runtime& runtime, std::string worker_id) {
  return std::make_unique<EmbeddedUpstream>(io, runtime, std::move(worker_id));
}

std::unique_ptr<Upstream> make_remote_upstream(asio::io_context& io, const RemoteConfig& config,
                                               std::string worker_id, const ObserveOptions& options) {
  auto ep = http::parse_base_url(config.base_url);
  if (!ep) return std::make_unique<UnavailableUpstream>(io, ep.error());
  auto opts = options;
  opts.connect_timeout = std::min(opts.connect_timeout, config.connect_timeout + config.timeout);
  opts.upstream_idle_timeout =
      std::min(opts.upstream_idle_timeout, std::max(config.timeout, std::chrono::milliseconds(1'000)));
  return std::make_unique<RemoteUpstream>(io, std::move(*ep), config.token, std::move(worker_id), opts,
                                          config.ca_file);
}

}  // namespace yoi::backend::detail
