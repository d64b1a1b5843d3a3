#pragma once
// Runtime cursors: the one definition of their format, for the core (which
// issues and checks them) and yoi-server's sources (which build one for a
// runtime's `after=` / `?cursor=` when resuming). Clients treat them as
// opaque; the backend never hands them to a browser (it has its own).
//
//   "r1.<epoch>.<worker tag>.<seq>"
//
// The epoch ties a cursor to one history (a memory store restarted gets a new
// one); the worker tag (a hash of the worker id) catches a cursor presented
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
std::string encode_cursor(std::string_view epoch, std::string_view tag, std::uint64_t seq);
// cursor_invalid when it does not parse.
Result<CursorParts> parse_cursor(std::string_view cursor);

}  // namespace yoi::rt
