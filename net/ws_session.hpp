#pragma once
// WsSession: the server side of one WebSocket (the WsStream handlers feed).
// One reader coroutine, always reading, so pings, pongs and the client's
// close are processed; a writer that pulls frames from the producer's source
// and writes each batch with one write (write_gate.hpp).
//
// The writer is a plain state machine, not a coroutine (issue 22): wake()
// finding it idle pulls and writes right there (WriteGate::write_now: a
// non-blocking send; only what the socket does not take is queued), and a
// finished write pulls again, so an event costs no timer cancel, no posted
// resume and no extra trip through the scheduler. The idle timer is lazy: armed once
// for a deadline that bursts only move (a number), re-checked when it fires,
// so a burst costs no timerfd_settime. At most one batch is in flight; a
// slow client is pulled only as fast as its writes complete.
// io thread only. Private to net/.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "server_impl.hpp"
#include "write_gate.hpp"

namespace yoi::net::detail {

class WsSession final : public WsStream, public std::enable_shared_from_this<WsSession> {
 public:
  // Takes over an upgraded connection's stream; counts in the server's wss
  // from here on.
  WsSession(std::shared_ptr<HttpServer::Impl> srv, boost::beast::tcp_stream&& stream);
  ~WsSession() override;

  void set_source(Source s) override;
  void wake() override;
  void flush() override;
  void set_idle_interval(std::chrono::milliseconds d) override;
  void on_message(std::function<void(std::string_view)> fn) override { on_msg_ = std::move(fn); }
  void on_close(std::function<void(WsCloseInfo)> fn) override { on_close_fn_ = std::move(fn); }
  void close(std::uint16_t code, std::string reason) override;
  bool is_open() const override { return open_; }

  // The handshake answering `req` (the server's limits and timeouts,
  // `subprotocol` selected when not empty). On an error the caller finishes
  // the session.
  boost::asio::awaitable<boost::system::error_code> accept(
      boost::beast::http::request<boost::beast::http::string_body>& req,
      const std::string& subprotocol);
  // Starts the reader and the writer, unless on_open already closed it.
  void start();
  // Ends the session once, whichever side ended it: every operation is
  // ended, on_close runs, then source and callbacks are dropped (they may
  // hold this stream).
  void finish(std::uint16_t code, bool by_client);

 private:
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> close_handshake();
  // The writer, when it is free: pulls and writes a batch, or starts the
  // close handshake, or goes idle. Re-entry (the source calling wake() or
  // close() while it pulls) only marks the writer woken.
  void pump();
  // Every frame the source has ready, up to a batch, framed into batch_.
  void pull_batch();
  // batch_ onto the socket, its first `done` bytes already written
  // (WriteGate::write_now): true when it is all written; else the rest is
  // queued and pump() runs again once it is.
  bool write_batch(std::size_t done);
  // Nothing to write: the idle interval runs from now.
  void go_idle();
  void arm_idle_timer();
  // The idle timer fired: early (the deadline moved) → armed again; else a
  // heartbeat, if the producer wants one.
  void on_idle_timer();
  void abandon_close();

  std::shared_ptr<HttpServer::Impl> srv_;
  boost::beast::websocket::stream<WriteGate<boost::beast::tcp_stream>> ws_;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer close_timer_;         // bounds the close handshake
  boost::asio::cancellation_signal read_cancel_;  // see abandon_close()
  boost::asio::cancellation_signal close_cancel_;
  Source source_;
  std::function<void(std::string_view)> on_msg_;
  std::function<void(WsCloseInfo)> on_close_fn_;
  std::chrono::milliseconds idle_{0};
  std::optional<boost::beast::websocket::close_reason> close_req_;
  bool open_ = true;
  bool started_ = false;  // start() ran: the writer may write
  bool woken_ = false;    // wake() since the last pull
  bool source_drained_ = false;  // the last pull ended because the source had nothing more
  bool pulling_ = false;  // inside the source (pump, on_idle_timer)
  bool pump_posted_ = false;  // a wake() has posted pump() and it has not run yet
  bool writing_ = false;  // batch_ is on its way
  bool closing_ = false;  // the close handshake is started
  bool idle_armed_ = false;
  std::chrono::steady_clock::time_point idle_deadline_;
  std::string batch_;  // the frames in flight; outlive their write
};

}  // namespace yoi::net::detail
