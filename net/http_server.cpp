// HttpServer: the acceptor, the connection registry and shutdown. A
// connection is http_conn.cpp, a WebSocket session ws_session.cpp, routing
// router.cpp, the decisions between read and write dispatch.cpp.
#include "yoi/net/http_server.hpp"

#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fail.hpp"
#include "http_conn.hpp"
#include "server_impl.hpp"
#include "ws_session.hpp"

namespace yoi::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using detail::HttpConn;
using detail::log_exceptions;
using detail::WsSession;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

awaitable<void> HttpServer::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopping) {
    // Accepted onto the io_context's executor type (HttpConn::Socket).
    auto [ec, sock] = co_await acceptor->async_accept(io.get_executor(), use_tuple);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;  // the acceptor was closed
      // Not through fail(): a failing accept (EMFILE, ENOBUFS) starves every
      // client, which deserves more than a debug line.
      spdlog::warn("net: accept failed: {}", ec.message());
      // e.g. EMFILE: back off instead of spinning.
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    if (conns.size() + wss.size() >= opts.max_connections) {
      spdlog::debug("net: refused a connection: {} open (max_connections)", conns.size() + wss.size());
      boost::system::error_code ignored;  // the socket is dropped either way
      sock.close(ignored);
      continue;
    }
    // The error overload: a peer already gone must not throw out of (and end)
    // the accept loop; its connection finds out on its first read.
    boost::system::error_code nec;
    sock.set_option(tcp::no_delay(true), nec);
    detail::fail(nec, "set TCP_NODELAY");
    std::make_shared<HttpConn>(self, std::move(sock))->start();
  }
}

void HttpServer::Impl::maybe_drained() {
  if (!stopping || !on_drained || !conns.empty() || !wss.empty()) return;
  shutdown_timer.cancel();
  auto fn = std::move(on_drained);
  on_drained = nullptr;
  asio::post(io, std::move(fn));
}

void HttpServer::Impl::record(const Router::Match* route, std::string_view method, int status,
                              double seconds) {
  if (!m_requests) return;
  if (!route) {  // any method a client sends: not cached
    m_requests->with({"unmatched", method, std::to_string(status)}).inc();
    m_latency->with({"unmatched"}).observe(seconds);
    return;
  }
  // A route is one method's, but the label is the request's: the cache
  // checks it.
  auto it = series.find({route, status});
  if (it == series.end() || it->second.method != method) {
    Series s{std::string(method),
             &m_requests->with({route->pattern, method, std::to_string(status)}),
             &m_latency->with({route->pattern})};
    if (it == series.end())
      it = series.emplace(std::pair{route, status}, std::move(s)).first;
    else
      it->second = std::move(s);
  }
  it->second.requests->inc();
  it->second.latency->observe(seconds);
}

void HttpServer::Impl::drop_metrics() {
  m_requests = nullptr;
  m_latency = nullptr;
  m_ws_open = nullptr;
  m_conns_open = nullptr;
  series.clear();
}

void HttpServer::Impl::stop_accepting() {
  if (!acceptor) return;
  boost::system::error_code ignored;  // closing twice is harmless
  acceptor->close(ignored);
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
  impl_->drop_metrics();
  impl_->opts.metrics = nullptr;
  impl_->opts.auth = [](const Request&) -> std::optional<Error> {
    return Error{Code::shutting_down, "the server is shutting down"};
  };
  impl_->stop_accepting();
  impl_->on_drained = nullptr;
  impl_->force_close_all();
}

Result<void> HttpServer::start() {
  auto& im = *impl_;
  // A server no client could pass (a wildcard address without
  // allowed_hosts) does not start; the binaries check this earlier too, as
  // a configuration error.
  if (auto ok = check_policy(im.opts.policy, im.opts.host); !ok) return ok;
  boost::system::error_code ec;
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
  im.stop_accepting();
  for (auto* w : std::vector<WsSession*>(im.wss.begin(), im.wss.end())) w->close(1001, "server shutting down");
  for (auto* c : std::vector<HttpConn*>(im.conns.begin(), im.conns.end())) c->shutdown_idle();
  im.shutdown_timer.expires_after(deadline);
  im.shutdown_timer.async_wait([weak = std::weak_ptr<Impl>(impl_)](boost::system::error_code ec) {
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
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(host), ec);
  if (ec) return false;
  return a.is_loopback();
}

}  // namespace yoi::net
