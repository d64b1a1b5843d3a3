#pragma once
// ReadHook: a stream layer under the upstream's Beast WebSocket stream that
// calls a hook each time Beast asks the layer below for more bytes, which it
// does only once every whole message already read has been handed out. So
// the hook marks the end of a burst: the feed wakes its clients then, once,
// and each client's writer sends the whole burst with one write instead of
// one write per event (net/write_gate.hpp).

#include <functional>
#include <utility>

#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>

namespace yoi::backend::detail {

template <class Next>
class ReadHook {
 public:
  using executor_type = typename Next::executor_type;
  using next_layer_type = Next;

  template <class... Args>
  explicit ReadHook(Args&&... args) : next_(std::forward<Args>(args)...) {}

  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  executor_type get_executor() noexcept { return next_.get_executor(); }

  // Called before every read from the layer below.
  void on_starved(std::function<void()> fn) { starved_ = std::move(fn); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (starved_) starved_();
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return next_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  Next next_;
  std::function<void()> starved_;
};

// Beast's teardown customisation points: the layer below does the work.
template <class Next>
void teardown(boost::beast::role_type role, ReadHook<Next>& s, boost::system::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class Next, class Handler>
void async_teardown(boost::beast::role_type role, ReadHook<Next>& s, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

}  // namespace yoi::backend::detail
