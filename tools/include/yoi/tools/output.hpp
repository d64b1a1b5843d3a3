#pragma once
// Output bounding (ARCHITECTURE §12) and the UTF-8 rules every tool shares.
// One place decides how a tool's output is cut: bound_output.

#include <cstddef>
#include <string>
#include <string_view>

#include "yoi/utf8.hpp"

namespace yoi::tools {

struct Bounded {
  std::string text;
  bool truncated = false;
};

// Makes `text` valid UTF-8 (each invalid byte becomes U+FFFD) and, when it is
// longer than `max_bytes`, keeps a head and a tail of about half each with
// "\n… [N bytes elided] …\n" between; never cuts inside a UTF-8 sequence.
// `truncated` is true when bytes were elided.
Bounded bound_output(std::string_view text, std::size_t max_bytes);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
using yoi::valid_utf8;

// The longest prefix of `s` of at most `max_bytes` that does not end inside a
// UTF-8 sequence (for per-line cuts; `s` may be invalid UTF-8).
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes);

}  // namespace yoi::tools
