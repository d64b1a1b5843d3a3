#include "yoi/server/config.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/ids.hpp"

namespace yoi::server {
namespace {

using Setter = std::function<std::optional<std::string>(const toml::node&)>;  // error text or nullopt

std::string where(std::string_view source, const toml::node& n) {
  return fmt::format("{}:{}", source, n.source().begin.line);
}

Setter str(std::string& out, bool nonempty = false) {
  return [&out, nonempty](const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::string>();
    if (!v || !n.is_string()) return "must be a string";
    if (nonempty && v->empty()) return "must not be empty";
    out = *v;
    return std::nullopt;
  };
}

Setter secret(Secret& out) {
  return [&out](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_string()) return "must be a string";
    out = Secret(*n.value<std::string>());
    return std::nullopt;
  };
}

template <class T>
Setter uint(T& out, std::int64_t min = 0) {
  return [&out, min](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_integer()) return "must be an integer";
    auto v = *n.value<std::int64_t>();
    if (v < min) return fmt::format("must be at least {}", min);
    out = static_cast<T>(v);
    return std::nullopt;
  };
}

Setter ms(std::chrono::milliseconds& out, std::int64_t min = 0) {
  return [&out, min](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_integer()) return "must be an integer (milliseconds)";
    auto v = *n.value<std::int64_t>();
    if (v < min) return fmt::format("must be at least {}", min);
    out = std::chrono::milliseconds(v);
    return std::nullopt;
  };
}

Setter one_of(std::string& out, std::vector<std::string> allowed) {
  return [&out, allowed](const toml::node& n) -> std::optional<std::string> {
    if (!n.is_string()) return "must be a string";
    auto v = *n.value<std::string>();
    for (const auto& a : allowed)
      if (a == v) {
        out = v;
        return std::nullopt;
      }
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return fmt::format("must be one of: {}", list);
  };
}

// Applies `setters` to every key of `table`; unknown keys are errors.
Result<void> apply(const toml::table& table, std::string_view prefix, std::string_view source,
                   const std::map<std::string, Setter, std::less<>>& setters) {
  for (const auto& [key, node] : table) {
    auto name = fmt::format("{}.{}", prefix, key.str());
    auto it = setters.find(key.str());
    if (it == setters.end())
      return fail(Code::config_invalid, fmt::format("{}: unknown key '{}'", where(source, node), name));
    if (auto e = it->second(node))
      return fail(Code::config_invalid, fmt::format("{}: key '{}' {}", where(source, node), name, *e));
  }
  return {};
}

// A system prompt kept in its own file, relative to the config file's folder.
Result<void> read_prompt_file(const std::string& file, std::string_view source, std::string& prompt) {
  if (!prompt.empty()) return fail(Code::config_invalid, "set system_prompt or system_prompt_file, not both");
  std::filesystem::path path(file);
  if (path.is_relative()) path = std::filesystem::path(source).parent_path() / path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, "the file cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 256 * 1024) return fail(Code::config_invalid, "the file is larger than 256 KiB");
  prompt = std::move(text);
  return {};
}

Result<void> parse_profile(const std::string& name, const toml::node& node, std::string_view source,
                           engines::ProfileConfig& p) {
  auto* t = node.as_table();
  if (!t)
    return fail(Code::config_invalid,
                fmt::format("{}: key 'profiles.{}' must be a table", where(source, node), name));
  p.name = name;
  std::string prefix = "profiles." + name;
  std::chrono::milliseconds chunk_delay{0}, connect{p.connect_timeout}, first{p.first_byte_timeout},
      idle{p.idle_timeout};
  std::string prompt_file;
  std::map<std::string, Setter, std::less<>> s{
      {"engine", one_of(p.engine, {"echo", "openai"})},
      {"history_messages", uint(p.history_messages)},
      {"echo_chunk_bytes", uint(p.echo_chunk_bytes, 1)},
      {"echo_chunk_delay_ms", ms(chunk_delay)},
      {"echo_burst", uint(p.echo_burst, 1)},
      {"base_url", secret(p.base_url)},
      {"model", str(p.model)},
      {"api_key_env", str(p.api_key_env)},
      {"system_prompt", str(p.system_prompt)},
      {"system_prompt_file", str(prompt_file)},
      {"temperature",
       [&p](const toml::node& n) -> std::optional<std::string> {
         if (!n.is_number()) return "must be a number";
         p.temperature = *n.value<double>();
         return std::nullopt;
       }},
      {"max_tokens",
       [&p](const toml::node& n) -> std::optional<std::string> {
         if (!n.is_integer() || *n.value<std::int64_t>() < 1) return "must be a positive integer";
         p.max_tokens = *n.value<std::int64_t>();
         return std::nullopt;
       }},
      {"connect_timeout_ms", ms(connect, 1)},
      {"first_byte_timeout_ms", ms(first, 1)},
      {"idle_timeout_ms", ms(idle, 1)},
      {"max_retries", uint(p.max_retries)},
  };
  if (auto r = apply(*t, prefix, source, s); !r) return r;
  if (!prompt_file.empty()) {
    if (auto r = read_prompt_file(prompt_file, source, p.system_prompt); !r)
      return fail(Code::config_invalid, fmt::format("{}: key '{}.system_prompt_file': {}",
                                                    where(source, node), prefix, r.error().message));
  }
  p.echo_chunk_delay = chunk_delay;
  p.connect_timeout = connect;
  p.first_byte_timeout = first;
  p.idle_timeout = idle;
  if (p.engine == "openai" && (p.base_url.empty() || p.model.empty()))
    return fail(Code::config_invalid,
                fmt::format("{}: profile '{}' (engine openai) needs base_url and model", where(source, node), name));
  return {};
}

}  // namespace

Result<RuntimeConfig> parse_config(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return fail(Code::config_invalid, fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  RuntimeConfig c;
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (k != "runtime" && k != "limits" && k != "profiles")
      return fail(Code::config_invalid, fmt::format("{}: unknown key '{}'", where(source, node), k));
    if (!node.is_table())
      return fail(Code::config_invalid, fmt::format("{}: key '{}' must be a table", where(source, node), k));
  }
  if (auto* t = root["runtime"].as_table()) {
    std::map<std::string, Setter, std::less<>> s{
        {"id", str(c.runtime_id, true)},
        {"display_name", str(c.display_name)},
        {"listen", str(c.listen, true)},
        {"store", one_of(c.store, {"memory", "fs"})},
        {"data_dir", str(c.data_dir)},
        {"fsync", one_of(c.fsync, {"always", "batch", "none"})},
        {"fsync_batch_interval_ms", ms(c.fsync_batch_interval, 1)},
        {"heartbeat_interval_ms", ms(c.heartbeat_interval, 10)},
        {"shutdown_timeout_ms", ms(c.shutdown_timeout, 0)},
        {"token_file", str(c.token_file)},
    };
    if (auto r = apply(*t, "runtime", source, s); !r) return fail(r.error());
    if (auto* idn = t->get("id"); idn && !is_valid_id(c.runtime_id))
      return fail(Code::config_invalid,
                  fmt::format("{}: key 'runtime.id' is not a valid id ([A-Za-z0-9_:-], 1-120 chars)",
                              where(source, *idn)));
  }
  if (auto* t = root["limits"].as_table()) {
    auto& l = c.limits;
    std::map<std::string, Setter, std::less<>> s{
        {"max_workers", uint(l.max_workers, 1)},
        {"max_content_bytes", uint(l.max_content_bytes, 1)},
        {"max_display_name", uint(l.max_display_name, 1)},
        {"default_page", uint(l.default_page, 1)},
        {"max_page", uint(l.max_page, 1)},
        {"snapshot_transcript_tail", uint(l.snapshot_transcript_tail)},
        {"retention_events", uint(l.retention_events, 1)},
        {"retention_bytes", uint(l.retention_bytes, 1)},
        {"dedupe_window", uint(l.dedupe_window)},
        {"max_body_bytes", uint(c.max_body_bytes, 1)},
        {"max_header_bytes", uint(c.max_header_bytes, 1024)},
        {"ws_max_message_bytes", uint(c.ws_max_message_bytes, 1)},
        {"request_timeout_ms", ms(c.request_timeout, 1)},
        {"header_timeout_ms", ms(c.header_timeout, 100)},
        {"keep_alive_timeout_ms", ms(c.keep_alive_timeout, 100)},
    };
    if (auto r = apply(*t, "limits", source, s); !r) return fail(r.error());
    if (l.default_page > l.max_page)
      return fail(Code::config_invalid,
                  fmt::format("{}: key 'limits.default_page' exceeds limits.max_page", where(source, *t)));
  }
  if (auto* t = root["profiles"].as_table()) {
    for (const auto& [name, node] : *t) {
      std::string n(name.str());
      if (!is_valid_id(n))
        return fail(Code::config_invalid,
                    fmt::format("{}: profile name 'profiles.{}' must be [A-Za-z0-9_:-]", where(source, node), n));
      engines::ProfileConfig p;
      if (auto r = parse_profile(n, node, source, p); !r) return fail(r.error());
      c.profiles.push_back(std::move(p));
    }
  }
  return c;
}

Result<RuntimeConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, fmt::format("cannot read config file {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

Result<void> resolve_api_keys(std::vector<engines::ProfileConfig>& profiles,
                              const std::function<const char*(const char*)>& getenv) {
  for (auto& p : profiles) {
    if (p.api_key_env.empty()) continue;
    const char* v = getenv(p.api_key_env.c_str());
    if (!v || !*v)
      return fail(Code::config_invalid,
                  fmt::format("profile '{}': environment variable {} (api_key_env) is not set", p.name,
                              p.api_key_env));
    p.api_key = Secret(v);
  }
  return {};
}

Result<Secret> resolve_token(const std::string& token_file,
                             const std::function<const char*(const char*)>& getenv) {
  if (!token_file.empty()) {
    std::ifstream in(token_file, std::ios::binary);
    if (!in) return fail(Code::config_invalid, fmt::format("cannot read token file {}", token_file));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = ss.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ' || t.back() == '\t'))
      t.pop_back();
    if (t.empty()) return fail(Code::config_invalid, fmt::format("token file {} is empty", token_file));
    return Secret(std::move(t));
  }
  if (const char* v = getenv("YOI_RUNTIME_TOKEN"); v && *v) return Secret(v);
  return Secret();
}

}  // namespace yoi::server
