#pragma once
// Percent-decoding of a path segment or a whole path, shared by the router
// (each segment) and route_request (Request::path). Private to net/.

#include <algorithm>
#include <string>
#include <string_view>

namespace yoi::net::detail {

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends `s` decoded to `out`: "%XX" with two hex digits is the byte XX;
// anything else, a stray '%' included, is kept as it is (route_request only
// routes targets the URL grammar accepted; Router::match is also called on
// raw strings by tests). Never longer than `s`.
inline void append_pct_decoded(std::string& out, std::string_view s) {
  // The runs between '%'s are copied whole: most paths have none.
  for (std::size_t i = 0; i < s.size();) {
    const auto pct = std::min(s.find('%', i), s.size());
    out.append(s, i, pct - i);
    if (pct == s.size()) break;
    int hi = 0, lo = 0;
    if (pct + 2 < s.size() && (hi = hex_digit(s[pct + 1])) >= 0 && (lo = hex_digit(s[pct + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i = pct + 3;
    } else {
      out.push_back('%');
      i = pct + 1;
    }
  }
}

}  // namespace yoi::net::detail
