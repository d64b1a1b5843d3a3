// Blocking clients built from Asio coroutines run on a private io_context
// until a deadline: when the deadline passes first, the socket is closed, the
// io_context drained (the coroutine finishes with operation_aborted) and the
// call reports a timeout naming the step it was in.
#include "yoi/cli/transport.hpp"

#include <deque>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

namespace yoi::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReplyBytes = 16u << 20;
constexpr std::size_t kMaxMessageBytes = 16u << 20;

TransportFailure connect_failure(const boost::system::error_code& ec, std::string_view step) {
  if (ec == asio::error::connection_refused) return {TransportFailure::refused, "connection refused"};
  if (ec == asio::error::timed_out || ec == beast::error::timeout)
    return {TransportFailure::timeout, fmt::format("timed out ({})", step)};
  return {TransportFailure::unreachable, fmt::format("{} failed: {}", step, ec.message())};
}

// IPv6 literals bracketed: the server's Host check reads "[::1]:8787".
std::string host_header(const Endpoint& ep) {
  auto host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  return ep.port == "80" ? host : host + ":" + ep.port;
}

// Resolve + connect; `step` follows progress for timeout messages.
asio::awaitable<std::optional<TransportFailure>> connect(beast::tcp_stream& stream, tcp::resolver& resolver,
                                                         const Endpoint& ep, std::string& step) {
  step = "resolving the host";
  auto [rec, results] = co_await resolver.async_resolve(ep.host, ep.port, use_tuple);
  if (rec) co_return TransportFailure{TransportFailure::unreachable, fmt::format("cannot resolve {}", ep.host)};
  step = "connecting";
  auto [cec, _] = co_await stream.async_connect(results, use_tuple);
  if (cec) co_return connect_failure(cec, step);
  co_return std::nullopt;
}

// Runs `io` until `done` (the completion stops `io`) or the deadline; on the
// deadline, `abort` closes whatever is in flight and the io_context is
// drained. True when done.
template <class Abort>
bool run_until(asio::io_context& io, clock::time_point deadline, const bool& done, Abort abort) {
  io.run_until(deadline);
  if (done) return true;
  abort();
  io.restart();
  io.run_for(std::chrono::seconds(2));
  return false;
}

}  // namespace

Result<Endpoint> parse_server_url(std::string_view given) {
  constexpr std::string_view scheme = "http://";
  // HOST:PORT alone means http, the only scheme spoken.
  std::string with_scheme = given.find("://") == std::string_view::npos ? fmt::format("http://{}", given)
                                                                        : std::string(given);
  std::string_view url = with_scheme;
  auto bad = [&](std::string_view why) {
    return fail(Code::invalid_request, fmt::format("server URL '{}' {}", url, why));
  };
  if (url.starts_with("https://")) return bad("uses https, which this CLI does not speak yet; use http://");
  if (!url.starts_with(scheme)) return bad("must start with http://");
  Endpoint ep;
  ep.display = std::string(url);
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string path(rest.substr(slash));
    while (!path.empty() && path.back() == '/') path.pop_back();
    ep.base_path = path;
  }
  if (authority.empty()) return bad("has no host");
  if (authority.find('@') != std::string_view::npos) return bad("must not carry credentials");
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unterminated IPv6 address");
    ep.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("has junk after the IPv6 address");
      ep.port = std::string(after.substr(1));
    }
  } else {
    auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) ep.port = std::string(authority.substr(colon + 1));
  }
  if (ep.host.empty()) return bad("has no host");
  if (ep.port.empty() || ep.port.size() > 5 || ep.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(ep.port) == 0 || std::stoi(ep.port) > 65535)
    return bad("has an invalid port");
  return ep;
}

// ---------------------------------------------------------------- HTTP

HttpClient::HttpClient(Endpoint ep, Secret token, std::chrono::milliseconds timeout)
    : ep_(std::move(ep)), token_(std::move(token)), timeout_(timeout) {}
HttpClient::~HttpClient() = default;

HttpOutcome HttpClient::request(std::string_view method, std::string_view target, std::string_view body) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  std::string step;
  bool done = false;
  HttpOutcome out = tl::unexpected(TransportFailure{TransportFailure::protocol, "no result"});

  http::request<http::string_body> req;
  req.method(http::string_to_verb(method));
  req.target(ep_.base_path + std::string(target));
  req.version(11);
  req.set(http::field::host, host_header(ep_));
  req.set(http::field::user_agent, "yoi-cli");
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_.expose());
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();
  }

  auto work = [&]() -> asio::awaitable<HttpOutcome> {
    if (auto f = co_await connect(stream, resolver, ep_, step)) co_return tl::unexpected(*f);
    step = "sending the request";
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) co_return tl::unexpected(connect_failure(wec, step));
    step = "reading the reply";
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_tuple);
    if (rec == http::error::body_limit)
      co_return tl::unexpected(TransportFailure{TransportFailure::too_large, "the reply is too large"});
    if (rec)
      co_return tl::unexpected(TransportFailure{TransportFailure::protocol,
                                                fmt::format("no valid HTTP reply ({})", rec.message())});
    auto res = parser.release();
    co_return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
  };
  asio::co_spawn(io, work(), [&](std::exception_ptr e, HttpOutcome r) {
    done = true;
    io.stop();
    out = e ? tl::unexpected(TransportFailure{TransportFailure::protocol, "internal client error"}) : std::move(r);
  });
  if (!run_until(io, clock::now() + timeout_, done, [&] {
        resolver.cancel();
        boost::system::error_code ec;
        stream.socket().close(ec);
      }))
    return tl::unexpected(TransportFailure{TransportFailure::timeout,
                                           fmt::format("no answer within {} ms ({})", timeout_.count(), step)});
  return out;
}

// ---------------------------------------------------------------- WebSocket

struct WsConnection::Impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer buf;
  std::deque<std::string> inbox;
  bool closed = false;
  std::string reason;

  void arm() {
    ws.async_read(buf, [this](boost::system::error_code ec, std::size_t) {
      if (ec) {
        closed = true;
        if (ec == websocket::error::closed) {
          auto r = ws.reason();
          reason = r.reason.empty() ? fmt::format("the server closed the stream ({})", r.code)
                                    : fmt::format("the server closed the stream ({} {})", r.code,
                                                  std::string(r.reason.data(), r.reason.size()));
        } else if (ec == beast::error::timeout) {
          reason = "the server stopped answering";
        } else if (ec == asio::error::operation_aborted) {
          reason = "closed";
        } else {
          reason = fmt::format("the connection was lost ({})", ec.message());
        }
        return;
      }
      inbox.push_back(beast::buffers_to_string(buf.data()));
      buf.consume(buf.size());
      arm();
    });
  }

  void drain_and_close() {
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
    io.restart();
    io.run_for(std::chrono::seconds(1));
  }
};

WsConnection::WsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsConnection::~WsConnection() {
  if (impl_) impl_->drain_and_close();
}

tl::expected<std::unique_ptr<WsConnection>, WsOpenFailure> WsConnection::open(
    const Endpoint& ep, const Secret& token, std::string_view target, std::chrono::milliseconds timeout,
    std::chrono::milliseconds idle_timeout) {
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  tcp::resolver resolver(s.io);
  std::string step;
  bool done = false;
  std::optional<WsOpenFailure> failure;
  auto deadline = clock::now() + timeout;
  std::string full_target = ep.base_path + std::string(target);

  auto work = [&]() -> asio::awaitable<std::optional<WsOpenFailure>> {
    beast::get_lowest_layer(s.ws).expires_at(deadline);
    if (auto f = co_await connect(beast::get_lowest_layer(s.ws), resolver, ep, step))
      co_return WsOpenFailure{*f, 0, {}};
    // The websocket stream keeps its own timers from here on.
    beast::get_lowest_layer(s.ws).expires_never();
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::duration_cast<websocket::stream_base::duration>(
        std::max<clock::duration>(deadline - clock::now(), std::chrono::milliseconds(1)));
    t.idle_timeout = idle_timeout;
    t.keep_alive_pings = true;
    s.ws.set_option(t);
    std::string tok = token.empty() ? std::string() : token.expose();
    s.ws.set_option(websocket::stream_base::decorator([tok](websocket::request_type& req) {
      req.set(http::field::user_agent, "yoi-cli");
      if (!tok.empty()) {
        req.set(http::field::authorization, "Bearer " + tok);
        req.set(http::field::sec_websocket_protocol, "yoi.v1, yoi-token." + tok);
      }
    }));
    s.ws.read_message_max(kMaxMessageBytes);
    step = "the WebSocket handshake";
    websocket::response_type res;
    auto [hec] = co_await s.ws.async_handshake(res, host_header(ep), full_target, use_tuple);
    if (hec == websocket::error::upgrade_declined)
      co_return WsOpenFailure{{TransportFailure::protocol, "the server refused the WebSocket upgrade"},
                              static_cast<int>(res.result_int()), res.body()};
    if (hec) co_return WsOpenFailure{connect_failure(hec, step), 0, {}};
    co_return std::nullopt;
  };
  asio::co_spawn(s.io, work(), [&](std::exception_ptr e, std::optional<WsOpenFailure> f) {
    done = true;
    s.io.stop();  // the stream's own timers would keep run_until() going
    if (e)
      failure = WsOpenFailure{{TransportFailure::protocol, "internal client error"}, 0, {}};
    else
      failure = std::move(f);
  });
  if (!run_until(s.io, deadline, done, [&] {
        resolver.cancel();
        boost::system::error_code ec;
        beast::get_lowest_layer(s.ws).socket().close(ec);
      }))
    return tl::unexpected(WsOpenFailure{
        {TransportFailure::timeout, fmt::format("no answer within {} ms ({})", timeout.count(), step)}, 0, {}});
  if (failure) return tl::unexpected(std::move(*failure));
  s.io.restart();
  s.arm();
  return std::unique_ptr<WsConnection>(new WsConnection(std::move(impl)));
}

WsConnection::Next WsConnection::next(std::string& out, std::chrono::milliseconds wait) {
  Impl& s = *impl_;
  auto pop = [&] {
    out = std::move(s.inbox.front());
    s.inbox.pop_front();
    return Next::message;
  };
  if (!s.inbox.empty()) return pop();
  if (s.closed) return Next::closed;
  if (s.io.stopped()) s.io.restart();
  if (wait.count() <= 0) {
    s.io.poll();
  } else {
    auto deadline = clock::now() + wait;
    while (s.inbox.empty() && !s.closed) {
      if (s.io.stopped()) s.io.restart();
      if (s.io.run_one_until(deadline) == 0) break;
    }
  }
  if (!s.inbox.empty()) return pop();
  return s.closed ? Next::closed : Next::timeout;
}

const std::string& WsConnection::close_reason() const { return impl_->reason; }

int WsConnection::native_handle() {
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  return sock.is_open() ? sock.native_handle() : -1;
}

void WsConnection::close(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (!s.closed) {
    bool done = false;
    s.ws.async_close(websocket::close_code::normal, [&](boost::system::error_code) { done = true; });
    if (s.io.stopped()) s.io.restart();
    auto deadline = clock::now() + grace;
    while (!done && s.io.run_one_until(deadline) > 0) {
    }
  }
  s.drain_and_close();
  s.closed = true;
  if (s.reason.empty() || s.reason == "closed") s.reason = "closed";
}

}  // namespace yoi::cli
