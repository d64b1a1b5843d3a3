#include "yoi/config_file.hpp"

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

}  // namespace yoi::config
