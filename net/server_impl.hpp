#pragma once
// HttpServer::Impl: what the acceptor, every connection (http_conn.hpp) and
// every WebSocket session (ws_session.hpp) share. Connections and sessions
// hold it by shared_ptr, so it outlives the HttpServer until the last
// coroutine unwinds. io thread only. Private to net/.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_stream_socket.hpp>
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
  // A connection's socket, on the io_context's own executor type: the
  // type-erased any_io_executor of tcp::socket costs on every operation.
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                  boost::asio::io_context::executor_type>;

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
  // The series of a matched route by (route, status), resolved once: a
  // request then builds no label strings and looks up no label map.
  struct Series {
    std::string method;
    Counter* requests = nullptr;
    Histogram* latency = nullptr;
  };
  std::map<std::pair<const Router::Match*, int>, Series> series;

  boost::asio::awaitable<void> accept_loop();
  // During shutdown: runs on_drained (posted) once no connection is left.
  void maybe_drained();
  // Closes the acceptor (accept_loop then ends); idempotent.
  void stop_accepting();
  void force_close_all();
  // Counts one request and its latency under its route's pattern (null:
  // "unmatched"), method and status.
  void record(const Router::Match* route, std::string_view method, int status, double seconds);
  // Forgets the cached series (the registry is the caller's: gone with the
  // HttpServer).
  void drop_metrics();
  void update_gauges() {
    if (m_ws_open) m_ws_open->set(static_cast<double>(wss.size()));
    if (m_conns_open) m_conns_open->set(static_cast<double>(conns.size()));
  }
};

}  // namespace yoi::net
