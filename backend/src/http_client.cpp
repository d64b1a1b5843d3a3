#include "yoi/backend/http_client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <optional>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "tls.hpp"
#include "yoi/net/header_line.hpp"

namespace yoi::backend::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

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

// One connection: plain or TLS over a beast::tcp_stream (whose timeouts give
// us the per-request deadline).
struct Conn {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::string out;  // the request being written (its capacity is reused)
  bool reused = false;

  beast::tcp_stream& lowest() { return plain ? *plain : tls->next_layer(); }
};

TransportError terr(Failure f, std::string_view step) { return TransportError{f, std::string(step)}; }


bool is_timeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

// True when an idle pooled connection is still open: nothing has arrived on
// it (no FIN, no RST, no stray bytes). One non-blocking peek, no wait.
bool still_open(Conn& c) {
  char b;
  auto n = ::recv(c.lowest().socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

class ClientImpl final : public Client, public std::enable_shared_from_this<ClientImpl> {
 public:
  ClientImpl(asio::io_context& io, Endpoint ep, ClientOptions opts)
      : io_(io), ep_(std::move(ep)), opts_(std::move(opts)), ssl_ctx_(ssl::context::tls_client) {
    if (opts_.max_connections == 0) opts_.max_connections = 1;
    if (ep_.tls && !tls::configure_client(ssl_ctx_, opts_.ca_file))
      spdlog::warn("http client: could not load trust anchors for a runtime");
  }

  void request(Request req, std::function<void(Outcome)> done) override {
    auto refuse = [&](Failure f, std::string_view step) {
      asio::post(io_, [done = std::move(done), e = terr(f, step)] { done(tl::unexpected(e)); });
    };
    if (closed_) return refuse(Failure::cancelled, "closed");
    // Every connection busy and the queue full: say so now, send nothing.
    if (idle_.empty() && busy_ >= opts_.max_connections && waiters_.size() >= opts_.max_queued)
      return refuse(Failure::busy, "queue");
    auto self = shared_from_this();
    auto req_ptr = std::make_shared<Request>(std::move(req));
    asio::co_spawn(
        io_, [self, req_ptr]() { return self->run(req_ptr); },
        [done = std::move(done)](std::exception_ptr ep, Outcome out) {
          if (ep) {
            // A bug, not a transport condition: say so once, answer protocol.
            try {
              std::rethrow_exception(ep);
            } catch (const std::exception& e) {
              spdlog::error("http client: unexpected exception in request: {}", e.what());
            } catch (...) {
              spdlog::error("http client: unexpected exception in request");
            }
            done(tl::unexpected(terr(Failure::protocol, "internal")));
            return;
          }
          done(std::move(out));
        });
  }

  void close() override {
    closed_ = true;
    idle_.clear();
    for (auto& w : waiters_) w->timer.cancel();  // they wake, see closed_, answer cancelled
  }
  std::size_t idle_connections() const override { return idle_.size(); }
  std::size_t connections_opened() const override { return opened_; }
  std::size_t queued() const override { return waiters_.size(); }

 private:
  using clock = std::chrono::steady_clock;

  // A request waiting for a connection: woken (timer cancelled) by release()
  // with a connection, or with a free slot to open one (conn null).
  struct Waiter {
    explicit Waiter(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    bool granted = false;
    std::unique_ptr<Conn> conn;
  };

  // One slot of max_connections, held from acquire() to release(): whoever
  // holds it owns a busy connection (or the right to open one). The guard
  // gives the slot back on every path out of run(), exceptions included.
  struct Slot {
    ClientImpl* client = nullptr;
    ~Slot() {
      if (client) client->release(nullptr);
    }
    void release(std::unique_ptr<Conn> conn) {
      auto* c = std::exchange(client, nullptr);
      if (c) c->release(std::move(conn));
    }
  };

  // A pooled connection that is still open, if any (stale ones are dropped:
  // a restarted runtime closed them all), else null.
  std::unique_ptr<Conn> take_idle() {
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

  // A slot, and a pooled connection when one is open (null: open one).
  asio::awaitable<tl::expected<std::unique_ptr<Conn>, TransportError>> acquire(clock::time_point deadline) {
    if (auto c = take_idle()) {
      ++busy_;
      co_return c;
    }
    if (busy_ < opts_.max_connections) {
      ++busy_;
      co_return nullptr;
    }
    if (waiters_.size() >= opts_.max_queued) co_return tl::unexpected(terr(Failure::busy, "queue"));
    auto w = std::make_shared<Waiter>(io_);
    w->timer.expires_at(deadline);
    waiters_.push_back(w);
    co_await w->timer.async_wait(use_tuple);
    if (!w->granted) {
      std::erase(waiters_, w);
      if (closed_) co_return tl::unexpected(terr(Failure::cancelled, "closed"));
      co_return tl::unexpected(terr(Failure::timeout, "queue"));
    }
    if (closed_ || clock::now() >= deadline) {
      release(std::move(w->conn));  // pass the slot on
      co_return tl::unexpected(closed_ ? terr(Failure::cancelled, "closed") : terr(Failure::timeout, "queue"));
    }
    if (w->conn && !still_open(*w->conn)) w->conn.reset();
    if (w->conn) w->conn->reused = true;
    co_return std::move(w->conn);
  }

  // Gives a slot back with its connection (null: lost or not reusable): to
  // the first waiter, else the connection to the pool.
  void release(std::unique_ptr<Conn> conn) {
    if (conn) conn->lowest().expires_never();
    if (!waiters_.empty()) {
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w->granted = true;
      w->conn = std::move(conn);
      w->timer.cancel();
      return;  // the slot passes on: busy_ unchanged
    }
    --busy_;
    if (conn && !closed_ && idle_.size() < opts_.max_idle) idle_.push_back(std::move(conn));
  }

  static bool repeatable(const Request& r) { return r.repeatable || r.method == "GET" || r.method == "HEAD"; }

  asio::awaitable<Outcome> run(std::shared_ptr<Request> req) {
    const auto deadline = clock::now() + opts_.timeout;
    auto got = co_await acquire(deadline);
    if (!got) co_return tl::unexpected(got.error());
    Slot slot{this};
    std::unique_ptr<Conn> conn = std::move(*got);
    // A reused connection may have been closed by the server while the
    // request was on its way; if it fails before any reply byte, a request
    // that is safe to repeat goes once more on a fresh connection. The other
    // idle ones date from the same server and are as suspect (a restarted
    // runtime closed them all): the retry never takes one.
    for (int attempt = 0;; ++attempt) {
      if (!conn) {
        auto c = co_await open(deadline);
        if (!c) co_return tl::unexpected(c.error());
        conn = std::move(*c);
      }
      bool retryable = false;
      bool keep = false;
      auto out = co_await exchange(*conn, *req, deadline, retryable, keep);
      if (!out && retryable && conn->reused && attempt == 0 && repeatable(*req) && !closed_ &&
          clock::now() < deadline) {
        conn.reset();
        idle_.clear();
        continue;
      }
      slot.release(out && keep && !closed_ ? std::move(conn) : nullptr);
      co_return out;
    }
  }

  asio::awaitable<tl::expected<std::unique_ptr<Conn>, TransportError>> open(clock::time_point deadline) {
    const auto connect_deadline = std::min(deadline, clock::now() + opts_.connect_timeout);
    // DNS, raced against a timer: tcp_stream's timeout does not cover it.
    tcp::resolver resolver(io_);
    asio::steady_timer timer(io_);
    timer.expires_at(connect_deadline);
    auto race = co_await (resolver.async_resolve(ep_.host, ep_.port, use_tuple) ||
                          timer.async_wait(use_tuple));
    if (race.index() == 1) co_return tl::unexpected(terr(Failure::timeout, "resolve"));
    auto [rec, results] = std::get<0>(race);
    if (rec || results.empty()) co_return tl::unexpected(terr(Failure::unreachable, "resolve"));

    auto conn = std::make_unique<Conn>();
    if (ep_.tls)
      conn->tls.emplace(io_, ssl_ctx_);
    else
      conn->plain.emplace(io_);
    auto& low = conn->lowest();
    low.expires_at(connect_deadline);
    auto [cec, endpoint] = co_await low.async_connect(results, use_tuple);
    if (cec)
      co_return tl::unexpected(terr(is_timeout(cec) ? Failure::timeout : Failure::unreachable, "connect"));
    low.socket().set_option(tcp::no_delay(true));
    ++opened_;

    if (ep_.tls) {
      if (!tls::name_peer(*conn->tls, ep_.host)) co_return tl::unexpected(terr(Failure::tls, "tls"));
      low.expires_at(deadline);
      auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, use_tuple);
      if (hec)
        co_return tl::unexpected(terr(is_timeout(hec) ? Failure::timeout : Failure::tls, "tls"));
    }
    co_return conn;
  }

  template <class Stream>
  asio::awaitable<Outcome> exchange_on(Stream& stream, Conn& conn, const Request& req,
                                       clock::time_point deadline, bool& retryable, bool& keep) {
    auto& low = conn.lowest();
    low.expires_at(deadline);

    // The request is formatted into one buffer and written with one
    // async_write (Beast's serializer costs several times the formatting of
    // these few lines; see docs/BENCHMARKS.md, issue 10). Same fields as
    // before: Host, User-Agent, Accept, Authorization, extra headers, and
    // Content-Type/Content-Length when there is a body (or a POST/PUT).
    std::string& wire = conn.out;
    wire.clear();
    const bool has_body = !req.body.empty() || req.method == "POST" || req.method == "PUT";
    wire.reserve(256 + req.body.size());
    wire += req.method;
    wire += ' ';
    wire += ep_.base_path;
    wire += req.target;
    wire += " HTTP/1.1";
    // IPv6 literals bracketed: the runtime's Host check reads "[::1]".
    net::append_header_line(wire, "Host", ep_.host.find(':') == std::string::npos ? ep_.host : "[" + ep_.host + "]");
    net::append_header_line(wire, "User-Agent", "yoi-server");
    net::append_header_line(wire, "Accept", "application/json");
    if (req.bearer && !req.bearer->empty()) {
      wire += "\r\nAuthorization: Bearer ";
      wire += req.bearer->expose();
    }
    for (const auto& [k, v] : req.headers) net::append_header_line(wire, k, v);
    if (has_body) {
      net::append_header_line(wire, "Content-Type", req.content_type);
      net::append_header_line(wire, "Content-Length", std::to_string(req.body.size()));
    }
    wire += "\r\n\r\n";
    if (has_body) wire += req.body;

    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(wire), use_tuple);
    if (wec) {
      retryable = !is_timeout(wec);
      co_return tl::unexpected(terr(is_timeout(wec) ? Failure::timeout : Failure::unreachable, "write"));
    }

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(opts_.max_response_bytes);
    parser.header_limit(64 * 1024);
    auto [rec, rn] = co_await bhttp::async_read(stream, conn.buffer, parser, use_tuple);
    if (rec) {
      if (is_timeout(rec)) co_return tl::unexpected(terr(Failure::timeout, "read"));
      if (rec == bhttp::error::body_limit || rec == bhttp::error::header_limit ||
          rec == bhttp::error::buffer_overflow)
        co_return tl::unexpected(terr(Failure::too_large, "read"));
      const bool nothing = rn == 0 && !parser.got_some();
      if (rec == bhttp::error::end_of_stream || rec == asio::error::eof ||
          rec == asio::error::connection_reset || rec == asio::error::broken_pipe ||
          rec == ssl::error::stream_truncated) {
        retryable = nothing;
        co_return tl::unexpected(terr(Failure::unreachable, "read"));
      }
      co_return tl::unexpected(terr(Failure::protocol, "read"));
    }
    auto res = parser.release();
    Response out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[bhttp::field::content_type]);
    out.body = std::move(res.body());
    keep = res.keep_alive() && !res.need_eof();
    co_return std::move(out);
  }

  asio::awaitable<Outcome> exchange(Conn& conn, const Request& req, clock::time_point deadline,
                                    bool& retryable, bool& keep) {
    if (conn.plain) co_return co_await exchange_on(*conn.plain, conn, req, deadline, retryable, keep);
    co_return co_await exchange_on(*conn.tls, conn, req, deadline, retryable, keep);
  }

 private:
  asio::io_context& io_;
  Endpoint ep_;
  ClientOptions opts_;
  ssl::context ssl_ctx_;
  std::deque<std::unique_ptr<Conn>> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
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
