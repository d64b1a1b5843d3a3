#include "yoi/tools/output.hpp"

#include <algorithm>

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

std::size_t utf8_complete_prefix(std::string_view s) {
  std::size_t i = s.size();
  int back = 0;
  while (i > 0 && back < 3 && is_continuation(s[i - 1])) --i, ++back;
  if (i == 0) return s.size();
  auto lead = static_cast<unsigned char>(s[i - 1]);
  std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return s.size() - (i - 1) < need ? i - 1 : s.size();
}

std::string valid_utf8_copy(std::string_view text) {
  if (valid_utf8(text)) return std::string(text);
  std::string clean;
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
  return clean;
}

namespace {

// The one elision format: head, marker, tail.
Bounded elide(std::string_view head, std::string_view tail, std::uint64_t elided) {
  return {fmt::format("{}\n… [{} bytes elided] …\n{}", head, elided, tail), true};
}

// The tail of `all` that fits beside `head_size` bytes in `max_bytes`,
// starting on a UTF-8 sequence boundary.
std::string_view tail_fitting(std::string_view all, std::size_t head_size, std::size_t max_bytes) {
  std::size_t keep = max_bytes - head_size;
  std::size_t tail_start = all.size() > keep ? all.size() - keep : 0;
  while (tail_start < all.size() && is_continuation(all[tail_start])) ++tail_start;
  return all.substr(tail_start);
}

}  // namespace

Bounded bound_output(std::string_view text, std::size_t max_bytes) {
  std::string clean = valid_utf8_copy(text);
  if (clean.size() <= max_bytes) return {std::move(clean), false};
  std::string_view all = clean;
  std::string_view head = utf8_prefix(all, max_bytes / 2);
  std::string_view tail = tail_fitting(all, head.size(), max_bytes);
  return elide(head, tail, all.size() - head.size() - tail.size());
}

void OutputCapture::append(std::string_view bytes) {
  total_ += bytes.size();
  std::size_t to_head = std::min(bytes.size(), max_ - std::min(max_, head_.size()));
  head_.append(bytes.substr(0, to_head));
  bytes.remove_prefix(to_head);
  if (bytes.empty()) return;
  if (bytes.size() >= max_) {
    tail_.assign(bytes.substr(bytes.size() - max_));
    return;
  }
  tail_.append(bytes);
  if (tail_.size() > 2 * max_) tail_.erase(0, tail_.size() - max_);
}

Bounded OutputCapture::finish() const {
  std::uint64_t kept = head_.size() + tail_.size();
  if (kept == total_) return bound_output(head_ + tail_, max_);
  // Bytes were dropped between head and tail: the stream is longer than
  // 2 * max_, so it is cut whatever the UTF-8 repair adds.
  std::string head = valid_utf8_copy(utf8_prefix(head_, max_ / 2));
  std::string_view raw_tail = tail_;
  while (!raw_tail.empty() && is_continuation(raw_tail.front())) raw_tail.remove_prefix(1);
  std::string tail_clean = valid_utf8_copy(raw_tail);
  std::string_view tail = tail_fitting(tail_clean, std::min(head.size(), max_), max_);
  std::uint64_t shown = head.size() + tail.size();
  return elide(head, tail, total_ > shown ? total_ - shown : 0);
}

}  // namespace yoi::tools
