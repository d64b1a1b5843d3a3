#include "http_conn.hpp"

#include <cstring>
#include <exception>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fail.hpp"
#include "ws_session.hpp"
#include "yoi/net/send_now.hpp"

namespace yoi::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// A handler's Respond holds this; the connection waiting for the answer
// points back at it. Whichever comes first ends the wait once: the answer,
// the last Respond copy dropped unanswered (500), or the connection giving
// up (its deadline, force_close, its end), which detaches `conn` so a late
// answer goes into the void.
struct Answer {
  HttpConn* conn = nullptr;
  void give(Response r) {
    if (auto* c = std::exchange(conn, nullptr)) {
      c->answer_ = nullptr;
      c->answered(std::move(r));
    }
  }
  ~Answer() {
    if (conn) give(Response::error(Error{Code::internal, "the handler did not answer"}));
  }
};

namespace {

// Lingering close after an early 413: at most this long, this many bytes.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kLingerBytes = 16u << 20;

// The read buffer: its first size, the least room worth a read, and how far
// past the header limit it may grow (the body is consumed as it arrives;
// only a header, or a chunk header, waits in it whole).
constexpr std::size_t kFirstRead = 8192;
constexpr std::size_t kMinRead = 2048;
constexpr std::size_t kBufferSlack = 64 * 1024;

// A body this large is not kept for the connection's next request.
constexpr std::size_t kKeepBodyCapacity = 64 * 1024;

bool is_too_large(const error_code& ec) {
  return ec == http::error::header_limit || ec == http::error::body_limit;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The Beast request a WebSocket handshake wants (the rare upgrade path).
http::request<http::string_body> to_message(const Request& req, unsigned version) {
  http::request<http::string_body> msg;
  msg.method_string(req.method);
  msg.target(req.target);
  msg.version(version);
  for (const auto& [name, value] : req.headers) msg.insert(name, value);
  return msg;
}

// The handshake, after which the connection is done (the session counts in
// the server from its construction on).
asio::awaitable<void> handshake(std::shared_ptr<HttpServer::Impl> srv,
                                std::shared_ptr<WsSession> session,
                                http::request<http::string_body> msg, WsAccept accept,
                                const Router::Match* route, std::string method,
                                std::chrono::steady_clock::time_point start,
                                std::shared_ptr<HttpConn> keep) {
  const auto ec = co_await session->accept(msg, accept.subprotocol);
  srv->record(route, method, ec ? 400 : 101, seconds_since(start));
  keep.reset();
  if (ec) {
    fail(ec, "websocket handshake");
    session->finish(1006, true);
    co_return;
  }
  if (accept.on_open) accept.on_open(session);
  session->start();
}

}  // namespace

HttpConn::HttpConn(std::shared_ptr<HttpServer::Impl> srv, Socket sock)
    : srv_(std::move(srv)), sock_(std::move(sock)), timer_(srv_->io.get_executor()) {
  error_code ec;  // a peer already gone: no address to show, and the first read finds out
  auto ep = sock_.remote_endpoint(ec);
  if (!ec) remote_ = fmt::format("{}:{}", ep.address().to_string(), ep.port());
  req_.remote = remote_;
  srv_->conns.insert(this);
  srv_->update_gauges();
}

HttpConn::~HttpConn() {
  if (answer_) answer_->conn = nullptr;
  srv_->conns.erase(this);
  srv_->update_gauges();
  srv_->maybe_drained();
}

void HttpConn::start() {
  next_request();
}

void HttpConn::force_close() {
  const bool answering = answer_ && !in_handler_;
  close();
  // As at the deadline, the request gets its 500, which fails to write on
  // the closed socket and is recorded.
  if (answering)
    write_response(Response::error(Error{Code::internal, "the request deadline passed"}));
}

void HttpConn::shutdown_idle() {
  if (!busy_ && !upgraded_) force_close();
}

void HttpConn::close() {
  closed_ = true;
  if (answer_) std::exchange(answer_, nullptr)->conn = nullptr;
  error_code ignored;  // closing a socket already closed: nothing to do
  sock_.close(ignored);
  disarm();
}

// ---- reading and parsing ----

void HttpConn::next_request() {
  busy_ = false;
  if (srv_->stopping || closed_) return close();
  header_done_ = false;
  continue_sent_ = false;
  route_ = nullptr;
  req_.path.clear();
  req_.query.clear();
  req_.params.clear();
  req_.route.clear();
  if (req_.body.capacity() > kKeepBodyCapacity) std::string().swap(req_.body);
  parser_.emplace(req_, static_cast<std::uint32_t>(srv_->opts.max_header_bytes),
                  srv_->opts.max_body_bytes);
  if (begin_ < end_) return parse();  // pipelined: the next request is here already
  expect(Wait::idle, Clock::now() + srv_->opts.keep_alive_timeout);
  read();
}

bool HttpConn::make_room() {
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.empty()) buf_.resize(kFirstRead);
  if (buf_.size() - end_ >= kMinRead) return true;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buf_.size() - end_ >= kMinRead) return true;
  }
  if (buf_.size() >= srv_->opts.max_header_bytes + kBufferSlack) return false;
  buf_.resize(buf_.size() * 2);
  return true;
}

void HttpConn::read() {
  if (!make_room()) {
    spdlog::debug("net: a request's unparsed bytes passed {} bytes", buf_.size());
    return close();
  }
  sock_.async_read_some(
      asio::buffer(buf_.data() + end_, buf_.size() - end_),
      [this, self = shared_from_this()](const error_code& ec, std::size_t n) { on_read(ec, n); });
}

void HttpConn::on_read(const error_code& ec, std::size_t n) {
  if (ec) {
    fail(ec, header_done_ ? "read request body" : "read request header");
    return close();
  }
  end_ += n;
  parse();
}

// Feeds what the buffer holds to the parser; dispatches a whole request,
// else reads on (the header deadline starts with the request's first byte,
// the body's with the end of the header).
void HttpConn::parse() {
  error_code ec;
  while (begin_ < end_ && !parser_->is_done()) {
    const auto used = parser_->put(asio::const_buffer(buf_.data() + begin_, end_ - begin_), ec);
    begin_ += used;
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec) break;
    if (used == 0) break;
  }
  if (!header_done_ && parser_->is_header_done()) {
    header_done_ = true;
    busy_ = true;
    start_ = Clock::now();
    version_ = parser_->version();
    if (!ec && !parser_->is_done()) expect(Wait::body, start_ + srv_->opts.read_timeout);
    // curl and others wait for this before sending a body.
    if (!ec && parser_->expects_continue() && !continue_sent_) {
      continue_sent_ = true;
      static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(sock_, asio::buffer(cont),
                        [this, self = shared_from_this()](const error_code& wec, std::size_t) {
                          if (wec) {
                            fail(wec, "read request body");
                            return close();
                          }
                          if (parser_->is_done()) return dispatch();
                          read();
                        });
      return;
    }
  }
  if (ec) {
    if (is_too_large(ec)) return refuse_too_large(ec);
    fail(ec, header_done_ ? "read request body" : "read request header");
    return close();
  }
  if (parser_->is_done()) return dispatch();
  if (!header_done_ && wait_ != Wait::header)
    expect(Wait::header, Clock::now() + srv_->opts.header_timeout);
  read();
}

// 413 before the request was read to its end (header or body over its
// limit); the connection then closes, after a lingering read. The method is
// "?" when the header was not read.
void HttpConn::refuse_too_large(const error_code& ec) {
  busy_ = true;
  const auto& opts = srv_->opts;
  const Error e{Code::payload_too_large,
                ec == http::error::header_limit
                    ? fmt::format("request headers exceed {} bytes", opts.max_header_bytes)
                    : fmt::format("request body exceeds {} bytes", opts.max_body_bytes)};
  if (!header_done_) version_ = 11;
  srv_->record(nullptr, header_done_ ? std::string_view(req_.method) : std::string_view("?"), 413,
               0);
  refused_ = true;
  keep_alive_ = false;
  write_response(Response::error(e));
}

// ---- answering ----

void HttpConn::dispatch() {
  keep_alive_ = parser_->keep_alive();
  // Beast's own test of a WebSocket upgrade, on a message built only when
  // the Connection header names "upgrade".
  std::optional<http::request<http::string_body>> msg;
  bool upgrade_asked = false;
  if (parser_->upgrade()) {
    msg.emplace(to_message(req_, version_));
    upgrade_asked = beast::websocket::is_upgrade(*msg);
  }
  Routing routing = route_request(srv_->router, srv_->opts, req_, upgrade_asked, srv_->stopping);
  route_ = routing.route;
  if (routing.accept) return upgrade(routing, std::move(*msg));  // only when upgrade_asked
  if (routing.answer) return write_response(*routing.answer);

  auto answer = std::make_shared<Answer>();
  answer->conn = this;
  answer_ = answer.get();
  in_handler_ = true;
  try {
    routing.route->handler(req_, [a = std::move(answer)](Response r) { a->give(std::move(r)); });
  } catch (const std::exception& x) {
    spdlog::error("net: handler for {} threw: {}", routing.route->pattern, x.what());
    if (answer_) {
      std::exchange(answer_, nullptr)->conn = nullptr;
      early_ = Response::error(Error{Code::internal, "internal error"});
    }
  }
  in_handler_ = false;
  if (early_) {
    Response r = std::move(*early_);
    early_.reset();
    return write_response(r);
  }
  if (answer_) expect(Wait::handler, Clock::now() + srv_->opts.request_deadline);
}

// From Answer: the handler's response (or the 500 for a dropped Respond).
void HttpConn::answered(Response r) {
  if (in_handler_) {
    early_ = std::move(r);  // written once the handler returns
    return;
  }
  write_response(r);
}

// The response is formatted into one buffer and written with one write.
// (Beast's serializer walks a buffers_cat of every field and the body per
// write: about a fifth of the instructions of a proxied GET in callgrind;
// the head here is a few short lines.) What the socket takes at once needs
// no completion (send_now.hpp); the rest goes by async_write. A pipelined
// request already buffered always goes by async_write, so that answering
// it cannot recurse into the next one.
void HttpConn::write_response(const Response& r) {
  status_ = r.status;
  keep_ = keep_alive_ && !srv_->stopping && status_ != 413;
  format_response(out_, r, version_, keep_, srv_->opts.server_name);
  const std::size_t sent = begin_ == end_ ? send_now(sock_, asio::buffer(out_)) : 0;
  if (sent == out_.size()) return on_written({});
  expect(Wait::write, Clock::now() + srv_->opts.read_timeout);
  asio::async_write(
      sock_, asio::buffer(out_) + sent,
      [this, self = shared_from_this()](const error_code& ec, std::size_t) { on_written(ec); });
}

void HttpConn::on_written(const error_code& ec) {
  if (refused_) {
    if (ec) {
      fail(ec, "write response");
      return close();
    }
    return linger();
  }
  srv_->record(route_, req_.method, status_, seconds_since(start_));
  if (ec) {
    fail(ec, "write response");
    return close();
  }
  if (!keep_) {
    error_code ignored;  // the peer may have gone already; we are done either way
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
    return close();
  }
  next_request();
}

// After answering before the request was read to its end (413): stop
// sending, then discard what the client still sends, for a bounded time
// and amount, so that closing does not reset the connection (and drop our
// answer from the client's receive buffer) while it is still writing.
void HttpConn::linger() {
  if (wait_ != Wait::linger) {
    error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
    expect(Wait::linger, Clock::now() + kLingerTime);
    if (buf_.size() < kFirstRead) buf_.resize(kFirstRead);
  }
  if (lingered_ >= kLingerBytes) return close();
  sock_.async_read_some(
      asio::buffer(buf_), [this, self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (ec) {
          fail(ec, "linger after 413");  // ends with the client's EOF or our deadline
          return close();
        }
        lingered_ += n;
        linger();
      });
}

// The socket goes to a WsSession; this connection ends once the handshake
// is done.
void HttpConn::upgrade(Routing& routing, http::request<http::string_body> msg) {
  upgraded_ = true;
  disarm();
  auto session =
      std::make_shared<WsSession>(srv_, beast::tcp_stream(tcp::socket(std::move(sock_))));
  auto accept = std::move(*routing.accept);
  asio::co_spawn(srv_->io,
                 handshake(srv_, std::move(session), std::move(msg), std::move(accept), route_,
                           req_.method, start_, shared_from_this()),
                 log_exceptions("websocket handshake"));
}

// ---- the deadline ----

// Sets the one deadline. The timer is re-armed only when the new deadline is
// earlier than the armed one: a later one is found when the timer fires
// (on_timer re-arms then). So a keep-alive request, whose deadlines move
// forward, normally costs no timer system call.
void HttpConn::expect(Wait what, Clock::time_point deadline) {
  if (closed_) return;  // nothing left to time: the operation fails at once
  wait_ = what;
  deadline_ = deadline;
  if (!armed_ || deadline < armed_at_) arm(deadline);
}

void HttpConn::arm(Clock::time_point at) {
  armed_ = true;
  armed_at_ = at;
  const auto gen = ++gen_;
  timer_.expires_at(at);  // a wait it cancels completes with an old gen
  timer_.async_wait(
      [this, self = shared_from_this(), gen](const error_code& ec) { on_timer(ec, gen); });
}

// No deadline any more: the wait pending on the timer (which holds the
// connection) ends now.
void HttpConn::disarm() {
  wait_ = Wait::none;
  if (!armed_) return;
  armed_ = false;
  ++gen_;
  timer_.cancel();
}

void HttpConn::on_timer(const error_code& ec, std::uint32_t gen) {
  if (gen != gen_) return;  // superseded by a later arm() or close()
  armed_ = false;
  if (ec || wait_ == Wait::none) return;
  if (Clock::now() < deadline_) return arm(deadline_);
  expired();
}

// The deadline passed: a handler's request gets its 500; any other wait
// ends the connection without an answer (cancelling the read or write).
void HttpConn::expired() {
  if (wait_ != Wait::handler) return close();
  if (answer_) std::exchange(answer_, nullptr)->conn = nullptr;
  write_response(Response::error(Error{Code::internal, "the request deadline passed"}));
}

}  // namespace yoi::net::detail
