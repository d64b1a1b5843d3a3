#include "yoi/runtime/cursor.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

namespace yoi::rt {

std::string worker_tag(std::string_view worker_id) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : worker_id) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:012x}", h & 0xffffffffffffULL);
}

std::string worker_history(std::string_view runtime_epoch, std::string_view incarnation) {
  std::string h;
  h.reserve(runtime_epoch.size() + incarnation.size());
  h.append(runtime_epoch).append(incarnation);
  return h;
}

std::string encode_cursor(std::string_view epoch, std::string_view tag, std::uint64_t seq) {
  return fmt::format("r1.{}.{}.{}", epoch, tag, seq);
}

namespace {

// isxdigit without the locale lookup, one table load a byte (on the relay's
// path per event, issue 22).
constexpr auto kHex = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  return t;
}();

bool all_hex(std::string_view s) {
  bool ok = true;
  for (char ch : s) ok &= kHex[static_cast<unsigned char>(ch)];
  return ok;
}

}  // namespace

Result<CursorParts> parse_cursor(std::string_view c) {
  auto bad = [] { return fail(Code::cursor_invalid, "cursor is malformed"); };
  if (c.size() > 128 || !c.starts_with("r1.")) return bad();
  c.remove_prefix(3);
  auto d1 = c.find('.');
  if (d1 == std::string_view::npos) return bad();
  auto d2 = c.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return bad();
  CursorParts p;
  p.epoch = c.substr(0, d1);
  p.tag = c.substr(d1 + 1, d2 - d1 - 1);
  auto num = c.substr(d2 + 1);
  if (p.epoch.empty() || p.tag.size() != 12 || num.empty()) return bad();
  if (!all_hex(p.epoch) || !all_hex(p.tag)) return bad();
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), p.seq);
  if (ec != std::errc() || ptr != num.data() + num.size()) return bad();
  return p;
}

}  // namespace yoi::rt
