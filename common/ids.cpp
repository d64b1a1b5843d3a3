#include "yoi/ids.hpp"

#include <fmt/format.h>

namespace yoi {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength || !is_alnum(id.front())) return false;
  for (char c : id)
    if (!is_alnum(c) && c != '_' && c != ':' && c != '-') return false;
  return true;
}

Result<void> validate_id(std::string_view id, std::string_view what) {
  if (is_valid_id(id)) return {};
  if (id.empty()) return fail(Code::invalid_id, fmt::format("{} must not be empty", what));
  if (id.size() > kMaxIdLength)
    return fail(Code::invalid_id, fmt::format("{} is longer than {} characters", what, kMaxIdLength));
  return fail(Code::invalid_id,
              fmt::format("{} must be letters, digits, '_', ':' or '-', starting with a letter "
                          "or digit",
                          what));
}

std::string encode_for_path(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(id.size() + 8);
  for (unsigned char c : id) {
    if (is_alnum(static_cast<char>(c)) || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('_');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

Result<std::string> decode_from_path(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c != '_') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= name.size())
      return fail(Code::invalid_id, "truncated escape in encoded id");
    int hi = hex_value(name[i + 1]), lo = hex_value(name[i + 2]);
    if (hi < 0 || lo < 0) return fail(Code::invalid_id, "bad escape in encoded id");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (!is_valid_id(out)) return fail(Code::invalid_id, "encoded name is not a valid id");
  return out;
}

}  // namespace yoi
