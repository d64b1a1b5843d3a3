#pragma once
// Identity rules (ARCHITECTURE §3): runtime and worker ids are 1-120 chars of
// [A-Za-z0-9_:-], starting with a letter or digit. Ids never become file names
// without encoding (encode_for_path).

#include <string>
#include <string_view>

#include "yoi/error.hpp"

namespace yoi {

inline constexpr std::size_t kMaxIdLength = 120;

bool is_valid_id(std::string_view id);
// Ok, or invalid_id naming what (`what` is "worker_id" / "runtime_id").
Result<void> validate_id(std::string_view id, std::string_view what);

// A reversible, filesystem-safe encoding of a valid id: letters, digits and
// '-' pass through; every other byte becomes '_' + two hex digits. The
// result never contains '/', '.', or ':', and is never "." or "..".
std::string encode_for_path(std::string_view id);
// Inverse of encode_for_path; fails with invalid_id on a malformed name.
Result<std::string> decode_from_path(std::string_view name);

}  // namespace yoi
