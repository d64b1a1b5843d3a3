#include "yoi/runtime_server/config.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/config_file.hpp"

#include "yoi/ids.hpp"
#include "yoi/tools/policy.hpp"
#include "yoi/tools/specs.hpp"

namespace yoi::runtime_server {
namespace {

using config::File;
using config::Setters;
namespace set = config;

// A system prompt kept in its own file, relative to the config file's folder.
Result<void> read_prompt_file(const std::string& path, std::string& prompt) {
  if (!prompt.empty()) return fail(Code::config_invalid, "set system_prompt or system_prompt_file, not both");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, "the file cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 256 * 1024) return fail(Code::config_invalid, "the file is larger than 256 KiB");
  prompt = std::move(text);
  return {};
}

// `[[profiles.NAME.permissions]]` (ARCHITECTURE §15): an array of tables
// {tool, pattern?, action}, in order. A bad entry is named by its position
// and its own line.
std::optional<std::string> permission_rules(const toml::node& n, std::vector<tools::Rule>& out) {
  const auto* arr = n.as_array();
  if (!arr) return "must be an array of tables ([[profiles.NAME.permissions]])";
  std::vector<tools::Rule> rules;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& e = *arr->get(i);
    auto where = [&](std::string_view why) {
      return fmt::format("entry {} (line {}): {}", i + 1, e.source().begin.line, why);
    };
    const auto* t = e.as_table();
    if (!t) return where("must be a table with tool, pattern and action");
    tools::Rule r;
    bool has_tool = false, has_action = false;
    for (const auto& [key, v] : *t) {
      std::string k(key.str());
      if (k == "tool" && v.is_string()) {
        r.tool = *v.value<std::string>();
        has_tool = true;
      } else if (k == "pattern" && v.is_string()) {
        r.pattern = *v.value<std::string>();
      } else if (k == "action" && v.is_string()) {
        auto a = tools::action_from_name(*v.value<std::string>());
        if (!a) return where(fmt::format("action '{}' is not allow, ask or deny", *v.value<std::string>()));
        r.action = *a;
        has_action = true;
      } else if (k == "tool" || k == "pattern" || k == "action") {
        return where(fmt::format("{} must be a string", k));
      } else {
        return where(fmt::format("'{}' is not a known key (tool, pattern, action)", k));
      }
    }
    if (!has_tool || !has_action) return where("needs a tool and an action");
    if (auto bad = tools::check_rule(r)) return where(*bad);
    rules.push_back(std::move(r));
  }
  out = std::move(rules);
  return std::nullopt;
}

Result<void> parse_profile(const std::string& name, const toml::node& node, const File& file,
                           engines::ProfileConfig& p) {
  std::string prefix = "profiles." + name;
  auto t = config::subtable(file, node, prefix);
  if (!t) return fail(t.error());
  p.name = name;
  std::chrono::milliseconds chunk_delay{0}, connect{p.connect_timeout}, first{p.first_byte_timeout},
      idle{p.idle_timeout};
  std::string prompt_file;
  Setters s{
      {"engine", set::one_of(p.engine, {"echo", "openai"})},
      {"history_messages", set::count(p.history_messages, 0)},
      {"echo_chunk_bytes", set::count(p.echo_chunk_bytes, 1)},
      {"echo_chunk_delay_ms", set::ms(chunk_delay)},
      {"echo_burst", set::count(p.echo_burst, 1)},
      {"base_url", set::secret(p.base_url)},
      {"model", set::string(p.model)},
      {"api_key_env", set::string(p.api_key_env)},
      {"system_prompt", set::string(p.system_prompt)},
      {"system_prompt_file", set::path(prompt_file, file)},
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
      {"connect_timeout_ms", set::ms(connect, 1)},
      {"first_byte_timeout_ms", set::ms(first, 1)},
      {"idle_timeout_ms", set::ms(idle, 1)},
      {"max_retries", set::count(p.max_retries, 0)},
      {"tools",
       [&p](const toml::node& n) -> std::optional<std::string> {
         std::vector<std::string> names;
         if (auto e = set::strings(names)(n)) return e;
         for (const auto& name : names) {
           if (name == "bash") return "bash is not available yet (it comes with the sandbox, ARCHITECTURE §14)";
           if (!tools::find_spec(name))
             return fmt::format("unknown tool '{}' (tools: read, write, edit, glob, grep)", name);
         }
         p.tools = std::move(names);
         return std::nullopt;
       }},
      {"max_steps", set::count(p.max_steps, 1)},
      {"permissions", [&p](const toml::node& n) { return permission_rules(n, p.permissions); }},
  };
  if (auto r = config::apply(file, **t, prefix, s); !r) return r;
  if (!prompt_file.empty()) {
    if (auto r = read_prompt_file(prompt_file, p.system_prompt); !r)
      return file.error(node, prefix + ".system_prompt_file", r.error().message);
  }
  p.echo_chunk_delay = chunk_delay;
  p.connect_timeout = connect;
  p.first_byte_timeout = first;
  p.idle_timeout = idle;
  if (p.engine == "openai" && (p.base_url.empty() || p.model.empty()))
    return file.error(node, prefix, "(engine openai) needs base_url and model");
  return {};
}

}  // namespace

Result<RuntimeConfig> parse_config(std::string_view text, std::string_view source) {
  File file(source);
  auto root = config::parse(text, file);
  if (!root) return fail(root.error());
  RuntimeConfig c;
  auto& l = c.limits;
  Setters runtime{
      {"id", set::id(c.runtime_id)},
      {"display_name", set::string(c.display_name)},
      {"listen", set::string(c.listen, true)},
      {"store", set::one_of(c.store, {"memory", "fs"})},
      {"data_dir", set::path(c.data_dir, file)},
      {"fsync", set::one_of(c.fsync, {"always", "batch", "none"})},
      {"fsync_batch_interval_ms", set::ms(c.fsync_batch_interval, 1)},
      {"heartbeat_interval_ms", set::ms(c.heartbeat_interval, 10)},
      {"shutdown_timeout_ms", set::ms(c.shutdown_timeout, 0)},
      {"token_file", set::path(c.token_file, file)},
      {"allowed_hosts", set::strings(c.allowed_hosts)},
  };
  Setters limits{
      {"max_workers", set::count(l.max_workers, 1)},
      {"max_content_bytes", set::count(l.max_content_bytes, 1)},
      {"max_display_name", set::count(l.max_display_name, 1)},
      {"default_page", set::count(l.default_page, 1)},
      {"max_page", set::count(l.max_page, 1)},
      {"snapshot_transcript_tail", set::count(l.snapshot_transcript_tail, 0)},
      {"retention_events", set::count(l.retention_events, 1)},
      {"retention_bytes", set::count(l.retention_bytes, 1)},
      {"dedupe_window", set::count(l.dedupe_window, 0)},
      {"max_tool_output_bytes", set::count(l.max_tool_output_bytes, 1024)},
      {"max_body_bytes", set::count(c.max_body_bytes, 1)},
      {"max_header_bytes", set::count(c.max_header_bytes, 1024)},
      {"ws_max_message_bytes", set::count(c.ws_max_message_bytes, 1)},
      {"request_timeout_ms", set::ms(c.request_timeout, 1)},
      {"header_timeout_ms", set::ms(c.header_timeout, 100)},
      {"keep_alive_timeout_ms", set::ms(c.keep_alive_timeout, 100)},
  };
  for (const auto& [key, node] : *root) {
    std::string k(key.str());
    if (k == "profiles" || k == "workspaces") continue;
    const Setters* setters = k == "runtime" ? &runtime : k == "limits" ? &limits : nullptr;
    if (!setters) return file.error(node, k, "is not a known key");
    auto t = config::subtable(file, node, k);
    if (!t) return fail(t.error());
    if (auto r = config::apply(file, **t, k, *setters); !r) return fail(r.error());
  }
  if (l.default_page > l.max_page)
    return file.error(*root->get("limits"), "limits.default_page", "exceeds limits.max_page");
  if (auto* node = root->get("profiles")) {
    auto t = config::subtable(file, *node, "profiles");
    if (!t) return fail(t.error());
    for (const auto& [name, profile] : **t) {
      std::string n(name.str());
      if (!is_valid_id(n)) return file.error(profile, "profiles." + n, "is not a valid profile name ([A-Za-z0-9_:-])");
      engines::ProfileConfig p;
      if (auto r = parse_profile(n, profile, file, p); !r) return fail(r.error());
      c.profiles.push_back(std::move(p));
    }
  }
  if (auto* node = root->get("workspaces")) {
    auto t = config::subtable(file, *node, "workspaces");
    if (!t) return fail(t.error());
    for (const auto& [name, ws] : **t) {
      std::string n(name.str());
      std::string prefix = "workspaces." + n;
      if (!is_valid_id(n)) return file.error(ws, prefix, "is not a valid workspace name ([A-Za-z0-9_:-])");
      auto wt = config::subtable(file, ws, prefix);
      if (!wt) return fail(wt.error());
      rt::WorkspaceConfig w;
      Setters s{
          {"path", set::path(w.path, file)},
          {"access", set::one_of(w.access, {"read", "write"})},
      };
      if (auto r = config::apply(file, **wt, prefix, s); !r) return fail(r.error());
      std::error_code ec;
      if (w.path.empty() || !std::filesystem::is_directory(w.path, ec))
        return file.error(ws, prefix + ".path", "must name an existing directory");
      c.workspaces[n] = std::move(w);
    }
  }
  return c;
}

Result<RuntimeConfig> load_config(const std::string& path) {
  auto text = config::read(path);
  if (!text) return fail(text.error());
  return parse_config(*text, path);
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
  if (!token_file.empty()) return config::read_token_file(token_file, "runtime.token_file");
  if (const char* v = getenv("YOI_RUNTIME_TOKEN"); v && *v) return Secret(v);
  return Secret();
}

}  // namespace yoi::runtime_server
