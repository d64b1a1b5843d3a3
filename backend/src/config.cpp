#include "yoi/backend/config.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/config_file.hpp"

#include "yoi/backend/http_client.hpp"
#include "yoi/ids.hpp"
#include "yoi/profiles/profile.hpp"

namespace yoi::backend {
namespace {

using config::File;
using config::Setters;
namespace set = config;

// A [[runtimes]] entry. Its token is read here, so a missing one fails at start.
Result<RemoteConfig> parse_runtime(const File& file, const toml::table& t, std::set<std::string>& ids) {
  RemoteConfig rc;
  std::optional<std::string> token_file, token_env, base_url;
  std::string id;
  Setters s{
      {"id", set::id(id)},
      {"display_name", set::string(rc.display_name)},
      {"base_url", set::string(base_url)},
      {"token_file", set::path(token_file, file)},
      {"token_env", set::string(token_env)},
      {"timeout_ms", set::ms(rc.timeout, 1)},
      {"connect_timeout_ms", set::ms(rc.connect_timeout, 1)},
      {"probe_interval_ms", set::ms(rc.probe_interval, 0)},
      {"ca_file", set::path(rc.ca_file, file)},
  };
  if (auto r = config::apply(file, t, "runtimes", s); !r) return fail(r.error());
  if (id.empty()) return fail(Code::config_invalid, fmt::format("{}: [[runtimes]] entry lacks 'id'", file.at(t)));
  if (!ids.insert(id).second) return file.error(*t.get("id"), "runtimes.id", fmt::format("duplicates runtime id '{}'", id));
  rc.id = id;
  if (!base_url) return fail(Code::config_invalid, fmt::format("{}: runtime '{}' lacks 'base_url'", file.at(t), rc.id));
  Secret url(std::move(*base_url));
  // The URL itself is never repeated in the message.
  if (auto ep = http::parse_base_url(url); !ep)
    return file.error(*t.get("base_url"), "runtimes.base_url", ep.error().message.substr(9));
  rc.base_url = std::move(url);
  if (token_file && token_env)
    return fail(Code::config_invalid,
                fmt::format("{}: runtime '{}' has both 'token_file' and 'token_env'; give one", file.at(t), rc.id));
  if (token_file) {
    auto tok = config::read_token_file(*token_file, fmt::format("{}: 'runtimes.token_file'", file.at(*t.get("token_file"))));
    if (!tok) return fail(tok.error());
    rc.token = std::move(*tok);
  } else if (token_env) {
    const char* env = std::getenv(token_env->c_str());
    std::string value = env ? env : "";
    auto b = value.find_first_not_of(" \t\r\n"), e = value.find_last_not_of(" \t\r\n");
    if (b == std::string::npos)
      return file.error(*t.get("token_env"), "runtimes.token_env",
                        fmt::format("names environment variable {} which is unset or empty", *token_env));
    rc.token = Secret(value.substr(b, e - b + 1));
  } else {
    return fail(Code::config_invalid,
                fmt::format("{}: runtime '{}' needs a token source: 'token_file' or 'token_env'", file.at(t), rc.id));
  }
  if (rc.display_name.empty()) rc.display_name = rc.id;
  return rc;
}

Result<void> parse_embedded(const File& file, const toml::table& t, EmbeddedConfig& e) {
  Setters s{
      {"enabled", set::boolean(e.enabled)},
      {"id", set::id(e.id)},
      {"display_name", set::string(e.display_name)},
      {"store", set::one_of(e.store, {"fs", "memory"})},
      {"fsync", set::one_of(e.fsync, {"always", "batch", "none"})},
      {"echo_chunk_delay_ms", set::ms(e.echo_chunk_delay, 0)},
      {"runtime_config", set::path(e.runtime_config, file)},
  };
  return config::apply(file, t, "embedded", s);
}

Result<void> parse_observe(const File& file, const toml::table& t, ServerConfig& cfg) {
  auto& o = cfg.observe;
  // Counts: upper bounds keep a typo from reserving gigabytes per worker.
  Setters s{
      {"cursor_key_file", set::path(cfg.cursor_key_file, file)},
      {"ring_events", set::count(o.ring_events, 1, 1'000'000)},
      {"ring_bytes", set::count(o.ring_bytes, 1024, std::int64_t(1) << 30)},
      {"catchup_page", set::count(o.catchup_page, 1, 10'000)},
      {"max_upstream_frame", set::count(o.max_upstream_frame, 1024, std::int64_t(1) << 30)},
      {"heartbeat_ms", set::ms(o.heartbeat, 100)},
      {"grace_ms", set::ms(o.grace, 0)},
      {"lag_timeout_ms", set::ms(o.lag_timeout, 1)},
      {"connect_timeout_ms", set::ms(o.connect_timeout, 1)},
      {"upstream_idle_timeout_ms", set::ms(o.upstream_idle_timeout, 100)},
      {"backoff_initial_ms", set::ms(o.backoff.initial, 1)},
      {"backoff_max_ms", set::ms(o.backoff.max, 1)},
  };
  if (auto r = config::apply(file, t, "observe", s); !r) return r;
  if (o.backoff.max < o.backoff.initial)
    return file.error(t, "observe.backoff_max_ms", "must not be less than backoff_initial_ms");
  return {};
}

}  // namespace

Result<ServerConfig> parse_config(std::string_view text, std::string_view name) {
  File file(name);
  auto root = config::parse(text, file);
  if (!root) return fail(root.error());
  ServerConfig cfg;
  std::set<std::string> ids;
  Setters limits{
      {"header_timeout_ms", set::ms(cfg.header_timeout, 100)},
      {"keep_alive_timeout_ms", set::ms(cfg.keep_alive_timeout, 100)},
      {"shutdown_timeout_ms", set::ms(cfg.shutdown_timeout, 0)},
  };
  Setters server{
      {"allowed_hosts", set::strings(cfg.allowed_hosts)},
      {"allowed_origins", set::strings(cfg.allowed_origins)},
  };
  Setters scalars{
      {"listen", set::string(cfg.listen)},
      {"data_dir", set::path(cfg.data_dir, file)},
      {"web_dir", set::path(cfg.web_dir, file)},
      {"access_token_file", set::path(cfg.access_token_file, file)},
  };
  for (const auto& [k, node] : *root) {
    std::string key(k.str());
    Result<void> r;
    if (auto it = scalars.find(key); it != scalars.end()) {
      if (auto why = it->second(node)) return file.error(node, key, *why);
    } else if (key == "runtimes") {
      if (!node.is_array_of_tables()) return file.error(node, key, "must be an array of tables ([[runtimes]])");
      for (const auto& item : *node.as_array()) {
        auto rc = parse_runtime(file, *item.as_table(), ids);
        if (!rc) return fail(rc.error());
        cfg.runtimes.push_back(std::move(*rc));
      }
    } else if (key == "profiles") {
      // yoi-server's own profiles (ARCHITECTURE §16): the rules of a
      // runtime's, with no secret written inline (profiles::Origin).
      auto t = config::subtable(file, node, key);
      if (!t) return fail(t.error());
      for (const auto& [name, table] : **t) {
        auto p = profiles::from_toml(std::string(name.str()), table, file, profiles::Origin::server_config);
        if (!p) return fail(p.error());
        cfg.profile_bodies[name.str()] = std::move(p->body);
        cfg.profiles.push_back(std::move(p->profile));
      }
    } else if (key == "embedded" || key == "observe" || key == "limits" || key == "server") {
      auto t = config::subtable(file, node, key);
      if (!t) return fail(t.error());
      r = key == "embedded" ? parse_embedded(file, **t, cfg.embedded)
          : key == "observe" ? parse_observe(file, **t, cfg)
          : key == "server"  ? config::apply(file, **t, key, server)
                             : config::apply(file, **t, key, limits);
    } else {
      return file.error(node, key, "is not a known key");
    }
    if (!r) return fail(r.error());
  }
  if (cfg.embedded.enabled && ids.contains(cfg.embedded.id))
    return fail(Code::config_invalid,
                fmt::format("{}: runtime id '{}' is also the embedded runtime's id", name, cfg.embedded.id));
  return cfg;
}

Result<ServerConfig> load_config(const std::string& path) {
  auto text = config::read(path);
  if (!text) return fail(text.error());
  return parse_config(*text, path);
}

}  // namespace yoi::backend
