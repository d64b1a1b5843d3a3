#pragma once
// HttpServer::Impl: what the acceptor, every connection (http_conn.hpp) and
// every WebSocket session (ws_session.hpp) share. Connections and sessions
// hold it by shared_ptr, so it outlives the HttpServer until the last
// coroutine unwinds. io thread only. Private to net/.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"

namespace yoi::net {

namespace detail {
class HttpConn;
class WsSession;
}  // namespace detail

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(boost::asio::io_context& io, Router r, ServerOptions o)
      : io(io), router(std::move(r)), opts(std::move(o)), shutdown_timer(io) {}

  boost::asio::io_context& io;
  Router router;
  ServerOptions opts;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  bool stopping = false;
  // Registered by their constructors; erased by their destructors (a
  // session also when it finishes).
  std::set<detail::HttpConn*> conns;
  std::set<detail::WsSession*> wss;
  std::function<void()> on_drained;
  boost::asio::steady_timer shutdown_timer;

  Family<Counter>* m_requests = nullptr;
  Family<Histogram>* m_latency = nullptr;
  Gauge* m_ws_open = nullptr;
  Gauge* m_conns_open = nullptr;

  boost::asio::awaitable<void> accept_loop();
  // During shutdown: runs on_drained (posted) once no connection is left.
  void maybe_drained();
  // Closes the acceptor (accept_loop then ends); idempotent.
  void stop_accepting();
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

}  // namespace yoi::net
