#pragma once
// Runtime cursors: the one definition of their format, for the core (which
// issues and checks them) and yoi-server's sources (which build one for a
// runtime's `after=` / `?cursor=` when resuming). Clients treat them as
// opaque; the backend never hands them to a browser (it has its own).
//
//   "r1.<epoch>.<worker tag>.<seq>"
//
// The epoch part ties a cursor to one history of one worker: the runtime's
// epoch (a memory store restarted gets a new one) followed by the worker's
// incarnation (a worker deleted and created again under the same id starts
// a new history; worker_history builds it). The worker tag (a hash of the worker id) catches a cursor presented
// to the wrong worker; seq is the last event the holder has seen (0: none).

#include <cstdint>
#include <string>
#include <string_view>

#include "yoi/error.hpp"

namespace yoi::rt {

struct CursorParts {
  std::string_view epoch;
  std::string_view tag;
  std::uint64_t seq = 0;
};

std::string worker_tag(std::string_view worker_id);
// The epoch part of a worker's cursors: runtime epoch + incarnation (hex).
std::string worker_history(std::string_view runtime_epoch, std::string_view incarnation);
std::string encode_cursor(std::string_view epoch, std::string_view tag, std::uint64_t seq);
// cursor_invalid when it does not parse.
Result<CursorParts> parse_cursor(std::string_view cursor);

}  // namespace yoi::rt
