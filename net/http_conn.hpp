#pragma once
// HttpConn: one accepted connection, serving requests one after another
// (keep-alive, pipelined requests in order) until the client goes, an error,
// a deadline or shutdown; hands its socket to a WsSession on a WebSocket
// upgrade. The decisions are dispatch.hpp's; this is the I/O around them.
// io thread only. Private to net/.
//
// A callback state machine, not a coroutine: a proxied GET crosses this
// code twice (yoi-server's browser side, yoi-runtime's), and a coroutine
// frame per request, the type-erased executor of every operation and a
// timer re-armed per operation were most of its cost. Every operation's
// handler holds `this` and the connection's shared_ptr:
//
//   next_request ─► read ─► parse ─┬─► (more bytes needed) read
//        ▲                         └─► dispatch ─► handler ─► answered
//        │                                                     │
//        └──────────── written ◄─── write the response ◄──────┘
//
// Deadlines: one timer per connection and one deadline at a time (see
// expect()): keep_alive_timeout idle before a request's first byte,
// header_timeout from that byte to the end of the header, read_timeout for
// the body and for each response write, request_deadline for the handler
// (then 500).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include "dispatch.hpp"
#include "request_parser.hpp"
#include "server_impl.hpp"

namespace yoi::net::detail {

struct Answer;

class HttpConn : public std::enable_shared_from_this<HttpConn> {
 public:
  using Socket = HttpServer::Impl::Socket;

  // Counts in the server's conns from here until destroyed.
  HttpConn(std::shared_ptr<HttpServer::Impl> srv, Socket sock);
  ~HttpConn();

  // Starts serving; the pending operations hold the connection.
  void start();
  // Closes the socket at once; a handler still running answers into the void.
  void force_close();
  // Shutdown: an idle keep-alive connection closes now; a busy one after
  // its response.
  void shutdown_idle();

 private:
  friend struct Answer;
  using Clock = std::chrono::steady_clock;
  using Timer = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>,
                                                  boost::asio::io_context::executor_type>;
  // What the connection waits for, and so what its deadline means.
  enum class Wait : std::uint8_t { none, idle, header, body, handler, write, linger };

  void next_request();
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void parse();
  void dispatch();
  void answered(Response r);
  void write_response(const Response& r);
  void on_written(const boost::system::error_code& ec);
  void refuse_too_large(const boost::system::error_code& ec);
  void linger();
  void upgrade(Routing& routing, boost::beast::http::request<boost::beast::http::string_body> msg);
  void close();
  // Makes room at the end of buf_ for a read; false when the buffer is at
  // its bound.
  bool make_room();

  void expect(Wait what, Clock::time_point deadline);
  void arm(Clock::time_point at);
  void disarm();
  void on_timer(const boost::system::error_code& ec, std::uint32_t gen);
  void expired();

  std::shared_ptr<HttpServer::Impl> srv_;
  Socket sock_;
  Timer timer_;
  std::string remote_;

  // The bytes read and not yet parsed are buf_[begin_, end_); buf_.size()
  // is the buffer's capacity.
  std::string buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;

  Request req_;  // reused from request to request (its strings keep their capacity)
  std::optional<RequestParser> parser_;
  Clock::time_point start_;               // the request's header parsed
  const Router::Match* route_ = nullptr;  // the request's route (metrics), null: unmatched
  unsigned version_ = 11;
  bool keep_alive_ = false;  // the client asked to keep the connection
  bool keep_ = false;        // the response in flight keeps it
  int status_ = 0;           // the response in flight's status
  bool header_done_ = false;
  bool continue_sent_ = false;
  bool refused_ = false;  // the response in flight is an early 413 (then linger)
  std::size_t lingered_ = 0;

  Answer* answer_ = nullptr;       // the handler's pending answer, while one runs
  bool in_handler_ = false;        // inside the handler's call
  std::optional<Response> early_;  // an answer given before the handler returned

  bool busy_ = false;      // between a request's header and its response written
  bool upgraded_ = false;  // the socket went to a WsSession
  bool closed_ = false;
  std::string out_;  // the response being written (kept: its capacity is reused)

  // The deadline: what it is for, when, and the timer's own state (armed at
  // armed_at_, or not at all). gen_ tells a superseded wait's completion.
  Wait wait_ = Wait::none;
  Clock::time_point deadline_;
  Clock::time_point armed_at_;
  bool armed_ = false;
  std::uint32_t gen_ = 0;
};

}  // namespace yoi::net::detail
