#include "screen.hpp"

#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

namespace yoi::cli {
namespace {

constexpr std::size_t kIncomplete = static_cast<std::size_t>(-1);

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF); 0 when it is not
// one; kIncomplete when the text ends inside a sequence that could still be
// well-formed.
std::size_t sequence_at(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || b == 0xC0 || b == 0xC1 || b > 0xF4) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return kIncomplete;
    unsigned char c = byte(i + k);
    if ((c & 0xC0) != 0x80) return 0;
    if (k == 1) {
      if (len == 3 && ((b == 0xE0 && c < 0xA0) || (b == 0xED && c > 0x9F))) return 0;
      if (len == 4 && ((b == 0xF0 && c < 0x90) || (b == 0xF4 && c > 0x8F))) return 0;
    }
  }
  return len;
}

std::uint32_t decode(std::string_view s, std::size_t i, std::size_t len) {
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k])); };
  if (len == 1) return byte(i);
  std::uint32_t cp = byte(i) & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  return cp;
}

bool is_bidi_control(std::uint32_t cp) { return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069); }

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Appends the printable form of `s` to `out`; returns how many bytes it
// consumed (less than s.size() only when `hold` and s ends mid-sequence).
std::size_t render(std::string_view s, bool hold, std::string& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = sequence_at(s, i);
    if (len == kIncomplete) {
      if (hold) return i;
      out += kReplacement;  // the rest is one cut-off sequence
      return s.size();
    }
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    std::uint32_t cp = decode(s, i, len);
    if (cp == '\n' || cp == '\t')
      out += static_cast<char>(cp);
    else if (cp < 0x20)
      out += {'^', static_cast<char>(cp + 0x40)};
    else if (cp == 0x7F)
      out += "^?";
    else if ((cp >= 0x80 && cp <= 0x9F) || is_bidi_control(cp))
      out += fmt::format("\\u{:04x}", cp);
    else
      out.append(s.substr(i, len));
    i += len;
  }
  return s.size();
}

}  // namespace

std::optional<std::size_t> invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = sequence_at(s, i);
    if (len == 0 || len == kIncomplete) return i;
    i += len;
  }
  return std::nullopt;
}

std::string Printable::feed(std::string_view piece) {
  std::string in = std::move(held_);
  in.append(piece);
  std::string out;
  std::size_t used = render(in, true, out);
  held_ = in.substr(used);
  return out;
}

std::string Printable::finish() {
  std::string out;
  render(held_, false, out);
  held_.clear();
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  render(text, false, out);
  return out;
}

void Screen::text(std::string_view text) {
  auto s = p_.feed(text);
  if (s.empty()) return;
  std::cout << s << std::flush;
  mid_line_ = s.back() != '\n';
}

void Screen::line_break() {
  auto rest = p_.finish();
  if (!rest.empty()) {
    std::cout << rest;
    mid_line_ = true;
  }
  if (mid_line_) std::cout << "\n";
  std::cout << std::flush;
  mid_line_ = false;
}

void Screen::note(std::string_view note) {
  if (mid_line_ && ::isatty(1)) line_break();
  std::cerr << "yoi: " << printable(note) << "\n" << std::flush;
}

Screen& screen() {
  static Screen s;
  return s;
}

}  // namespace yoi::cli
