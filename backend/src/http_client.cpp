#include "yoi/backend/http_client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <deque>
#include <optional>
#include <variant>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "tls.hpp"
#include "yoi/net/header_line.hpp"
#include "yoi/net/send_now.hpp"

namespace yoi::backend::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::unreachable: return "unreachable";
    case Failure::timeout: return "timeout";
    case Failure::tls: return "tls";
    case Failure::too_large: return "too_large";
    case Failure::protocol: return "protocol";
    case Failure::cancelled: return "cancelled";
    case Failure::busy: return "busy";
  }
  return "unknown";
}

Result<Endpoint> parse_base_url(const Secret& url) {
  auto bad = [](std::string_view why) {
    return fail(Code::config_invalid, fmt::format("base_url {}", why));
  };
  auto r = boost::urls::parse_absolute_uri(url.expose());
  if (!r) return bad("is not an absolute URL");
  Endpoint e;
  if (r->scheme() == "http")
    e.tls = false;
  else if (r->scheme() == "https")
    e.tls = true;
  else
    return bad("must use http or https");
  if (!r->has_authority() || r->host().empty()) return bad("has no host");
  if (r->has_userinfo()) return bad("must not carry credentials");
  if (r->has_query() || r->has_fragment()) return bad("must not have a query or fragment");
  // IPv6 literals come as "[::1]"; the resolver wants them bare.
  e.host = r->host_type() == boost::urls::host_type::ipv6 ? std::string(r->encoded_host_address())
                                                          : std::string(r->host());
  if (r->host_type() == boost::urls::host_type::ipv6) {
    if (e.host.size() >= 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  }
  e.port = r->has_port() ? std::string(r->port()) : (e.tls ? "443" : "80");
  if (e.port.empty()) return bad("has an empty port");
  e.base_path = std::string(r->encoded_path());
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  return e;
}

namespace {

using executor = asio::io_context::executor_type;
using socket_t = asio::basic_stream_socket<tcp, executor>;
using tls_t = ssl::stream<socket_t>;
using resolver_t = asio::ip::basic_resolver<tcp, executor>;
using std::chrono::steady_clock;
using Timer = asio::basic_waitable_timer<steady_clock, asio::wait_traits<steady_clock>, executor>;
using error_code = boost::system::error_code;
constexpr auto never = steady_clock::time_point::max();

TransportError terr(Failure f, std::string_view step) { return TransportError{f, std::string(step)}; }

// The reply as the client needs it: status, Content-Type (the first one),
// the body; Beast's basic_parser does the grammar (chunked, keep-alive,
// need_eof) and the limits. Fed with put(), no Beast stream underneath.
class ReplyParser final : public bhttp::basic_parser<false> {
 public:
  int status = 0;
  std::string content_type;
  std::string body;

 private:
  bool have_type_ = false;
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status = code; }
  void on_field_impl(bhttp::field name, beast::string_view, beast::string_view value, error_code&) override {
    if (name == bhttp::field::content_type && !have_type_) {
      have_type_ = true;
      content_type.assign(value.data(), value.size());
    }
  }
  void on_header_impl(error_code&) override {}
  // The length is within body_limit here (basic_parser checks it first).
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view s, error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(error_code&) override {}
};

// One connection, plain or TLS, with its deadline. One timer per connection,
// armed lazily: it is re-armed only when it would fire after the deadline of
// the operation in flight (a fresh connection, or one idle past its last
// deadline); on a warm pooled connection it stays armed at an older, earlier
// deadline, and when it fires it re-arms to the current one. So a request
// on a warm connection sets no timer at all (no timerfd_settime).
struct Conn : std::enable_shared_from_this<Conn> {
  explicit Conn(executor ex) : timer(ex) {}

  std::optional<socket_t> plain;
  std::optional<tls_t> tls;
  std::optional<resolver_t> resolver;  // while dialing
  Timer timer;
  steady_clock::time_point armed = never;     // when the timer fires; never: not waiting
  steady_clock::time_point deadline = never;  // of the request on it; never: idle
  bool expired = false;                // the deadline passed: the socket was closed
  beast::flat_buffer buffer;           // reply bytes read, not yet parsed
  std::string out;                     // the request being written (capacity reused)
  bool reused = false;

  socket_t& lowest() { return plain ? *plain : tls->next_layer(); }

  void set_deadline(steady_clock::time_point d) {
    deadline = d;
    if (d >= armed) return;  // the timer fires earlier and re-arms then
    armed = d;
    timer.expires_at(d);
    timer.async_wait([w = weak_from_this()](error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // re-armed or destroyed
      if (auto c = w.lock()) c->on_timer();
    });
  }

  void on_timer() {
    armed = never;
    if (deadline == never) return;  // idle: nothing to bound
    if (steady_clock::now() < deadline) return set_deadline(deadline);
    // Past the deadline: close the socket; the operation in flight ends
    // with an error the request reads as a timeout.
    expired = true;
    error_code ignored;
    if (resolver) resolver->cancel();
    if (plain || tls) lowest().close(ignored);
  }
};

// True when an idle pooled connection is still open: nothing has arrived on
// it (no FIN, no RST, no stray bytes). One non-blocking peek, no wait.
bool still_open(Conn& c) {
  char b;
  auto n = ::recv(c.lowest().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool ends_the_stream(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

class ClientImpl;

// One request, from request() to its answer. Every handler holds it; it
// holds the connection while one is in use.
struct Call {
  Call(Request r, std::function<void(Outcome)> d) : req(std::move(r)), done(std::move(d)) {}
  Request req;
  std::function<void(Outcome)> done;
  steady_clock::time_point deadline;
  std::shared_ptr<Conn> conn;
  std::optional<ReplyParser> parser;
  std::size_t received = 0;  // bytes of the reply read on this attempt
  int attempt = 0;
  // Waiting for a connection: woken (timer cancelled) by release() with a
  // connection, or with a free slot to open one (conn null).
  std::optional<Timer> queue_timer;
  bool granted = false;
};

class ClientImpl final : public Client, public std::enable_shared_from_this<ClientImpl> {
 public:
  ClientImpl(asio::io_context& io, Endpoint ep, ClientOptions opts)
      : io_(io), ep_(std::move(ep)), opts_(std::move(opts)), ssl_ctx_(ssl::context::tls_client) {
    if (opts_.max_connections == 0) opts_.max_connections = 1;
    if (ep_.tls && !tls::configure_client(ssl_ctx_, opts_.ca_file))
      spdlog::warn("http client: could not load trust anchors for a runtime");
    // The fields every request carries, formatted once. IPv6 literals
    // bracketed: the runtime's Host check reads "[::1]".
    net::append_header_line(fixed_fields_, "Host",
                            ep_.host.find(':') == std::string::npos ? ep_.host : "[" + ep_.host + "]");
    net::append_header_line(fixed_fields_, "User-Agent", "yoi-server");
    net::append_header_line(fixed_fields_, "Accept", "application/json");
  }

  void request(Request req, std::function<void(Outcome)> done) override {
    auto refuse = [&](Failure f, std::string_view step) {
      asio::post(io_, [done = std::move(done), e = terr(f, step)] { done(tl::unexpected(e)); });
    };
    if (closed_) return refuse(Failure::cancelled, "closed");
    // Every connection busy and the queue full: say so now, send nothing.
    if (idle_.empty() && busy_ >= opts_.max_connections && waiters_.size() >= opts_.max_queued)
      return refuse(Failure::busy, "queue");
    auto c = std::make_shared<Call>(std::move(req), std::move(done));
    c->deadline = steady_clock::now() + opts_.timeout;
    acquire(c);
  }

  void close() override {
    closed_ = true;
    idle_.clear();
    for (auto& w : waiters_) w->queue_timer->cancel();  // they wake, see closed_, answer cancelled
  }
  std::size_t idle_connections() const override { return idle_.size(); }
  std::size_t connections_opened() const override { return opened_; }
  std::size_t queued() const override { return waiters_.size(); }

 private:
  using CallPtr = std::shared_ptr<Call>;

  // ---- slots: max_connections, held from acquire() to finish() ----

  // A pooled connection that is still open, if any (stale ones are dropped:
  // a restarted runtime closed them all), else null.
  std::shared_ptr<Conn> take_idle() {
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (still_open(*c)) {
        c->reused = true;
        return c;
      }
    }
    return nullptr;
  }

  // A slot, and a pooled connection when one is open (else one is opened);
  // or a place in the queue.
  void acquire(const CallPtr& c) {
    if (auto conn = take_idle()) {
      ++busy_;
      c->conn = std::move(conn);
      return send(c);
    }
    if (busy_ < opts_.max_connections) {
      ++busy_;
      return dial(c);
    }
    c->queue_timer.emplace(io_.get_executor());
    c->queue_timer->expires_at(c->deadline);
    waiters_.push_back(c);
    c->queue_timer->async_wait([self = shared_from_this(), c](error_code) { self->dequeued(c); });
  }

  void dequeued(const CallPtr& c) {
    if (!c->granted) {
      std::erase(waiters_, c);
      return answer(c, tl::unexpected(closed_ ? terr(Failure::cancelled, "closed") : terr(Failure::timeout, "queue")));
    }
    if (closed_ || steady_clock::now() >= c->deadline) {
      release(std::move(c->conn));  // pass the slot on
      return answer(c, tl::unexpected(closed_ ? terr(Failure::cancelled, "closed") : terr(Failure::timeout, "queue")));
    }
    if (c->conn && !still_open(*c->conn)) c->conn.reset();
    if (!c->conn) return dial(c);
    c->conn->reused = true;
    send(c);
  }

  // Gives a slot back with its connection (null: lost or not reusable): to
  // the first waiter, else the connection to the pool.
  void release(std::shared_ptr<Conn> conn) {
    if (conn) conn->deadline = never;
    if (!waiters_.empty()) {
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w->granted = true;
      w->conn = std::move(conn);
      w->queue_timer->cancel();
      return;  // the slot passes on: busy_ unchanged
    }
    --busy_;
    if (conn && !closed_ && idle_.size() < opts_.max_idle) idle_.push_back(std::move(conn));
  }

  // The end of a request that held a slot: the slot back (the connection
  // with it when `keep`), then the answer.
  void finish(const CallPtr& c, Outcome out, bool keep) {
    auto conn = std::move(c->conn);
    release(out && keep && !closed_ ? std::move(conn) : nullptr);
    answer(c, std::move(out));
  }

  static void answer(const CallPtr& c, Outcome out) {
    auto done = std::move(c->done);
    done(std::move(out));
  }

  static bool repeatable(const Request& r) { return r.repeatable || r.method == "GET" || r.method == "HEAD"; }

  // A failure on the connection. A reused connection may have been closed by
  // the server while the request was on its way; if it fails before any
  // reply byte, a request that is safe to repeat goes once more on a fresh
  // connection. The other idle ones date from the same server and are as
  // suspect (a restarted runtime closed them all): the retry never takes one.
  void failed(const CallPtr& c, Failure f, std::string_view step, bool retryable) {
    if (retryable && c->conn && c->conn->reused && c->attempt == 0 && repeatable(c->req) && !closed_ &&
        steady_clock::now() < c->deadline) {
      c->conn.reset();
      idle_.clear();
      ++c->attempt;
      return dial(c);
    }
    finish(c, tl::unexpected(terr(f, step)), false);
  }

  // ---- dialing: DNS (bounded by the connection's timer, which tcp
  // timeouts would not cover), connect, TLS ----

  void dial(const CallPtr& c) {
    auto conn = std::make_shared<Conn>(io_.get_executor());
    c->conn = conn;
    conn->set_deadline(std::min(c->deadline, steady_clock::now() + opts_.connect_timeout));
    conn->resolver.emplace(io_.get_executor());
    conn->resolver->async_resolve(
        ep_.host, ep_.port, [self = shared_from_this(), c](error_code ec, tcp::resolver::results_type results) {
          self->resolved(c, ec, std::move(results));
        });
  }

  void resolved(const CallPtr& c, error_code ec, const tcp::resolver::results_type& results) {
    auto& conn = *c->conn;
    conn.resolver.reset();
    if (conn.expired) return failed(c, Failure::timeout, "resolve", false);
    if (ec || results.empty()) return failed(c, Failure::unreachable, "resolve", false);
    if (ep_.tls)
      conn.tls.emplace(io_.get_executor(), ssl_ctx_);
    else
      conn.plain.emplace(io_.get_executor());
    // Past the deadline no further address is tried (the timer closed the
    // socket; async_connect would open it again for the next one).
    auto* raw = &conn;
    asio::async_connect(
        conn.lowest(), results, [raw](const error_code&, const tcp::endpoint&) { return !raw->expired; },
        [self = shared_from_this(), c](error_code ec, const tcp::endpoint&) { self->connected(c, ec); });
  }

  void connected(const CallPtr& c, error_code ec) {
    auto& conn = *c->conn;
    if (conn.expired) return failed(c, Failure::timeout, "connect", false);
    if (ec) return failed(c, Failure::unreachable, "connect", false);
    error_code ignored;
    conn.lowest().set_option(tcp::no_delay(true), ignored);
    ++opened_;
    if (!ep_.tls) return send(c);
    if (!tls::name_peer(*conn.tls, ep_.host)) return failed(c, Failure::tls, "tls", false);
    conn.set_deadline(c->deadline);
    conn.tls->async_handshake(ssl::stream_base::client, [self = shared_from_this(), c](error_code ec) {
      if (c->conn->expired) return self->failed(c, Failure::timeout, "tls", false);
      if (ec) return self->failed(c, Failure::tls, "tls", false);
      self->send(c);
    });
  }

  // ---- the exchange: one write, then reads fed to the parser ----

  // The request is formatted into one buffer and written with one
  // async_write (Beast's serializer costs several times the formatting of
  // these few lines; see docs/BENCHMARKS.md, issue 10). Same fields as
  // before: Host, User-Agent, Accept, Authorization, extra headers, and
  // Content-Type/Content-Length when there is a body (or a POST/PUT).
  void format(const Request& req, std::string& wire) const {
    wire.clear();
    const bool has_body = !req.body.empty() || req.method == "POST" || req.method == "PUT";
    wire.reserve(256 + req.body.size());
    wire += req.method;
    wire += ' ';
    wire += ep_.base_path;
    wire += req.target;
    wire += " HTTP/1.1";
    wire += fixed_fields_;
    if (req.bearer && !req.bearer->empty()) {
      wire += "\r\nAuthorization: Bearer ";
      wire += req.bearer->expose();
    }
    for (const auto& [k, v] : req.headers) net::append_header_line(wire, k, v);
    if (has_body) {
      net::append_header_line(wire, "Content-Type", req.content_type);
      char len[24];
      auto [end, ec] = std::to_chars(len, len + sizeof len, req.body.size());
      net::append_header_line(wire, "Content-Length", std::string_view(len, static_cast<std::size_t>(end - len)));
    }
    wire += "\r\n\r\n";
    if (has_body) wire += req.body;
  }

  void send(const CallPtr& c) {
    auto& conn = *c->conn;
    conn.set_deadline(c->deadline);
    format(c->req, conn.out);
    auto on_written = [self = shared_from_this(), c](error_code ec, std::size_t) {
      if (c->conn->expired) return self->failed(c, Failure::timeout, "write", false);
      if (ec) return self->failed(c, Failure::unreachable, "write", true);
      self->start_reply(c);
    };
    if (conn.plain) {
      // What the socket takes at once needs no completion (send_now.hpp).
      const std::size_t sent = net::send_now(*conn.plain, asio::buffer(conn.out));
      if (sent == conn.out.size()) return start_reply(c);
      asio::async_write(*conn.plain, asio::buffer(conn.out) + sent, std::move(on_written));
    } else {
      asio::async_write(*conn.tls, asio::buffer(conn.out), std::move(on_written));
    }
  }

  void start_reply(const CallPtr& c) {
    c->received = 0;
    auto& p = c->parser.emplace();
    p.eager(true);
    p.body_limit(opts_.max_response_bytes);
    p.header_limit(64 * 1024);
    parse(c);
  }

  // Feeds the buffered bytes to the parser; reads more while it needs them.
  void parse(const CallPtr& c) {
    auto& conn = *c->conn;
    auto& p = *c->parser;
    while (conn.buffer.size() > 0) {
      error_code ec;
      auto used = p.put(conn.buffer.data(), ec);
      conn.buffer.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return parse_failed(c, ec);
      if (p.is_done()) return parsed(c);
      if (used == 0) break;
    }
    // The header is bounded by header_limit, the body by body_limit, both
    // checked by put(); 64 KiB at most per read.
    auto space = conn.buffer.prepare(beast::read_size(conn.buffer, 64 * 1024));
    auto on_read = [self = shared_from_this(), c](error_code ec, std::size_t n) { self->got(c, ec, n); };
    if (conn.plain)
      conn.plain->async_read_some(space, std::move(on_read));
    else
      conn.tls->async_read_some(space, std::move(on_read));
  }

  void got(const CallPtr& c, error_code ec, std::size_t n) {
    auto& conn = *c->conn;
    auto& p = *c->parser;
    conn.buffer.commit(n);
    c->received += n;
    if (conn.expired) return failed(c, Failure::timeout, "read", false);
    if (ec) {
      // A reply without a length ends with the stream; a cut one is cut.
      if (ec == asio::error::eof && p.got_some()) {
        error_code eof;
        p.put_eof(eof);
        if (eof) return failed(c, Failure::protocol, "read", false);
        return parsed(c);
      }
      // Retryable only when no byte of the reply arrived.
      if (ends_the_stream(ec)) return failed(c, Failure::unreachable, "read", c->received == 0 && !p.got_some());
      return failed(c, Failure::protocol, "read", false);
    }
    parse(c);
  }

  void parse_failed(const CallPtr& c, error_code ec) {
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
      return failed(c, Failure::too_large, "read", false);
    failed(c, Failure::protocol, "read", false);
  }

  void parsed(const CallPtr& c) {
    auto& p = *c->parser;
    // Bytes after the reply (nothing was asked for them) would be read as
    // the next request's reply: such a connection is not pooled. So a
    // pooled connection starts each reply with an empty buffer, and no
    // reply can complete inside request().
    const bool keep = p.keep_alive() && !p.need_eof() && c->conn->buffer.size() == 0;
    Response out;
    out.status = p.status;
    out.content_type = std::move(p.content_type);
    out.body = std::move(p.body);
    out.retried = c->attempt > 0;
    c->parser.reset();
    finish(c, std::move(out), keep);
  }

  asio::io_context& io_;
  Endpoint ep_;
  ClientOptions opts_;
  ssl::context ssl_ctx_;
  std::string fixed_fields_;  // "\r\nHost: …\r\nUser-Agent: …\r\nAccept: …"
  std::deque<std::shared_ptr<Conn>> idle_;
  std::deque<CallPtr> waiters_;
  std::size_t busy_ = 0;  // slots held: connections in use or being opened
  std::size_t opened_ = 0;
  bool closed_ = false;
};

}  // namespace


Result<std::shared_ptr<Client>> Client::make(asio::io_context& io, const Secret& base_url,
                                             ClientOptions options) {
  auto ep = parse_base_url(base_url);
  if (!ep) return fail(ep.error());
  return std::shared_ptr<Client>(std::make_shared<ClientImpl>(io, std::move(*ep), std::move(options)));
}

}  // namespace yoi::backend::http
