#include "http_conn.hpp"

#include <array>
#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fail.hpp"
#include "ws_session.hpp"

namespace yoi::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Where a handler's answer lands; the timer is the request deadline, cut
// short by the answer.
struct ResponseSlot {
  explicit ResponseSlot(asio::io_context& io) : timer(io) {}
  std::optional<Response> response;
  asio::steady_timer timer;
};

namespace {

// Lingering close after an early 413: at most this long, this many bytes.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kLingerBytes = 16u << 20;

// A connection's first read of a request (before the header deadline).
constexpr std::size_t kFirstRead = 8192;

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

// Calls the handler with a Respond that fills `slot` (once); a throw is a
// 500 at once.
void invoke(const Router::Match& route, const Request& req,
            const std::shared_ptr<ResponseSlot>& slot) {
  auto guard = std::make_shared<RespondGuard>();
  guard->slot = slot;
  Respond respond = [guard](Response r) {
    auto& s = guard->slot;
    if (s->response) return;
    s->response = std::move(r);
    s->timer.cancel();
  };
  try {
    route.handler(req, std::move(respond));
  } catch (const std::exception& x) {
    spdlog::error("net: handler for {} threw: {}", route.pattern, x.what());
    if (!slot->response) slot->response = Response::error(Error{Code::internal, "internal error"});
  }
}

Request to_request(http::request<http::string_body>& msg, const std::string& remote) {
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.remote = remote;
  for (const auto& f : msg)
    req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  req.body = std::move(msg.body());
  return req;
}

bool is_too_large(const beast::error_code& ec) {
  return ec == http::error::header_limit || ec == http::error::body_limit;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

HttpConn::HttpConn(std::shared_ptr<HttpServer::Impl> srv, tcp::socket sock)
    : srv_(std::move(srv)), stream_(std::move(sock)) {
  beast::error_code ec;  // a peer already gone: no address to show, and run() finds out
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = fmt::format("{}:{}", ep.address().to_string(), ep.port());
  srv_->conns.insert(this);
  srv_->update_gauges();
}

HttpConn::~HttpConn() {
  srv_->conns.erase(this);
  srv_->update_gauges();
  srv_->maybe_drained();
}

void HttpConn::force_close() {
  beast::error_code ignored;  // closing a socket already closed: nothing to do
  stream_.socket().close(ignored);
  if (pending_) pending_->timer.cancel();
}

void HttpConn::shutdown_idle() {
  if (!busy_ && !upgraded_) force_close();
}

// Read a request, decide (dispatch.hpp), answer, repeat while kept alive.
awaitable<void> HttpConn::run() {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  while (!srv_->stopping) {
    busy_ = false;
    Parser parser;  // a fresh one per request, with the limits
    parser.header_limit(static_cast<std::uint32_t>(srv_->opts.max_header_bytes));
    parser.body_limit(srv_->opts.max_body_bytes);
    const auto hec = co_await read_header(buffer, parser);
    if (hec) {
      if (is_too_large(hec))
        co_await refuse_too_large(hec, "?", 11);
      else
        fail(hec, "read request header");
      co_return;
    }
    const auto start = Clock::now();
    busy_ = true;
    Message& msg = parser.get();
    const auto bec = co_await read_body(buffer, parser);
    if (bec) {
      if (bec == http::error::body_limit)
        co_await refuse_too_large(bec, msg.method_string(), msg.version());
      else
        fail(bec, "read request body");
      co_return;
    }
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    Request req = to_request(msg, remote_);
    Routing routing = route_request(srv_->router, srv_->opts, req,
                                    beast::websocket::is_upgrade(msg), srv_->stopping);
    if (routing.accept) {
      co_await upgrade(msg, req, routing, start);
      co_return;
    }
    Response response;
    if (routing.answer)
      response = std::move(*routing.answer);
    else
      response = co_await call_handler(*routing.route, req);
    const int status = response.status;
    const bool keep = keep_alive && !srv_->stopping && status != 413;
    const bool written = co_await write_response(response, version, keep);
    srv_->record(routing.label(), req.method, status, seconds_since(start));
    if (!written) co_return;
    if (!keep) {
      beast::error_code ignored;  // the peer may have gone already; we are done either way
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

// Idle until a request starts (keep_alive_timeout), then the whole header
// within header_timeout: a client dribbling a header a byte at a time holds
// the connection for that long at most, however patient it is. Beast parses
// what the buffer holds before reading again, so the first read costs no
// extra system call.
awaitable<beast::error_code> HttpConn::read_header(beast::flat_buffer& buffer, Parser& parser) {
  if (buffer.size() == 0) {
    stream_.expires_after(srv_->opts.keep_alive_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer.prepare(kFirstRead), use_tuple);
    if (ec) co_return ec;
    buffer.commit(n);
  }
  stream_.expires_after(srv_->opts.header_timeout);
  auto [ec, n] = co_await http::async_read_header(stream_, buffer, parser, use_tuple);
  co_return ec;
}

// The body, within read_timeout; "100 Continue" first when the client waits
// for it (curl and others do before sending a body).
awaitable<beast::error_code> HttpConn::read_body(beast::flat_buffer& buffer, Parser& parser) {
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(cont), use_tuple);
    if (ec) co_return ec;
  }
  stream_.expires_after(srv_->opts.read_timeout);
  if (parser.is_done()) co_return beast::error_code{};
  auto [ec, n] = co_await http::async_read(stream_, buffer, parser, use_tuple);
  co_return ec;
}

// 413 before the request was read to its end (header or body over its
// limit); the connection then closes. `method` is "?" when the header was
// not read.
awaitable<void> HttpConn::refuse_too_large(beast::error_code ec, std::string_view method,
                                           unsigned version) {
  busy_ = true;
  const auto& opts = srv_->opts;
  const Error e{Code::payload_too_large,
                ec == http::error::header_limit
                    ? fmt::format("request headers exceed {} bytes", opts.max_header_bytes)
                    : fmt::format("request body exceeds {} bytes", opts.max_body_bytes)};
  const Response response = Response::error(e);
  srv_->record("unmatched", std::string(method), 413, 0);
  if (co_await write_response(response, version, false)) co_await linger();
}

// Runs the route's handler and waits for its Respond, at most
// request_deadline (then 500). force_close() cuts the wait short.
awaitable<Response> HttpConn::call_handler(const Router::Match& route, const Request& req) {
  auto slot = std::make_shared<ResponseSlot>(srv_->io);
  pending_ = slot;
  slot->timer.expires_after(srv_->opts.request_deadline);
  invoke(route, req, slot);
  if (!slot->response) co_await slot->timer.async_wait(use_tuple);  // cancelled by the answer
  if (!slot->response)
    slot->response = Response::error(Error{Code::internal, "the request deadline passed"});
  pending_.reset();
  co_return std::move(*slot->response);
}

// The stream goes to a WsSession; this connection ends once the handshake
// is done (the session counts in the server from the start).
awaitable<void> HttpConn::upgrade(Message& msg, const Request& req, const Routing& routing,
                                  Clock::time_point start) {
  upgraded_ = true;
  stream_.expires_never();
  auto session = std::make_shared<WsSession>(srv_, std::move(stream_));
  const auto ec = co_await session->accept(msg, routing.accept->subprotocol);
  srv_->record(routing.label(), req.method, ec ? 400 : 101, seconds_since(start));
  if (ec) {
    fail(ec, "websocket handshake");
    session->finish(1006, true);
    co_return;
  }
  if (routing.accept->on_open) routing.accept->on_open(session);
  session->start();
}

// The response is formatted into one buffer and written with one
// async_write. (Beast's serializer walks a buffers_cat of every field and
// the body per write: about a fifth of the instructions of a proxied GET in
// callgrind; the head here is a few short lines.) False when the write
// failed.
awaitable<bool> HttpConn::write_response(const Response& r, unsigned version, bool keep_alive) {
  format_response(out_, r, version, keep_alive, srv_->opts.server_name);
  stream_.expires_after(srv_->opts.read_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(out_), use_tuple);
  fail(ec, "write response");
  co_return !ec;
}

// After answering before the request was read to its end (413): stop
// sending, then discard what the client still sends, for a bounded time
// and amount, so that closing does not reset the connection (and drop our
// answer from the client's receive buffer) while it is still writing.
awaitable<void> HttpConn::linger() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(kLingerTime);
  std::array<char, 16384> sink;
  std::size_t total = 0;
  while (total < kLingerBytes) {
    auto [rec, n] = co_await stream_.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) {
      fail(rec, "linger after 413");  // ends with the client's EOF or our deadline
      break;
    }
    total += n;
  }
}

}  // namespace yoi::net::detail
