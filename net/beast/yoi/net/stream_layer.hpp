#pragma once
// StreamLayer: the forwarding half of a stream layer that sits between a
// Beast WebSocket stream and its socket (net/write_gate.hpp queues writes).
// A layer derives from it and hides only the operation it changes;
// everything else, Beast's teardown customisation points included, goes to
// the layer below.
//
//   template <class Next>
//   class MyLayer : public StreamLayer<MyLayer<Next>, Next> { ... };
//
// It includes Beast, so it is not among yoi_net's public headers: a target
// that needs it links the INTERFACE target yoi_net_beast (net/CMakeLists.txt).

#include <utility>

#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>

namespace yoi::net {

template <class Layer, class Next>
class StreamLayer {
 public:
  using executor_type = typename Next::executor_type;
  using next_layer_type = Next;

  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  executor_type get_executor() noexcept { return next_.get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return next_.async_write_some(buffers, std::forward<Token>(token));
  }

 protected:
  template <class... Args>
  explicit StreamLayer(Args&&... args) : next_(std::forward<Args>(args)...) {}

  Next next_;

 private:
  // Beast's teardown customisation points, found by argument-dependent
  // lookup as friends of the layer's base. Non-templates taking the layer
  // itself, so they beat Beast's catch-all templates.
  friend void teardown(boost::beast::role_type role, Layer& s, boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, s.next_layer(), ec);
  }
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, Layer& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
  }
};

}  // namespace yoi::net
