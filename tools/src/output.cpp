#include "yoi/tools/output.hpp"

#include <fmt/format.h>

namespace yoi::tools {
namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

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
      std::size_t n = utf8_sequence_length(text, i);
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
