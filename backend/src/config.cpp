#include "yoi/backend/config.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/backend/http_client.hpp"
#include "yoi/ids.hpp"

namespace yoi::backend {
namespace {

struct Ctx {
  std::string_view file;
  std::string at(const toml::node& n) const { return fmt::format("{}:{}", file, n.source().begin.line); }
  tl::unexpected<Error> err(const toml::node& n, std::string_view key, std::string_view why) const {
    return fail(Code::config_invalid, fmt::format("{}: '{}' {}", at(n), key, why));
  }
};

Result<std::string> get_str(const Ctx& c, const toml::node& n, std::string_view key, bool nonempty = true) {
  if (!n.is_string()) return c.err(n, key, "must be a string");
  auto v = *n.value<std::string>();
  if (nonempty && v.empty()) return c.err(n, key, "must not be empty");
  return v;
}

Result<std::chrono::milliseconds> get_ms(const Ctx& c, const toml::node& n, std::string_view key,
                                         std::int64_t min) {
  if (!n.is_integer()) return c.err(n, key, "must be an integer (milliseconds)");
  auto v = *n.value<std::int64_t>();
  if (v < min) return c.err(n, key, fmt::format("must be at least {}", min));
  return std::chrono::milliseconds(v);
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, e - b + 1);
}

Result<RemoteConfig> parse_runtime(const Ctx& c, const toml::table& t, std::set<std::string>& ids) {
  RemoteConfig rc;
  std::optional<std::string> token_file, token_env;
  bool have_id = false, have_url = false;
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    std::string full = "runtimes." + key;
    if (key == "id") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      if (!is_valid_id(*v)) return c.err(node, full, "must be 1-120 characters of [A-Za-z0-9_:-]");
      if (!ids.insert(*v).second) return c.err(node, full, fmt::format("duplicates runtime id '{}'", *v));
      rc.id = *v;
      have_id = true;
    } else if (key == "display_name") {
      auto v = get_str(c, node, full, false);
      if (!v) return fail(v.error());
      rc.display_name = *v;
    } else if (key == "base_url") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      Secret url(*v);
      // The URL itself is never repeated in the message.
      if (auto ep = http::parse_base_url(url); !ep) return c.err(node, full, ep.error().message.substr(9));
      rc.base_url = std::move(url);
      have_url = true;
    } else if (key == "token_file") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      token_file = *v;
      auto tok = read_token_file(*v, fmt::format("{}: '{}'", c.at(node), full));
      if (!tok) return fail(tok.error());
      rc.token = std::move(*tok);
    } else if (key == "token_env") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      token_env = *v;
      const char* env = std::getenv(v->c_str());
      if (!env || trim(env).empty())
        return c.err(node, full, fmt::format("names environment variable {} which is unset or empty", *v));
      rc.token = Secret(trim(env));
    } else if (key == "timeout_ms") {
      auto v = get_ms(c, node, full, 1);
      if (!v) return fail(v.error());
      rc.timeout = *v;
    } else if (key == "connect_timeout_ms") {
      auto v = get_ms(c, node, full, 1);
      if (!v) return fail(v.error());
      rc.connect_timeout = *v;
    } else if (key == "probe_interval_ms") {
      auto v = get_ms(c, node, full, 0);
      if (!v) return fail(v.error());
      rc.probe_interval = *v;
    } else if (key == "ca_file") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      rc.ca_file = *v;
    } else {
      return c.err(node, full, "is not a known key");
    }
  }
  if (!have_id) return fail(Code::config_invalid, fmt::format("{}: [[runtimes]] entry lacks 'id'", c.at(t)));
  if (!have_url)
    return fail(Code::config_invalid,
                fmt::format("{}: runtime '{}' lacks 'base_url'", c.at(t), rc.id));
  if (token_file && token_env)
    return fail(Code::config_invalid,
                fmt::format("{}: runtime '{}' has both 'token_file' and 'token_env'; give one", c.at(t), rc.id));
  if (!token_file && !token_env)
    return fail(Code::config_invalid,
                fmt::format("{}: runtime '{}' needs a token source: 'token_file' or 'token_env'", c.at(t), rc.id));
  if (rc.display_name.empty()) rc.display_name = rc.id;
  return rc;
}

Result<void> parse_embedded(const Ctx& c, const toml::table& t, EmbeddedConfig& e) {
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    std::string full = "embedded." + key;
    if (key == "enabled") {
      if (!node.is_boolean()) return c.err(node, full, "must be true or false");
      e.enabled = *node.value<bool>();
    } else if (key == "id") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      if (!is_valid_id(*v)) return c.err(node, full, "must be 1-120 characters of [A-Za-z0-9_:-]");
      e.id = *v;
    } else if (key == "display_name") {
      auto v = get_str(c, node, full, false);
      if (!v) return fail(v.error());
      e.display_name = *v;
    } else if (key == "store") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      if (*v != "fs" && *v != "memory") return c.err(node, full, "must be \"fs\" or \"memory\"");
      e.store = *v;
    } else if (key == "fsync") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      if (*v != "always" && *v != "batch" && *v != "none")
        return c.err(node, full, "must be \"always\", \"batch\" or \"none\"");
      e.fsync = *v;
    } else if (key == "echo_chunk_delay_ms") {
      auto v = get_ms(c, node, full, 0);
      if (!v) return fail(v.error());
      e.echo_chunk_delay = *v;
    } else if (key == "runtime_config") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      e.runtime_config = *v;
    } else {
      return c.err(node, full, "is not a known key");
    }
  }
  return {};
}

Result<std::size_t> get_count(const Ctx& c, const toml::node& n, std::string_view key, std::int64_t min,
                              std::int64_t max) {
  if (!n.is_integer()) return c.err(n, key, "must be an integer");
  auto v = *n.value<std::int64_t>();
  if (v < min || v > max) return c.err(n, key, fmt::format("must be between {} and {}", min, max));
  return static_cast<std::size_t>(v);
}

Result<void> parse_observe(const Ctx& c, const toml::table& t, ServerConfig& cfg) {
  auto& o = cfg.observe;
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    std::string full = "observe." + key;
    // A named reference for the lambdas: clang 14 cannot capture a
    // structured binding (C++20 P1091, clang 16).
    const auto& value = node;
    // Counts: upper bounds keep a typo from reserving gigabytes per worker.
    auto count = [&](std::size_t& out, std::int64_t min, std::int64_t max) -> Result<void> {
      auto v = get_count(c, value, full, min, max);
      if (!v) return fail(v.error());
      out = *v;
      return {};
    };
    auto ms = [&](std::chrono::milliseconds& out, std::int64_t min) -> Result<void> {
      auto v = get_ms(c, value, full, min);
      if (!v) return fail(v.error());
      out = *v;
      return {};
    };
    Result<void> r;
    if (key == "cursor_key_file") {
      auto v = get_str(c, node, full);
      if (!v) return fail(v.error());
      cfg.cursor_key_file = *v;
    } else if (key == "ring_events") {
      r = count(o.ring_events, 1, 1'000'000);
    } else if (key == "ring_bytes") {
      r = count(o.ring_bytes, 1024, std::int64_t(1) << 30);
    } else if (key == "catchup_page") {
      r = count(o.catchup_page, 1, 10'000);
    } else if (key == "lag_catchup_pages") {
      r = count(o.lag_catchup_pages, 1, 100'000);
    } else if (key == "max_upstream_frame") {
      r = count(o.max_upstream_frame, 1024, std::int64_t(1) << 30);
    } else if (key == "heartbeat_ms") {
      r = ms(o.heartbeat, 100);
    } else if (key == "grace_ms") {
      r = ms(o.grace, 0);
    } else if (key == "connect_timeout_ms") {
      r = ms(o.connect_timeout, 1);
    } else if (key == "upstream_idle_timeout_ms") {
      r = ms(o.upstream_idle_timeout, 100);
    } else if (key == "backoff_initial_ms") {
      r = ms(o.backoff.initial, 1);
    } else if (key == "backoff_max_ms") {
      r = ms(o.backoff.max, 1);
    } else {
      return c.err(node, full, "is not a known key");
    }
    if (!r) return r;
  }
  if (o.backoff.max < o.backoff.initial)
    return c.err(t, "observe.backoff_max_ms", "must not be less than backoff_initial_ms");
  return {};
}

Result<void> parse_limits(const Ctx& c, const toml::table& t, ServerConfig& cfg) {
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    std::string full = "limits." + key;
    std::chrono::milliseconds* out = key == "header_timeout_ms"       ? &cfg.header_timeout
                                     : key == "keep_alive_timeout_ms" ? &cfg.keep_alive_timeout
                                                                      : nullptr;
    if (!out) return c.err(node, full, "is not a known key");
    auto v = get_ms(c, node, full, 100);
    if (!v) return fail(v.error());
    *out = *v;
  }
  return {};
}

}  // namespace

Result<Secret> read_token_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, fmt::format("{} names a token file that cannot be read", what));
  std::ostringstream ss;
  ss << in.rdbuf();
  auto tok = trim(ss.str());
  if (tok.empty()) return fail(Code::config_invalid, fmt::format("{} names an empty token file", what));
  if (tok.size() > 4096) return fail(Code::config_invalid, fmt::format("{} names an oversized token file", what));
  return Secret(std::move(tok));
}

Result<ServerConfig> parse_config(std::string_view text, std::string_view name) {
  Ctx c{name};
  toml::table root;
  try {
    root = toml::parse(text, std::string(name));
  } catch (const toml::parse_error& e) {
    return fail(Code::config_invalid, fmt::format("{}:{}: {}", name, e.source().begin.line, e.description()));
  }
  ServerConfig cfg;
  std::set<std::string> ids;
  for (const auto& [k, node] : root) {
    std::string key(k.str());
    if (key == "listen" || key == "data_dir" || key == "web_dir" || key == "access_token_file") {
      auto v = get_str(c, node, key);
      if (!v) return fail(v.error());
      if (key == "listen") cfg.listen = *v;
      if (key == "data_dir") cfg.data_dir = *v;
      if (key == "web_dir") cfg.web_dir = *v;
      if (key == "access_token_file") cfg.access_token_file = *v;
    } else if (key == "embedded") {
      if (!node.is_table()) return c.err(node, key, "must be a table ([embedded])");
      if (auto r = parse_embedded(c, *node.as_table(), cfg.embedded); !r) return fail(r.error());
    } else if (key == "observe") {
      if (!node.is_table()) return c.err(node, key, "must be a table ([observe])");
      if (auto r = parse_observe(c, *node.as_table(), cfg); !r) return fail(r.error());
    } else if (key == "limits") {
      if (!node.is_table()) return c.err(node, key, "must be a table ([limits])");
      if (auto r = parse_limits(c, *node.as_table(), cfg); !r) return fail(r.error());
    } else if (key == "runtimes") {
      if (!node.is_array_of_tables()) return c.err(node, key, "must be an array of tables ([[runtimes]])");
      for (const auto& item : *node.as_array()) {
        auto rc = parse_runtime(c, *item.as_table(), ids);
        if (!rc) return fail(rc.error());
        cfg.runtimes.push_back(std::move(*rc));
      }
    } else {
      return c.err(node, key, "is not a known key");
    }
  }
  if (cfg.embedded.enabled && ids.contains(cfg.embedded.id))
    return fail(Code::config_invalid,
                fmt::format("{}: runtime id '{}' is also the embedded runtime's id", name, cfg.embedded.id));
  return cfg;
}

Result<ServerConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, fmt::format("cannot read config file {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace yoi::backend
