#pragma once
// ASCII case-insensitive comparison for header names, schemes and host
// names (all ASCII in HTTP), whatever the process locale. Private to net/.

#include <string_view>

namespace yoi::net::detail {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

}  // namespace yoi::net::detail
