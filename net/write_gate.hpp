#pragma once
// WriteGate: a stream layer under a Beast WebSocket stream that puts every
// write on the socket in one queue, so the session can write many whole data
// frames with one write while Beast keeps writing its own (the handshake
// response, pongs, pings, close frames) through the same queue.
//
// Why: with one ws.async_write per event, every event cost a sendmsg and an
// io turn (and the turn an epoll_wait): two syscalls per event, the largest
// share of a relayed event's time. The writer now frames a batch itself
// (server frames are unmasked; no extension is negotiated) and hands it to
// write_all(); Beast's own writes are copied (they are small) and queued.
// Writes leave in the order they were queued and one at a time, so frames
// never interleave on the wire.
//
// It also holds back the reads of a close in progress (hold_reads_for_close):
// see there.
//
// write_now() is the fast path for the session's batches: with nothing
// queued, the bytes go to the socket at once with a non-blocking send, so a
// batch the socket takes whole needs no completion, no posted handler and no
// extra turn of the io loop (issue 22); only what the socket did not take
// goes through the queue.
//
// Private to net/.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/system/error_code.hpp>

#include "yoi/net/send_now.hpp"
#include "yoi/net/stream_layer.hpp"

namespace yoi::net::detail {

// Beast's read handler while WriteGate holds reads for a close: delivered
// as it is, or kept by the gate's state until the close frame is written.
// Every association (executor, allocator, cancellation slot) stays the
// handler's (the associator at the end).
template <class H, class State>
struct HeldRead {
  H handler;
  std::shared_ptr<State> state;
  void operator()(boost::system::error_code ec, std::size_t n) {
    if (!state->hold(handler, ec, n)) std::move(handler)(ec, n);
  }
};

template <class Next>
class WriteGate : public StreamLayer<WriteGate<Next>, Next> {
  using Base = StreamLayer<WriteGate<Next>, Next>;
  using Base::next_;

 public:
  explicit WriteGate(Next&& next) : Base(std::move(next)), state_(std::make_shared<State>()) {}
  // A write still on the socket (a Beast ping, say, which does not keep the
  // session alive) completes after this is gone: it finds `gone` and stops.
  ~WriteGate() {
    state_->gone = true;
    state_->queue.clear();
    state_->held.reset();
  }
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

  // Beast's writes: the bytes are copied into the queue and reported written
  // once they are on the socket.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          Entry e;
          e.owned.resize(boost::asio::buffer_size(b));
          boost::asio::buffer_copy(boost::asio::buffer(e.owned), b);
          // A close frame (FIN + opcode 8: Beast's close, or its read's).
          e.close_frame = !e.owned.empty() && static_cast<unsigned char>(e.owned[0]) == 0x88;
          e.handler = Handler(std::move(handler));
          push(std::move(e));
        },
        token, buffers);
  }

  // Beast's reads: the layer below's, delivered late while a close is held
  // (below).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          // Wrapped whether or not a close is held now: a read started
          // long before the close may complete while its frame is on its way.
          next_.async_read_some(b, HeldRead<decltype(handler), State>{std::move(handler), state_});
        },
        token, buffers);
  }

  // Called just before Beast's async_close: a read that completes before a
  // close frame has been written waits until one has.
  //
  // Why: Beast's close holds the write lock from its close frame until it
  // has read the peer's close, and takes the read lock once its frame is
  // written; Beast's read, failing on a bad frame, holds the read lock and
  // needs the write lock to send a close of its own. Let the read see a bad
  // frame while the close frame is on its way and each waits for the other,
  // with nothing on the socket to end the wait but the close timeout. Once
  // the close frame is written, the close waits for the read lock, and a
  // read, after each socket read, hands the lock to it before it looks at
  // the bytes: the close then reads the bad frame and tears down at once.
  // The hold ends at a close frame, not at any write: a keep-alive ping
  // Beast writes first (the close waiting for the write lock) must not end it.
  void hold_reads_for_close() { state_->holding = true; }

  // Ends every queued write with operation_aborted (posted), and every later
  // one: call it with the socket closed. A queued handler may own the
  // coroutine that owns this stream; kept in the queue past an io_context's
  // stop, that cycle would never be freed.
  void abandon() {
    auto& st = *state_;
    st.gone = true;
    auto queued = std::move(st.queue);
    st.queue.clear();
    for (auto& e : queued) fail(std::move(e.handler));
    st.holding = false;
    if (st.held) fail(std::move(st.held->handler));
    st.held.reset();
  }

  // As much of `bytes` as the socket takes now without blocking, when
  // nothing is queued or on its way (else 0: the caller queues it all).
  // An error writes nothing here; the queued write that follows meets it and
  // reports it.
  std::size_t write_now(boost::asio::const_buffer bytes) {
    auto& st = *state_;
    if (st.gone || st.busy || !st.queue.empty()) return 0;
    return send_now(boost::beast::get_lowest_layer(next_).socket(), bytes);
  }

  // The whole of `bytes`, which the caller keeps alive until completion.
  template <class Token>
  auto write_all(boost::asio::const_buffer bytes, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, boost::asio::const_buffer b) {
          Entry e;
          e.bytes = b;
          e.handler = Handler(std::move(handler));
          push(std::move(e));
        },
        token, bytes);
  }

 private:
  // The queued operation's completion handler, type-erased. (Not
  // asio::any_completion_handler: in Boost 1.81 moving one into another
  // recurses without end.) Invoked from the socket write's own completion on
  // the same io_context, as any composed operation does.
  struct Handler {
    struct Base {
      virtual ~Base() = default;
      virtual void call(boost::system::error_code ec, std::size_t n) = 0;
    };
    template <class H>
    struct Impl final : Base {
      explicit Impl(H&& h) : h(std::move(h)) {}
      void call(boost::system::error_code ec, std::size_t n) override { std::move(h)(ec, n); }
      H h;
    };
    std::unique_ptr<Base> p;
    Handler() = default;
    template <class H>
    explicit Handler(H&& h) : p(std::make_unique<Impl<std::decay_t<H>>>(std::forward<H>(h))) {}
    void operator()(boost::system::error_code ec, std::size_t n) {
      auto q = std::move(p);
      q->call(ec, n);
    }
  };

  struct Entry {
    std::string owned;                // Beast's bytes (a copy)
    boost::asio::const_buffer bytes;  // write_all's bytes (the caller's)
    Handler handler;
    bool close_frame = false;  // Beast's bytes, a close frame
    // Taken once the entry sits in the queue (deque elements do not move);
    // a view into `owned` taken earlier would dangle after a move (SSO).
    boost::asio::const_buffer data() const { return owned.empty() ? bytes : boost::asio::buffer(owned); }
  };

  // A read's completion, kept while a close is held.
  struct Held {
    Handler handler;
    boost::system::error_code ec;
    std::size_t n = 0;
  };

  struct State {
    std::deque<Entry> queue;
    bool busy = false;
    bool gone = false;
    // Reads are held until a close frame has been written; then the held
    // one is delivered (posted).
    bool holding = false;
    std::optional<Held> held;

    // A read's completion under a hold: true when it is kept (at most one:
    // Beast reads one at a time).
    template <class H>
    bool hold(H& h, boost::system::error_code ec, std::size_t n) {
      if (!holding || gone || held) return false;
      held.emplace(Held{Handler(std::move(h)), ec, n});
      return true;
    }
  };

  void release_held() {
    auto& st = *state_;
    if (!st.held) return;
    auto h = std::move(*st.held);
    st.held.reset();
    boost::asio::post(next_.get_executor(), [h = std::move(h)]() mutable {
      std::move(h.handler)(h.ec, h.n);
    });
  }

  void fail(Handler h) {
    boost::asio::post(next_.get_executor(), [h = std::move(h)]() mutable {
      h(boost::asio::error::operation_aborted, 0);
    });
  }

  void push(Entry e) {
    if (state_->gone) return fail(std::move(e.handler));
    state_->queue.push_back(std::move(e));
    if (!state_->busy) pump();
  }

  // One write at a time, in queue order. Never completes a handler inline
  // from its initiation: the first completion comes from the socket's.
  void pump() {
    auto& st = *state_;
    if (st.queue.empty()) return;
    st.busy = true;
    boost::asio::async_write(next_, st.queue.front().data(),
                             [this, keep = state_](boost::system::error_code ec, std::size_t) {
                               if (keep->gone) return;
                               Entry done = std::move(keep->queue.front());
                               keep->queue.pop_front();
                               keep->busy = false;
                               pump();
                               std::move(done.handler)(ec, ec ? 0 : done.data().size());
                               // The close frame is written and the close has
                               // run on: it waits for the read lock now.
                               if (keep->gone || !keep->holding || !done.close_frame) return;
                               keep->holding = false;
                               release_held();
                             });
  }

  std::shared_ptr<State> state_;
};

}  // namespace yoi::net::detail

template <template <class, class> class Associator, class H, class State, class Default>
struct boost::asio::associator<Associator, yoi::net::detail::HeldRead<H, State>, Default>
    : Associator<H, Default> {
  static typename Associator<H, Default>::type get(const yoi::net::detail::HeldRead<H, State>& h) noexcept {
    return Associator<H, Default>::get(h.handler);
  }
  static auto get(const yoi::net::detail::HeldRead<H, State>& h, const Default& d) noexcept
      -> decltype(Associator<H, Default>::get(h.handler, d)) {
    return Associator<H, Default>::get(h.handler, d);
  }
};
