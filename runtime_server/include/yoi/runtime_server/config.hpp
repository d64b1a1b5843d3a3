#pragma once
// yoi-runtime's process configuration: a TOML file (ARCHITECTURE §9) plus
// flags (flags win; main applies them on top of what load_config returns).
//
//   [runtime]   id, display_name, listen, store ("memory"|"fs"), data_dir,
//               heartbeat_interval_ms, shutdown_timeout_ms, token_file,
//               allowed_hosts (["name", "name:port"]),
//               fsync ("always"|"batch"|"none"), fsync_batch_interval_ms
//   [limits]    the core's rt::Limits fields by name (max_tool_output_bytes too), plus max_body_bytes,
//               max_header_bytes, ws_max_message_bytes, request_timeout_ms,
//               header_timeout_ms, keep_alive_timeout_ms
//   [profiles.<name>]  engine, description, history_messages, echo_chunk_bytes, system_prompt_file,
//               echo_chunk_delay_ms, base_url (or base_url_env), model, api_key_env,
//               system_prompt, temperature, max_tokens, connect_timeout_ms,
//               first_byte_timeout_ms, idle_timeout_ms, max_retries,
//               tools (["read","write","edit","glob","grep","bash"], the default), max_steps,
//               sandbox ("bwrap"|"none"), network (bool), max_bash_timeout_ms
//   [[profiles.<name>.permissions]]  tool, pattern?, action ("allow"|"ask"|"deny"):
//               the profile's permission rules in order (ARCHITECTURE §15)
//               (keys and rules: yoi/profiles/profile.hpp, shared with yoi-server and bundles)
//   [workspaces.<name>]  path (an existing directory), access ("read"|"write")
//
// Every error is config_invalid and names the key and the line; unknown keys
// are errors. Provider keys are not in the file: a profile names the
// environment variable (api_key_env), resolved by resolve_api_keys().

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/engines/engine.hpp"
#include "yoi/error.hpp"
#include "yoi/runtime/types.hpp"

namespace yoi::runtime_server {

struct RuntimeConfig {
  std::string runtime_id = "local";
  std::string display_name = "yoi runtime";
  std::string listen = "127.0.0.1:8790";
  std::string store = "memory";  // "memory" | "fs"
  std::string data_dir;          // required for fs
  std::string fsync = "always";  // fs store policy
  std::chrono::milliseconds fsync_batch_interval{5};
  std::chrono::milliseconds heartbeat_interval{15'000};
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::string token_file;  // a path, not the token
  // Host names the backend reaches this runtime by, beyond the loopback ones
  // (net/request_policy.hpp); required on a wildcard listen address.
  std::vector<std::string> allowed_hosts;
  rt::Limits limits;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t ws_max_message_bytes = 64 * 1024;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds header_timeout{10'000};      // a request's first byte → end of its header
  std::chrono::milliseconds keep_alive_timeout{60'000};  // an idle connection, between requests
  std::vector<engines::ProfileConfig> profiles;
  std::map<std::string, rt::WorkspaceConfig, std::less<>> workspaces;  // [workspaces.NAME]
  // runtime_default when `profiles` has none of that name (not from the file:
  // yoi-server's [embedded] echo_chunk_delay_ms sets it).
  engines::ProfileConfig default_profile;
  // Host paths bash never sees (ARCHITECTURE §14), besides data_dir and
  // token_file, which open_runtime adds: load_config adds the config file.
  std::vector<std::string> hidden_paths;
};

// Parses TOML text; `source` names the file in messages.
Result<RuntimeConfig> parse_config(std::string_view text, std::string_view source);
// Reads and parses a file (config_invalid when unreadable).
Result<RuntimeConfig> load_config(const std::string& path);

// Fills each profile's api_key from its api_key_env and base_url from its
// base_url_env (profiles::resolve_env). An unset or empty
// variable is config_invalid naming the profile and the variable (never a
// value). `getenv` is injectable for tests.
Result<void> resolve_api_keys(std::vector<engines::ProfileConfig>& profiles,
                              const std::function<const char*(const char*)>& getenv);

// The bearer token: from `token_file` when given (trailing whitespace
// trimmed; unreadable or empty is config_invalid), else from the environment
// variable YOI_RUNTIME_TOKEN, else empty (the caller refuses to start
// without one unless told --no-auth: check_listen_policy).
Result<Secret> resolve_token(const std::string& token_file,
                             const std::function<const char*(const char*)>& getenv);

}  // namespace yoi::runtime_server
