#include "yoi/utf8.hpp"

namespace yoi {
namespace {

struct Lead {
  std::size_t n = 0;  // sequence length, 0: not a lead byte
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
};

Lead lead(unsigned char c) {
  if (c < 0x80) return {1};
  if (c >= 0xC2 && c <= 0xDF) return {2};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (c >= 0xE1 && c <= 0xEF) return {3};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};  // <= U+10FFFF
  if (c >= 0xF1 && c <= 0xF3) return {4};
  return {};
}

// True when s[i..) (shorter than a whole sequence is fine) can begin a
// sequence of length `l.n`: every present continuation byte is in range.
bool prefix_ok(std::string_view s, std::size_t i, const Lead& l) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  for (std::size_t k = 1; k < l.n && i + k < s.size(); ++k) {
    const unsigned char lo = k == 1 ? l.lo : 0x80, hi = k == 1 ? l.hi : 0xBF;
    if (b(i + k) < lo || b(i + k) > hi) return false;
  }
  return true;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const Lead l = lead(static_cast<unsigned char>(s[i]));
  if (l.n == 0 || i + l.n > s.size() || !prefix_ok(s, i, l)) return 0;
  return l.n;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::size_t utf8_incomplete_tail(std::string_view s) {
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const std::size_t i = s.size() - back;
    const Lead l = lead(static_cast<unsigned char>(s[i]));
    if (l.n == 0) continue;  // a continuation byte (or invalid): look further back
    return l.n > back && prefix_ok(s, i, l) ? back : 0;
  }
  return 0;
}

}  // namespace yoi
