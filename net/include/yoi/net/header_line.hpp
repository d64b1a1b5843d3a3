#pragma once
// One HTTP/1.1 header line, appended as "\r\n<name>: <value>". Shared by the
// server's response writer and yoi-server's client of yoi-runtime, which
// both format a head into one buffer. A name or value carrying CR or LF is
// dropped rather than allowed to split the message.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace yoi::net {

// True when `s` holds a CR or an LF. It runs on every header of every
// message, so eight bytes at a time: a word with no byte below 0x0E (most
// of them; CR is 0x0D, LF 0x0A) is skipped with a few operations, and only
// a word with such a byte is looked at byte by byte. The last word overlaps
// the one before it rather than leaving a tail.
inline bool has_cr_or_lf(std::string_view s) {
  auto exact = [](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (p[i] == '\r' || p[i] == '\n') return true;
    return false;
  };
  auto word = [&](const char* p) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    // Non-zero iff some byte of w is below 0x0E (the "has less than" bit trick).
    return ((w - ones * 0x0E) & ~w & highs) != 0 && exact(p, 8);
  };
  if (s.size() < 8) return exact(s.data(), s.size());
  for (std::size_t i = 0; i + 8 <= s.size(); i += 8)
    if (word(s.data() + i)) return true;
  return s.size() % 8 != 0 && word(s.data() + s.size() - 8);
}

// For a name and value known to hold neither CR nor LF (constants, digits).
// One resize and plain copies rather than four appends: this runs for every
// header line both servers and yoi-server's client write.
inline void append_header_line_unchecked(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t at = out.size();
  out.resize(at + 4 + name.size() + value.size());
  char* p = out.data() + at;
  std::memcpy(p, "\r\n", 2);
  std::memcpy(p + 2, name.data(), name.size());
  std::memcpy(p + 2 + name.size(), ": ", 2);
  std::memcpy(p + 4 + name.size(), value.data(), value.size());
}

inline void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  if (has_cr_or_lf(name) || has_cr_or_lf(value)) return;
  append_header_line_unchecked(out, name, value);
}

}  // namespace yoi::net
