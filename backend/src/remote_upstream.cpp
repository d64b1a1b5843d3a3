// The remote upstream: one worker's event stream from a yoi-runtime, a
// WebSocket client of its /v1/workers/{id}/events/ws (over TLS for https
// runtimes): Beast makes the upgrade, WsReader parses the frames. Protocol: StreamHandlers in source.hpp. Every failure is mapped
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

#include <algorithm>
#include <cstring>
#include <random>

#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include "tls.hpp"
#include "upstream.hpp"
#include "upstream_error.hpp"
#include "ws_reader.hpp"
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

// The socket types: the io_context's own executor, not any_io_executor, so
// that a read's completion takes no type-erased executor copies (issue 22:
// they were a tenth of a relayed event's user time).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
// What the upgrade is made on: Beast's stream, for its deadlines.
using DialStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<DialStream>;

// The upstream WebSocket, plain (http runtimes) or over TLS (https): the
// frame loop is written once against this. Beast does the HTTP upgrade
// (open() below); the frames after it are read here, with WsReader, from the
// socket into one buffer: every whole message in it is handed out before the
// next read, in one io turn, where Beast's async_read took an io turn and a
// posted completion per message (issue 22). A plain connection reads the
// bare socket: Beast's stream, with its timer bookkeeping per operation, is
// left behind once the upgrade is made.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  // Returns whether to go on reading; false stops the loop (no on_end).
  using OnMessage = std::function<bool(std::string_view)>;
  virtual ~Conn() = default;
  // Reads messages until on_message says stop, or the connection fails or
  // closes (then on_end runs once). Pings are answered here.
  virtual void read_messages(OnMessage on_message, std::function<void()> on_end) = 0;
  virtual void abort() = 0;  // closes the socket; a pending read ends (on_end runs)
  virtual void ping() = 0;   // a keep-alive ping; the runtime's pong is a read
  // The owner lets go: the socket closes and no callback runs from now on,
  // so the callbacks may hold their owner by a plain pointer (issue 22: a
  // weak pointer's lock per message was an atomic on a cold line). May be
  // called from inside a callback.
  void release() {
    released_ = true;
    abort();
  }

  // Called each time every whole message read so far has been handed out,
  // before the next read from the socket: the end of a burst. The feed
  // wakes its clients then, once, and each client's writer sends the whole
  // burst with one write instead of one write per event.
  void on_starved(std::function<void()> fn) { starved_ = std::move(fn); }
  // Reads from the socket so far: each one after the first means bytes
  // arrived, which is all the idle check needs to know (watch_idle).
  std::uint64_t socket_reads() const { return reads_; }

 protected:
  std::function<void()> starved_;
  std::uint64_t reads_ = 0;
  bool released_ = false;
};

template <class Stream>
class ConnOf final : public Conn {
 public:
  // `stream`: upgraded; `early`: bytes read past the 101 (frames the
  // runtime sent right after it).
  ConnOf(Stream&& s, std::string_view early, std::size_t max_message)
      : stream(std::move(s)), reader(max_message), in(early), end(in.size()) {}

  void read_messages(OnMessage on_message, std::function<void()> on_end) override {
    on_message_ = std::move(on_message);
    on_end_ = std::move(on_end);
    drain();
  }
  void abort() override {
    boost::system::error_code ec;
    socket().close(ec);
  }
  void ping() override { send_control(0x9, {}); }  // a failure ends the read too

 private:
  static constexpr std::size_t kReadChunk = 64 * 1024;

  auto& socket() {
    if constexpr (std::is_same_v<Stream, Socket>)
      return stream;
    else
      return beast::get_lowest_layer(stream).socket();
  }

  // Hands out every whole message buffered, then reads more.
  void drain() {
    for (;;) {
      auto it = reader.next(std::string_view(in.data() + begin, end - begin));
      begin += it.used;
      switch (it.kind) {
        case WsReader::Kind::message:
          if (released_ || !on_message_(it.payload)) return stop();
          continue;
        case WsReader::Kind::fragment:
        case WsReader::Kind::pong: continue;
        case WsReader::Kind::ping: send_control(0xA, it.payload); continue;
        case WsReader::Kind::close:  // the runtime ends the stream: as a failed read, it is lost
        case WsReader::Kind::error: return end_reading();
        case WsReader::Kind::need_more: return read_more(it.need);
      }
    }
  }

  void read_more(std::size_t need) {
    // The partial frame moves to the front; the buffer grows to hold a whole
    // frame (WsReader bounded it by the message limit, as Beast's buffer
    // was), and after a large one the reads are a chunk again.
    const std::size_t partial = end - begin;
    if (begin > 0 && partial > 0) std::memmove(in.data(), in.data() + begin, partial);
    begin = 0;
    end = partial;
    const std::size_t size = std::max(kReadChunk, need);
    if (in.size() < size || (in.size() > kReadChunk && size == kReadChunk)) in.resize(size);
    ++reads_;
    if (starved_ && !released_) starved_();
    if (released_) return stop();
    stream.async_read_some(asio::buffer(in.data() + end, in.size() - end),
                           [self = shared_from_this(), this](boost::system::error_code ec, std::size_t n) {
                             if (ec) return end_reading();
                             end += n;
                             drain();
                           });
  }

  void stop() {
    on_message_ = nullptr;
    on_end_ = nullptr;
  }
  void end_reading() {
    auto done = std::move(on_end_);
    stop();
    abort();
    if (done && !released_) done();
  }

  // A masked control frame to the runtime (client frames are masked), queued
  // behind any in flight.
  void send_control(unsigned op, std::string_view payload) {
    std::uint32_t key = mask_rng_();
    const auto* k = reinterpret_cast<const unsigned char*>(&key);
    out_next_.push_back(static_cast<char>(0x80 | op));
    out_next_.push_back(static_cast<char>(0x80 | payload.size()));  // control payloads are <= 125
    out_next_.append(reinterpret_cast<const char*>(k), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) out_next_.push_back(static_cast<char>(payload[i] ^ k[i % 4]));
    if (!writing_) write_queued();
  }
  void write_queued() {
    writing_ = true;
    out_.swap(out_next_);
    out_next_.clear();
    asio::async_write(stream, asio::buffer(out_),
                      [self = shared_from_this(), this](boost::system::error_code ec, std::size_t) {
                        writing_ = false;
                        if (ec) return abort();  // the read fails too: the stream is lost
                        if (!out_next_.empty()) write_queued();
                      });
  }

  Stream stream;
  WsReader reader;
  std::string in;  // bytes read, [begin, end) not yet parsed
  std::size_t begin = 0, end = 0;
  OnMessage on_message_;
  std::function<void()> on_end_;
  std::string out_, out_next_;
  bool writing_ = false;
  std::minstd_rand mask_rng_{std::random_device{}()};
};

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

// Beast's checks of a 101 to its upgrade (websocket::stream's handshake):
// HTTP/1.1, Connection: upgrade, Upgrade: websocket, the accept for our key.
// No extension was offered, so none is taken.
bool upgrade_accepted(const beast::http::response<beast::http::string_body>& res,
                      const websocket::detail::sec_ws_key_type& key) {
  if (res.version() != 11) return false;
  auto has = [&res](beast::http::field f, std::string_view token) {
    auto it = res.find(f);
    return it != res.end() && beast::http::token_list{it->value()}.exists(token);
  };
  if (!has(beast::http::field::connection, "upgrade") || !has(beast::http::field::upgrade, "websocket")) return false;
  auto it = res.find(beast::http::field::sec_websocket_accept);
  if (it == res.end()) return false;
  websocket::detail::sec_ws_accept_type accept;
  websocket::detail::make_sec_ws_accept(accept, beast::string_view(key.data(), key.size()));
  return beast::string_view(accept.data(), accept.size()) == it->value();
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

Result<Frame> read_frame(std::string_view data) {
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
      if (!tls_ctx) co_return co_await open(DialStream(io), results, deadline, std::move(tgt));
      co_return co_await open(TlsStream(DialStream(io), *tls_ctx), results, deadline, std::move(tgt));
    }

    template <class S>
    asio::awaitable<Result<std::shared_ptr<Conn>>> open(S sock, tcp::resolver::results_type results,
                                                        std::chrono::steady_clock::time_point deadline,
                                                        std::string tgt) {
      auto& low = beast::get_lowest_layer(sock);
      low.expires_at(deadline);
      auto [cec, endpoint] = co_await low.async_connect(results, use_tuple);
      if (cec) co_return fail(no_reply(is_timeout(cec) ? http::Failure::timeout : http::Failure::unreachable));
      low.socket().set_option(tcp::no_delay(true));
      if constexpr (std::is_same_v<S, TlsStream>) {
        auto& tls_layer = sock;
        if (!tls::name_peer(tls_layer, remote.endpoint.host)) co_return fail(no_reply(http::Failure::tls));
        auto [tec] = co_await tls_layer.async_handshake(ssl::stream_base::client, use_tuple);
        if (tec) co_return fail(no_reply(is_timeout(tec) ? http::Failure::timeout : http::Failure::tls));
      }
      // The upgrade, as Beast's client made it (its checks of the answer in
      // the same order), read into the connection's own buffer: frames the
      // runtime sent right after the 101 stay there for the frame loop.
      websocket::detail::sec_ws_key_type key;
      websocket::detail::make_sec_ws_key(key);
      beast::http::request<beast::http::empty_body> req{beast::http::verb::get, tgt, 11};
      const auto& h = remote.endpoint.host;  // IPv6 bracketed, for the runtime's Host check
      req.set(beast::http::field::host,
              (h.find(':') == std::string::npos ? h : "[" + h + "]") + ":" + remote.endpoint.port);
      req.set(beast::http::field::upgrade, "websocket");
      req.set(beast::http::field::connection, "Upgrade");
      req.set(beast::http::field::sec_websocket_key, beast::string_view(key.data(), key.size()));
      req.set(beast::http::field::sec_websocket_version, "13");
      req.set(beast::http::field::user_agent, "yoi-server");
      if (!remote.token.empty()) req.set(beast::http::field::authorization, "Bearer " + remote.token.expose());
      auto [wec, wn] = co_await beast::http::async_write(sock, req, use_tuple);
      if (wec) co_return fail(no_reply(handshake_failure(wec)));
      beast::flat_buffer hbuf;
      beast::http::response_parser<beast::http::string_body> parser;
      auto [rec, rn] = co_await beast::http::async_read(sock, hbuf, parser, use_tuple);
      if (rec) co_return fail(no_reply(handshake_failure(rec)));
      auto& res = parser.get();
      if (res.result() != beast::http::status::switching_protocols)  // the runtime answered, with an HTTP error
        co_return fail(upstream::map_failure(upstream::Reply{static_cast<int>(res.result_int()), res.body()}));
      if (!upgrade_accepted(res, key)) co_return fail(no_reply(http::Failure::protocol));
      low.expires_never();
      const auto rest = hbuf.data();
      const std::string_view early(static_cast<const char*>(rest.data()), rest.size());
      if constexpr (std::is_same_v<S, TlsStream>)
        co_return std::make_shared<ConnOf<TlsStream>>(std::move(sock), early, opts.max_frame);
      else
        co_return std::make_shared<ConnOf<Socket>>(low.release_socket(), early, opts.max_frame);
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
      drop_conn();
      ws = *conn;
      auto my_ws = ws;
      // The connection's callbacks hold this state by pointer: every path
      // that lets go of `ws` releases it first (drop_conn), so none runs
      // after (Conn::release).
      my_ws->on_starved([st = this, g] {
        if (st->live(g) && st->h.idle) st->h.idle();
      });
      h.connected();
      watch_idle(my_ws, g, my_ws->socket_reads(), 0);
      my_ws->read_messages(
          [st = this, g](std::string_view m) {
            if (!st->live(g)) return false;
            if (auto bad = st->dispatch(m)) {
              st->end(g, std::move(*bad));
              return false;
            }
            return st->live(g);  // a handler may have disconnected or replaced the stream
          },
          [st = this, g] { st->end(g, stream_lost()); });
    }

    // Lets go of the live connection, if any: its callbacks run no more.
    void drop_conn() {
      idle_timer.cancel();
      if (auto conn = std::move(ws)) conn->release();
      ws.reset();
    }

    // The connection `g` ended, for `why`, unless it was replaced meanwhile
    // (then the timer may be the next connection's by now).
    void end(unsigned g, Error why) {
      if (!live(g)) return;
      drop_conn();
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

    // One message of the runtime's stream to the handlers. An error ends the
    // connection.
    std::optional<Error> dispatch(std::string_view m) {
      if (auto fe = fast_event(m)) {
        h.event(fe->epoch, fe->seq, fe->event);
        return std::nullopt;
      }
      auto f = read_frame(m);
      if (!f) return f.error();
      if (f->type == "event") {
        auto epoch = epoch_of(f->obj);
        auto seq = seq_of(f->obj);
        auto* ev = f->obj.if_contains("event");
        if (!epoch || !seq || !ev || !ev->is_object()) return undecodable("event frame");
        h.event(*epoch, *seq, bj::serialize(*ev));
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
      // The first message, or the stream's end, cancels the timer.
      auto timer = std::make_shared<asio::steady_timer>(io);
      auto got = std::make_shared<std::optional<Result<StreamSnapshot>>>();
      timer->expires_after(opts.connect_timeout);
      w->read_messages(
          [timer, got](std::string_view m) {
            *got = snapshot_of(m);
            timer->cancel();
            return false;
          },
          [timer, got] {
            *got = fail(stream_lost());
            timer->cancel();
          });
      if (!*got) co_await timer->async_wait(use_tuple);  // it may have come with the upgrade
      w->release();
      if (!*got) co_return fail(no_reply(http::Failure::timeout));
      co_return std::move(**got);
    }

    static Result<StreamSnapshot> snapshot_of(std::string_view m) {
      auto f = read_frame(m);
      if (!f) return fail(f.error());
      if (f->type == "snapshot") return to_snapshot(std::move(f->obj));
      if (f->type == "diagnostic") return fail(diagnostic_of(f->obj));
      return fail(undecodable("snapshot"));
    }
  };

 public:
  RemoteUpstream(asio::io_context& io, RemoteEndpoint remote, std::string wid, const StreamOptions& opts)
      : st_(std::make_shared<State>(io, std::move(remote), std::move(wid), opts)) {}
  ~RemoteUpstream() override { disconnect(); }

  void connect(std::optional<Position> after, StreamHandlers handlers) override {
    st_->drop_conn();
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
    st_->drop_conn();
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
