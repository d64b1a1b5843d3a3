#pragma once
// WsReader: the frames a WebSocket server sends its client (RFC 6455), parsed
// from the bytes the upstream read so far (remote_upstream.cpp). The upstream
// reads its runtime's socket into its own buffer and takes every whole
// message in it at once, instead of one message per io turn through Beast
// (issue 22). Untrusted input: every rule Beast's client enforced holds here
// and a violation is `error`, which ends the connection as a failed Beast read
// did (the stream is lost):
//   - frames from a server are unmasked, no RSV bits (no extension is
//     negotiated), opcodes 0-2 and 8-10 only, lengths in their shortest form;
//   - control frames (close, ping, pong) are final and at most 125 bytes, and
//     may come between the fragments of a message;
//   - a continuation needs a message in progress, a new message needs none;
//   - a message (all its fragments) is at most `max_message` bytes.
// Text messages are not checked for UTF-8 here: the upstream passes on only
// what a JSON parser validated (rt::wire::scan_event_frame, json::parse).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace yoi::backend::detail {

class WsReader {
 public:
  explicit WsReader(std::size_t max_message) : max_(max_message) {}

  // fragment: a non-final fragment was taken (`used`), nothing to hand out yet.
  enum class Kind { message, fragment, ping, pong, close, need_more, error };
  struct Item {
    Kind kind = Kind::need_more;
    // message / ping / pong / close: the payload. Valid until the next call
    // and while the bytes given stay put (an unfragmented message is a view
    // of them; a fragmented one is assembled in the reader).
    std::string_view payload;
    std::size_t used = 0;  // bytes of `in` consumed; drop them before the next call
    std::size_t need = 0;  // need_more: bytes of `in` the next item needs at least
  };

  // The next item from the front of `in`.
  Item next(std::string_view in);

 private:
  std::size_t max_;
  bool in_message_ = false;  // fragments of a message were taken, not yet the final one
  std::string assembled_;    // those fragments
};

}  // namespace yoi::backend::detail
