#pragma once
// yoi-server's configuration (ARCHITECTURE §9): a TOML file plus flags (flags
// win, applied by main). Every problem is config_invalid naming the file,
// line and key: unknown keys, wrong types, duplicate runtime ids, bad base
// URLs, a remote runtime without a token source (or with two), an unset
// token_env, an unreadable token_file.
//
//   listen = "127.0.0.1:8787"
//   data_dir = "./.yoi-data"
//   web_dir = "web/dist"
//   access_token_file = "..."      # or YOI_ACCESS_TOKEN in the environment;
//                                  # default: <data_dir>/access-token, made once
//
//   [server]                       # who may talk to it (ARCHITECTURE §18)
//   allowed_hosts = ["yoi.example.com"]            # Host names beyond the loopback
//                                  # ones; required on 0.0.0.0 / ::
//   allowed_origins = ["https://yoi.example.com"]  # origins beyond its own
//
//   [embedded]
//   enabled = true
//   id = "local"
//   display_name = "Local runtime"
//   store = "fs"                   # "fs" | "memory"
//   fsync = "always"               # "always" | "batch" | "none"
//   echo_chunk_delay_ms = 0
//
//   [[runtimes]]
//   id = "gpu-1"
//   display_name = "GPU box"
//   base_url = "https://gpu-1.internal:8788"
//   token_file = "/etc/yoi/gpu-1.token"   # or token_env = "YOI_GPU1_TOKEN"
//   timeout_ms = 10000
//   connect_timeout_ms = 3000
//   probe_interval_ms = 5000
//   ca_file = "/etc/yoi/ca.pem"
//
//   [observe]                      # the event-stream proxy (backend/OBSERVE.md)
//   cursor_key_file = "/etc/yoi/cursor.key"  # shared by yoi-servers that hand clients
//                                  # over; default: <data_dir>/backend-cursor.key, made once
//   ring_events = 1024             # recent events kept per watched worker
//   ring_bytes = 4194304
//   catchup_page = 256             # events per polling page for a client behind the ring
//   lag_timeout_ms = 10000         # behind the ring, not gaining this long: subscriber_lagged
//   heartbeat_ms = 15000
//   grace_ms = 10000               # keep an unwatched upstream this long
//   connect_timeout_ms = 3000      # upstream connect + handshake
//   upstream_idle_timeout_ms = 30000  # silence before an upstream counts as lost
//                                  # (capped at each runtime's timeout_ms)
//   backoff_initial_ms = 100       # reconnect: jittered exponential backoff
//   backoff_max_ms = 5000
//   max_upstream_frame = 8388608
//
//   [profiles.reviewer]            # yoi-server's own profiles (ARCHITECTURE §16): the
//   engine = "openai"              # keys of a runtime's profile, shipped to each runtime
//   model = "gpt-4o-mini"          # as a config bundle when a worker is created with one.
//   base_url_env = "YOI_LLM_URL"   # No secret is written here: the provider's URL and key
//   api_key_env = "YOI_LLM_KEY"    # are variables resolved on the runtime's host; an inline
//   tools = ["read", "grep"]       # api_key or base_url is a config error.
//   description = "Reads code"
//
//   [limits]                       # yoi-server's own HTTP connections
//   header_timeout_ms = 10000      # a request's first byte → end of its header
//   keep_alive_timeout_ms = 60000  # an idle connection, between requests
//   shutdown_timeout_ms = 10000    # at SIGTERM: in-flight requests get this long
//
// Relative paths in the file (data_dir, web_dir, access_token_file,
// runtime_config, token_file, ca_file, cursor_key_file) resolve against the
// file's folder.

#include <optional>
#include <string>
#include <vector>

#include "yoi/backend/observe.hpp"
#include "yoi/backend/remote_source.hpp"
#include <boost/json/object.hpp>

#include "yoi/engines/engine.hpp"
#include "yoi/error.hpp"

namespace yoi::backend {

struct EmbeddedConfig {
  bool enabled = true;
  std::string id = "local";
  std::string display_name = "Local runtime";
  std::string store = "fs";
  std::string fsync = "always";
  std::chrono::milliseconds echo_chunk_delay{0};
  // A yoi-runtime config file (relative to the server's config file) whose
  // [profiles.*] and [limits] the embedded runtime uses: the same profiles,
  // openai engines included, as a remote runtime.
  std::string runtime_config;
};

struct ServerConfig {
  std::optional<std::string> listen;
  std::optional<std::string> data_dir;
  std::optional<std::string> web_dir;
  std::optional<std::string> access_token_file;
  std::vector<std::string> allowed_hosts;    // [server]: net/request_policy.hpp
  std::vector<std::string> allowed_origins;  // [server]
  EmbeddedConfig embedded;
  std::vector<RemoteConfig> runtimes;  // tokens resolved
  ObserveOptions observe;              // clock and random stay the system's
  std::optional<std::string> cursor_key_file;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds keep_alive_timeout{60'000};
  std::chrono::milliseconds shutdown_timeout{10'000};  // drain grace at SIGTERM, as yoi-runtime's
  // [profiles.NAME], validated (yoi/profiles/profile.hpp), and each as
  // written (name -> its keys): the profiles of the bundle it ships.
  std::vector<engines::ProfileConfig> profiles;
  boost::json::object profile_bodies;
};

// `name` labels error messages (the file name). Token files and variables are
// read here, so a missing one fails at start.
Result<ServerConfig> parse_config(std::string_view text, std::string_view name);
Result<ServerConfig> load_config(const std::string& path);


}  // namespace yoi::backend
