#pragma once
// One idiom for both binaries' TOML config files (ARCHITECTURE §9): a table
// of named setters per TOML table, one error wording, one token-file reader.
//
// Every problem is config_invalid and reads
//   "<file>:<line>: '<table.key>' <why>"      e.g. "s.toml:4: 'limits.max_page' must be at least 1"
// and unknown keys are errors ("... 'x.y' is not a known key").
//
// Relative paths written in a config file resolve against the folder of that
// file (File::resolve), so a config is portable with what sits beside it;
// paths given as flags stay relative to the working directory.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace yoi::config {

// The file being read: its name for messages and its folder for paths.
class File {
 public:
  explicit File(std::string_view name) : name_(name), dir_(std::filesystem::path(name).parent_path()) {}
  const std::string& name() const { return name_; }
  // "<file>:<line>"
  std::string at(const toml::node& n) const;
  // config_invalid: "<file>:<line>: '<key>' <why>"
  tl::unexpected<Error> error(const toml::node& n, std::string_view key, std::string_view why) const;
  // A path as written in the file: relative ones resolve against its folder.
  std::string resolve(std::string_view path) const;

 private:
  std::string name_;
  std::filesystem::path dir_;
};

// Parses TOML text; a syntax error is config_invalid naming the line.
Result<toml::table> parse(std::string_view text, const File& file);
// Reads a whole config file (config_invalid naming the path when unreadable).
Result<std::string> read(const std::string& path);

// A setter stores one key's value, or returns why it cannot.
using Setter = std::function<std::optional<std::string>(const toml::node&)>;
using Setters = std::map<std::string, Setter, std::less<>>;

// Applies `setters` to every key of `table` (named `prefix` in messages; ""
// for the root). Unknown keys are errors.
Result<void> apply(const File& file, const toml::table& table, std::string_view prefix, const Setters& setters);
// The node of `table` that is itself a table, or an error naming `key`.
Result<const toml::table*> subtable(const File& file, const toml::node& node, std::string_view key);

Setter string(std::string& out, bool nonempty = false);
Setter string(std::optional<std::string>& out, bool nonempty = true);
// An array of non-empty strings (at most 256).
Setter strings(std::vector<std::string>& out);
// A path: relative paths resolve against the file's folder.
Setter path(std::string& out, const File& file);
Setter path(std::optional<std::string>& out, const File& file);
Setter secret(Secret& out);
Setter boolean(bool& out);
Setter one_of(std::string& out, std::vector<std::string> allowed);
Setter ms(std::chrono::milliseconds& out, std::int64_t min = 0);
// An integer of at least `min` and, when given, at most `max` (always at
// most what T holds).
std::optional<std::string> check_count(const toml::node& n, std::int64_t min, std::optional<std::int64_t> max);
template <class T>
Setter count(T& out, std::int64_t min, std::optional<std::int64_t> max = std::nullopt) {
  constexpr auto t_max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  if (!max && t_max < static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    max = static_cast<std::int64_t>(t_max);
  return [&out, min, max](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_count(n, min, max)) return e;
    out = static_cast<T>(*n.value<std::int64_t>());
    return std::nullopt;
  };
}
// An id ([A-Za-z0-9_:-], 1-120 characters).
Setter id(std::string& out);

// A token file: whitespace trimmed at both ends, non-empty, at most 4 KiB.
// config_invalid naming the file (`what` says where it was configured),
// never the token.
Result<Secret> read_token_file(const std::string& path, std::string_view what);

// A secret made once and kept (the access token, the cursor key): read as
// read_token_file when `path` exists; else 32 random bytes (OpenSSL
// RAND_bytes) as 64 hex digits, written to a fresh file of mode 0600 and
// linked into place, so a reader never sees half a file and two processes
// racing end with the same secret. *created says whether this call made it.
// store_io when it can be neither read nor made (naming the path, never the
// secret).
Result<Secret> secret_file(const std::string& path, std::string_view what, bool* created = nullptr);

}  // namespace yoi::config
