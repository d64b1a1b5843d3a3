#include "yoi/runtime_server/config.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/config_file.hpp"

#include "yoi/ids.hpp"
#include "yoi/profiles/profile.hpp"

namespace yoi::runtime_server {
namespace {

using config::File;
using config::Setters;
namespace set = config;

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
      {"snapshot_transcript_bytes", set::count(l.snapshot_transcript_bytes, 0)},
      {"retention_events", set::count(l.retention_events, 1)},
      {"retention_bytes", set::count(l.retention_bytes, 1)},
      {"dedupe_window", set::count(l.dedupe_window, 0)},
      {"max_tool_output_bytes", set::count(l.max_tool_output_bytes, 1024)},
      {"max_tool_stream_bytes", set::count(l.max_tool_stream_bytes, 1024)},
      {"max_reply_bytes", set::count(l.max_reply_bytes, 1024)},
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
      auto p = profiles::from_toml(std::string(name.str()), profile, file, profiles::Origin::runtime_config);
      if (!p) return fail(p.error());
      c.profiles.push_back(std::move(p->profile));
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
  auto c = parse_config(*text, path);
  if (c) c->hidden_paths.push_back(path);  // bash never reads its runtime's config
  return c;
}

Result<void> resolve_api_keys(std::vector<engines::ProfileConfig>& profiles,
                              const std::function<const char*(const char*)>& getenv) {
  for (auto& p : profiles)
    if (auto r = profiles::resolve_env(p, getenv); !r) return r;
  return {};
}

Result<Secret> resolve_token(const std::string& token_file,
                             const std::function<const char*(const char*)>& getenv) {
  if (!token_file.empty()) return config::read_token_file(token_file, "runtime.token_file");
  if (const char* v = getenv("YOI_RUNTIME_TOKEN"); v && *v) return Secret(v);
  return Secret();
}

}  // namespace yoi::runtime_server
