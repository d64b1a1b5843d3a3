#include "ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>

#include <time.h>

#include "fail.hpp"

namespace yoi::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// The writer's batch: frames are pulled until this many bytes are ready.
constexpr std::size_t kBatchBytes = 64 * 1024;

// Batches one pump() writes straight to the socket before it leaves the rest
// to the write queue, whose completion comes from the io loop.
constexpr int kWritesNowPerPump = 16;

// One unfragmented text frame as a server sends it (RFC 6455 §5.2: FIN, no
// RSV bits since no extension is negotiated, unmasked).
void append_text_frame(std::string& out, std::string_view payload) {
  const std::uint64_t n = payload.size();
  out += static_cast<char>(0x81);
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  out += payload;
}

// steady_clock's time as of the kernel's last tick: CLOCK_MONOTONIC_COARSE
// is steady_clock's clock (CLOCK_MONOTONIC) without reading the TSC, up to a
// tick (1-10 ms) behind it. go_idle() runs after every burst, and a
// heartbeat deadline needs no more precision: it may come a tick early. On
// this VM the precise clock was 4 % of a relayed event's user time (perf;
// issue 22).
std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace

WsSession::WsSession(std::shared_ptr<HttpServer::Impl> srv, beast::tcp_stream&& stream)
    : srv_(std::move(srv)), ws_(std::move(stream)), idle_timer_(srv_->io), close_timer_(srv_->io) {
  srv_->wss.insert(this);
  srv_->update_gauges();
}

WsSession::~WsSession() {
  if (srv_->wss.erase(this)) {
    srv_->update_gauges();
    srv_->maybe_drained();
  }
}

void WsSession::set_source(Source s) {
  source_ = std::move(s);
  wake();
}

// The writer runs once the handler that woke it returns, not inside it: a
// producer that appends many events in one handler (the engine parsing one
// read of its provider's stream) wakes once per event, and they go out as
// one batch in one send instead of one send each. Posting costs no system
// call and no timer.
void WsSession::wake() {
  woken_ = true;
  if (!started_ || !open_ || pulling_ || writing_ || closing_ || pump_posted_) return;
  pump_posted_ = true;
  asio::post(srv_->io, [self = shared_from_this()] {
    self->pump_posted_ = false;
    self->pump();
  });
}

void WsSession::flush() {
  woken_ = true;
  pump();
}

void WsSession::set_idle_interval(std::chrono::milliseconds d) {
  idle_ = d;
  // The interval runs afresh from now; an armed timer is cut short and
  // looks at the new deadline.
  if (idle_armed_) idle_timer_.cancel();
  if (started_ && !writing_ && !closing_) go_idle();
}

void WsSession::close(std::uint16_t code, std::string reason) {
  if (!open_ || close_req_) return;
  close_req_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
  wake();
}

awaitable<beast::error_code> WsSession::accept(http::request<http::string_body>& req,
                                               const std::string& subprotocol) {
  const auto& opts = srv_->opts;
  websocket::stream_base::timeout t;
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = opts.ws_idle_timeout;
  t.keep_alive_pings = true;
  ws_.set_option(t);
  ws_.read_message_max(opts.ws_max_message_bytes);
  ws_.auto_fragment(false);
  ws_.set_option(websocket::stream_base::decorator(
      [server_name = opts.server_name, proto = subprotocol](websocket::response_type& res) {
        res.set(http::field::server, server_name);
        if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
      }));
  auto [ec] = co_await ws_.async_accept(req, use_tuple);
  co_return ec;
}

void WsSession::start() {
  if (!open_) return;
  asio::co_spawn(srv_->io, reader(), log_exceptions("websocket reader"));
  started_ = true;
  pump();
}

// The close handshake ran out of time, or the session is finished. Closing
// the socket ends the operations waiting on it, but not the two that can
// wait on each other inside Beast: our close holds the write lock and waits
// for the read lock; the reader, failing on the peer's bad frame, holds the
// read lock and waits for the write lock to send its own close. Cancelling
// both ends that wait too.
void WsSession::abandon_close() {
  beast::error_code ignored;  // closing a socket already closed: nothing to do
  beast::get_lowest_layer(ws_).socket().close(ignored);
  ws_.next_layer().abandon();
  read_cancel_.emit(asio::cancellation_type::terminal);
  close_cancel_.emit(asio::cancellation_type::terminal);
}

void WsSession::finish(std::uint16_t code, bool by_client) {
  if (!open_) return;
  auto keep = shared_from_this();  // the caller may hold only a raw pointer
  open_ = false;
  idle_timer_.cancel();
  close_timer_.cancel();
  // Every operation ends, including one parked inside Beast: a parked op
  // holds a coroutine that holds this session, and would keep it (and the
  // server) alive past an io_context that stops now (LeakSanitizer).
  abandon_close();
  if (srv_->wss.erase(this)) srv_->update_gauges();
  auto fn = std::move(on_close_fn_);
  on_close_fn_ = nullptr;
  source_ = nullptr;
  on_msg_ = nullptr;
  if (fn) fn(WsCloseInfo{code, by_client});
  srv_->maybe_drained();
}

awaitable<void> WsSession::reader() {
  auto self = shared_from_this();
  beast::flat_buffer buf;
  for (;;) {
    auto [ec, n] =
        co_await ws_.async_read(buf, asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
    if (ec == websocket::error::closed) {
      finish(ws_.reason().code, !close_req_.has_value());
      co_return;
    }
    if (ec == websocket::error::message_too_big) {
      finish(websocket::close_code::too_big, true);
      co_return;
    }
    if (ec) {
      fail(ec, "websocket read");
      finish(close_req_ ? close_req_->code : 1006, !close_req_.has_value());
      co_return;
    }
    if (on_msg_) {
      auto data = buf.data();
      on_msg_(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    buf.consume(buf.size());
    if (!open_) co_return;
  }
}

void WsSession::pump() {
  if (!started_ || !open_ || pulling_ || writing_ || closing_) return;
  int written_now = 0;
  for (;;) {
    if (close_req_) {
      closing_ = true;
      asio::co_spawn(srv_->io, close_handshake(), log_exceptions("websocket close"));
      return;
    }
    pulling_ = true;
    pull_batch();
    pulling_ = false;
    if (!open_) return;  // the source ended the session
    if (batch_.empty()) {
      if (close_req_ || woken_) continue;
      return go_idle();
    }
    // Beast is closing on its own (the peer's bad frame): no data after its
    // close frame; the reader's finish() ends the session.
    if (!ws_.is_open()) return;
    // Written at once: pull again, up to a bound, then yield to the io loop
    // (the rest goes by the queue) so one fast client cannot hold it.
    if (++written_now > kWritesNowPerPump) {
      write_batch(0);
      return;
    }
    if (!write_batch(ws_.next_layer().write_now(asio::buffer(batch_)))) return;
    // All written, and the source had nothing more when the batch was
    // pulled: unless something woke the writer since, another pull would
    // find nothing either (one event at a time: the common case).
    if (source_drained_ && !woken_ && !close_req_) return go_idle();
  }
}

bool WsSession::write_batch(std::size_t done) {
  if (done == batch_.size()) return true;
  writing_ = true;
  ws_.next_layer().write_all(asio::buffer(batch_) + done, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->writing_ = false;
    if (ec) {
      fail(ec, "websocket write");
      self->finish(self->close_req_ ? self->close_req_->code : 1006, !self->close_req_.has_value());
      return;
    }
    self->pump();
  });
  return false;
}

void WsSession::pull_batch() {
  woken_ = false;
  batch_.clear();
  source_drained_ = false;
  while (batch_.size() < kBatchBytes && !close_req_) {
    auto f = source_ ? source_(false) : std::nullopt;
    if (!f) {
      source_drained_ = true;
      break;
    }
    append_text_frame(batch_, *f);
  }
}

void WsSession::go_idle() {
  if (idle_.count() == 0) return;
  idle_deadline_ = coarse_now() + idle_;
  arm_idle_timer();
}

void WsSession::arm_idle_timer() {
  if (idle_armed_ || !open_) return;  // an armed timer re-checks the deadline when it fires
  idle_armed_ = true;
  idle_timer_.expires_at(idle_deadline_);
  idle_timer_.async_wait([weak = weak_from_this()](beast::error_code) {
    if (auto self = weak.lock()) self->on_idle_timer();
  });
}

void WsSession::on_idle_timer() {
  idle_armed_ = false;
  // Busy (the write's completion, or the close, takes over) or no interval.
  if (!open_ || !started_ || writing_ || closing_ || idle_.count() == 0) return;
  if (std::chrono::steady_clock::now() < idle_deadline_) return arm_idle_timer();
  if (woken_ || close_req_) return pump();
  batch_.clear();
  pulling_ = true;
  auto f = source_ ? source_(true) : std::nullopt;  // idle: a heartbeat, if the producer wants one
  pulling_ = false;
  if (!open_) return;
  if (!f) return pump();  // nothing to say: look again, then another interval
  append_text_frame(batch_, *f);
  if (!ws_.is_open()) return;
  if (write_batch(ws_.next_layer().write_now(asio::buffer(batch_)))) pump();
}

awaitable<void> WsSession::close_handshake() {
  auto self = shared_from_this();
  auto reason = *close_req_;
  // The close handshake is bounded: a peer that never answers would
  // otherwise hold the session until the idle timeout. abandon_close() ends
  // the operations.
  close_timer_.expires_after(srv_->opts.ws_close_timeout);
  close_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->abandon_close();
  });
  ws_.next_layer().hold_reads_for_close();  // the peer's bad frame is the close's to read
  auto [ec] = co_await ws_.async_close(
      reason, asio::bind_cancellation_slot(close_cancel_.slot(), use_tuple));
  fail(ec, "websocket close");
  close_timer_.cancel();
  finish(reason.code, false);
}

}  // namespace yoi::net::detail
