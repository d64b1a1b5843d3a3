#pragma once
// ReadHook: a stream layer under the upstream's Beast WebSocket stream that
// calls a hook each time Beast asks the layer below for more bytes, which it
// does only once every whole message already read has been handed out. So
// the hook marks the end of a burst: the feed wakes its clients then, once,
// and each client's writer sends the whole burst with one write instead of
// one write per event (net/write_gate.hpp).
//
// It also counts those reads: each one after the first means bytes arrived,
// which is all the upstream's idle check needs to know (remote_upstream.cpp).

#include <cstdint>
#include <functional>
#include <utility>

#include "yoi/net/stream_layer.hpp"

namespace yoi::backend::detail {

template <class Next>
class ReadHook : public net::StreamLayer<ReadHook<Next>, Next> {
  using Base = net::StreamLayer<ReadHook<Next>, Next>;

 public:
  template <class... Args>
  explicit ReadHook(Args&&... args) : Base(std::forward<Args>(args)...) {}

  // Called before every read from the layer below.
  void on_starved(std::function<void()> fn) { starved_ = std::move(fn); }

  // Reads asked of the layer below so far.
  std::uint64_t reads() const { return reads_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    ++reads_;
    if (starved_) starved_();
    return this->next_.async_read_some(buffers, std::forward<Token>(token));
  }

 private:
  std::function<void()> starved_;
  std::uint64_t reads_ = 0;
};

}  // namespace yoi::backend::detail
