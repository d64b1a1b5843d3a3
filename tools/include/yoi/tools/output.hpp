#pragma once
// Output bounding (ARCHITECTURE §12) and the UTF-8 rules every tool shares.
// One place decides how a tool's output is cut: bound_output.

#include <cstddef>
#include <cstdint>
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

// Bytes from a source that may be invalid UTF-8 made valid: each invalid
// byte becomes U+FFFD.
std::string valid_utf8_copy(std::string_view bytes);

// The length of `s` without a trailing UTF-8 sequence that is incomplete
// (its remaining bytes may still arrive: a pipe read cuts anywhere).
std::size_t utf8_complete_prefix(std::string_view s);

// bound_output for a stream too long to hold (a command's output): keeps the
// first and the last `max_bytes` and counts what falls between. finish()
// answers what bound_output would for the whole stream (with the elided
// count of the whole stream). Memory: at most about 3 * max_bytes.
class OutputCapture {
 public:
  explicit OutputCapture(std::size_t max_bytes) : max_(max_bytes) {}
  void append(std::string_view bytes);
  std::uint64_t total() const { return total_; }
  Bounded finish() const;

 private:
  std::size_t max_;
  std::string head_;   // the first max_ bytes
  std::string tail_;   // the last bytes after the head (trimmed to max_ when 2 * max_)
  std::uint64_t total_ = 0;
};

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
using yoi::valid_utf8;

// The longest prefix of `s` of at most `max_bytes` that does not end inside a
// UTF-8 sequence (for per-line cuts; `s` may be invalid UTF-8).
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes);

}  // namespace yoi::tools
