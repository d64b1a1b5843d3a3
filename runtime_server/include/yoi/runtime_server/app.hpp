#pragma once
// The yoi-runtime process: config + flags → store → Runtime → RuntimeServer,
// the "listening" line, and graceful shutdown on SIGTERM/SIGINT. main() only
// parses flags into AppFlags.

#include <optional>
#include <string>

namespace yoi::runtime_server {

// Flags win over the config file; unset flags leave the file's values.
struct AppFlags {
  std::optional<std::string> listen;
  std::optional<std::string> runtime_id;
  std::optional<std::string> display_name;
  std::optional<std::string> store;  // "memory" | "fs"
  std::optional<std::string> data_dir;
  std::optional<std::string> config;
  std::optional<std::string> token_file;
  bool no_auth = false;  // run without a token: loopback only, with a warning
  std::string log_level = "info";
};

// Runs until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
// shutdown, 2 for configuration errors, 1 for start-up failures.
int run_runtime(const AppFlags& flags);

}  // namespace yoi::runtime_server
