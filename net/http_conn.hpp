#pragma once
// HttpConn: one accepted connection, serving requests one after another
// (keep-alive) until the client goes, an error, a deadline or shutdown;
// hands its stream to a WsSession on a WebSocket upgrade. The decisions are
// dispatch.hpp's; this is the I/O around them. io thread only. Private to
// net/.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "dispatch.hpp"
#include "server_impl.hpp"

namespace yoi::net::detail {

struct ResponseSlot;

class HttpConn : public std::enable_shared_from_this<HttpConn> {
 public:
  // Counts in the server's conns from here until destroyed.
  HttpConn(std::shared_ptr<HttpServer::Impl> srv, boost::asio::ip::tcp::socket sock);
  ~HttpConn();

  // The connection's coroutine; co_spawn it. It holds the connection.
  boost::asio::awaitable<void> run();

  // Closes the socket at once; a handler still running answers into the void.
  void force_close();
  // Shutdown: an idle keep-alive connection closes now; a busy one after
  // its response.
  void shutdown_idle();

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  using Message = boost::beast::http::request<boost::beast::http::string_body>;
  using Clock = std::chrono::steady_clock;

  boost::asio::awaitable<boost::system::error_code> read_header(boost::beast::flat_buffer& buffer,
                                                                Parser& parser);
  boost::asio::awaitable<boost::system::error_code> read_body(boost::beast::flat_buffer& buffer,
                                                              Parser& parser);
  boost::asio::awaitable<void> refuse_too_large(boost::system::error_code ec,
                                                std::string_view method, unsigned version);
  boost::asio::awaitable<Response> call_handler(const Router::Match& route, const Request& req);
  boost::asio::awaitable<void> upgrade(Message& msg, const Request& req, const Routing& routing,
                                       Clock::time_point start);
  boost::asio::awaitable<bool> write_response(const Response& r, unsigned version, bool keep_alive);
  boost::asio::awaitable<void> linger();

  std::shared_ptr<HttpServer::Impl> srv_;
  boost::beast::tcp_stream stream_;
  std::string remote_;
  bool busy_ = false;                      // between a request's header and its response written
  bool upgraded_ = false;                  // the stream went to a WsSession
  std::shared_ptr<ResponseSlot> pending_;  // the handler's answer, while one runs
  std::string out_;  // the response being written (kept: its capacity is reused)
};

}  // namespace yoi::net::detail
