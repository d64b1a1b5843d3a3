#include "yoi/tools/output.hpp"

#include <fmt/format.h>

namespace yoi::tools {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t sequence_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c == 0xED) n = 3, hi = 0x9F;  // no surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c == 0xF4) n = 4, hi = 0x8F;  // <= U+10FFFF
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t cut = max_bytes;
  for (int back = 0; back < 3 && cut > 0 && is_continuation(s[cut]); ++back) --cut;
  if (is_continuation(s[cut])) cut = max_bytes;  // invalid anyway: cut where asked
  return s.substr(0, cut);
}

Bounded bound_output(std::string_view text, std::size_t max_bytes) {
  std::string clean;
  if (valid_utf8(text)) {
    clean.assign(text);
  } else {
    clean.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
      std::size_t n = sequence_length(text, i);
      if (n == 0) {
        clean += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        clean.append(text.substr(i, n));
        i += n;
      }
    }
  }
  if (clean.size() <= max_bytes) return {std::move(clean), false};

  std::string_view all = clean;
  std::string_view head = utf8_prefix(all, max_bytes / 2);
  std::size_t tail_start = all.size() - (max_bytes - head.size());
  while (tail_start < all.size() && is_continuation(all[tail_start])) ++tail_start;
  std::string_view tail = all.substr(tail_start);
  std::size_t elided = all.size() - head.size() - tail.size();
  return {fmt::format("{}\n… [{} bytes elided] …\n{}", head, elided, tail), true};
}

}  // namespace yoi::tools
