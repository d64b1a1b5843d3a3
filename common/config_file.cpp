#include "yoi/config_file.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "yoi/ids.hpp"

namespace yoi::config {

std::string File::at(const toml::node& n) const { return fmt::format("{}:{}", name_, n.source().begin.line); }

tl::unexpected<Error> File::error(const toml::node& n, std::string_view key, std::string_view why) const {
  return fail(Code::config_invalid, fmt::format("{}: '{}' {}", at(n), key, why));
}

std::string File::resolve(std::string_view path) const {
  std::filesystem::path p(path);
  if (p.is_relative() && !dir_.empty()) p = dir_ / p;
  return p.string();
}

Result<toml::table> parse(std::string_view text, const File& file) {
  try {
    return toml::parse(text, file.name());
  } catch (const toml::parse_error& e) {
    return fail(Code::config_invalid, fmt::format("{}:{}: {}", file.name(), e.source().begin.line, e.description()));
  }
}

Result<std::string> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, fmt::format("cannot read config file {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> apply(const File& file, const toml::table& table, std::string_view prefix, const Setters& setters) {
  for (const auto& [key, node] : table) {
    auto name = prefix.empty() ? std::string(key.str()) : fmt::format("{}.{}", prefix, key.str());
    auto it = setters.find(key.str());
    if (it == setters.end()) return file.error(node, name, "is not a known key");
    if (auto why = it->second(node)) return file.error(node, name, *why);
  }
  return {};
}

Result<const toml::table*> subtable(const File& file, const toml::node& node, std::string_view key) {
  if (auto* t = node.as_table()) return t;
  return file.error(node, key, fmt::format("must be a table ([{}])", key));
}

namespace {
std::optional<std::string> check_string(const toml::node& n, bool nonempty) {
  if (!n.is_string()) return "must be a string";
  if (nonempty && n.value<std::string>()->empty()) return "must not be empty";
  return std::nullopt;
}
}  // namespace

Setter string(std::string& out, bool nonempty) {
  return [&out, nonempty](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, nonempty)) return e;
    out = *n.value<std::string>();
    return std::nullopt;
  };
}

Setter strings(std::vector<std::string>& out) {
  return [&out](const toml::node& n) -> std::optional<std::string> {
    const auto* arr = n.as_array();
    if (!arr) return "must be an array of strings";
    if (arr->size() > 256) return "must hold at most 256 entries";
    std::vector<std::string> v;
    for (const auto& item : *arr) {
      auto s = item.value<std::string>();
      if (!item.is_string() || !s || s->empty()) return "must be an array of non-empty strings";
      v.push_back(std::move(*s));
    }
    out = std::move(v);
    return std::nullopt;
  };
}

Setter string(std::optional<std::string>& out, bool nonempty) {
  return [&out, nonempty](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, nonempty)) return e;
    out = *n.value<std::string>();
    return std::nullopt;
  };
}

Setter path(std::string& out, const File& file) {
  return [&out, &file](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, true)) return e;
    out = file.resolve(*n.value<std::string>());
    return std::nullopt;
  };
}

Setter path(std::optional<std::string>& out, const File& file) {
  return [&out, &file](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, true)) return e;
    out = file.resolve(*n.value<std::string>());
    return std::nullopt;
  };
}

Setter secret(Secret& out) {
  return [&out](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, false)) return e;
    out = Secret(*n.value<std::string>());
    return std::nullopt;
  };
}

Setter boolean(bool& out) {
  return [&out](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_boolean()) return "must be true or false";
    out = *n.value<bool>();
    return std::nullopt;
  };
}

Setter one_of(std::string& out, std::vector<std::string> allowed) {
  return [&out, allowed = std::move(allowed)](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_string()) return "must be a string";
    auto v = *n.value<std::string>();
    for (const auto& a : allowed)
      if (a == v) {
        out = v;
        return std::nullopt;
      }
    return fmt::format("must be one of: \"{}\"", fmt::join(allowed, "\", \""));
  };
}

Setter ms(std::chrono::milliseconds& out, std::int64_t min) {
  return [&out, min](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_integer()) return "must be an integer (milliseconds)";
    auto v = *n.value<std::int64_t>();
    if (v < min) return fmt::format("must be at least {}", min);
    out = std::chrono::milliseconds(v);
    return std::nullopt;
  };
}

std::optional<std::string> check_count(const toml::node& n, std::int64_t min, std::optional<std::int64_t> max) {
  if (!n.is_integer()) return "must be an integer";
  auto v = *n.value<std::int64_t>();
  if (max && (v < min || v > *max)) return fmt::format("must be between {} and {}", min, *max);
  if (v < min) return fmt::format("must be at least {}", min);
  return std::nullopt;
}

Setter id(std::string& out) {
  return [&out](const toml::node& n) -> std::optional<std::string> {
    if (auto e = check_string(n, true)) return e;
    auto v = *n.value<std::string>();
    if (!is_valid_id(v)) return "must be 1-120 characters of [A-Za-z0-9_:-]";
    out = std::move(v);
    return std::nullopt;
  };
}

Result<Secret> read_token_file(const std::string& path, std::string_view what) {
  // Larger than any token: a wrong path (a log, a binary) is refused unread.
  constexpr std::size_t kMaxToken = 4096;
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, fmt::format("{}: token file {} cannot be read", what, path));
  std::string text(kMaxToken + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto b = text.find_first_not_of(" \t\r\n");
  auto e = text.find_last_not_of(" \t\r\n");
  if (text.size() > kMaxToken)
    return fail(Code::config_invalid, fmt::format("{}: token file {} is larger than {} bytes", what, path, kMaxToken));
  if (b == std::string::npos) return fail(Code::config_invalid, fmt::format("{}: token file {} is empty", what, path));
  return Secret(text.substr(b, e - b + 1));
}

namespace {

// Writes all of `data` to a new file at `tmp` (O_EXCL, 0600) and syncs it.
bool write_new_file(const std::string& tmp, std::string_view data) {
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = true;
  while (ok && !data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) data.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  return ok;
}

}  // namespace

Result<Secret> secret_file(const std::string& path, std::string_view what, bool* created) {
  if (created) *created = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return read_token_file(path, what);
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return fail(Code::internal, fmt::format("{}: no randomness for a new secret", what));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (auto b : bytes) {
    text += kHex[b >> 4];
    text += kHex[b & 0xf];
  }
  Secret made(text);
  text += '\n';
  auto tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed start of this pid
  bool written = write_new_file(tmp, text);
  std::fill(text.begin(), text.end(), '\0');
  // link() never replaces: if another process made the file meanwhile,
  // theirs wins and is read back.
  int linked = written ? ::link(tmp.c_str(), path.c_str()) : -1;
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!written || (linked != 0 && link_errno != EEXIST))
    return fail(Code::store_io, fmt::format("{}: cannot create {}", what, path));
  if (linked != 0) return read_token_file(path, what);
  if (created) *created = true;
  return made;
}

}  // namespace yoi::config
