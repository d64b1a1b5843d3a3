#pragma once
// The yoi-server process: flags + config → the embedded runtime (opened as
// yoi-runtime opens its own, yoi/runtime_server/host.hpp) and the remote runtimes →
// registry → browser API and event streams on one HTTP server, the listening
// line, and graceful shutdown on SIGTERM/SIGINT. main() only parses flags.

#include <optional>
#include <string>

namespace yoi::backend {

// Flags win over the config file; unset flags leave the file's values.
// Paths given here are relative to the working directory.
struct AppFlags {
  std::optional<std::string> listen;
  std::optional<std::string> config;
  std::optional<std::string> data_dir;
  std::optional<std::string> web_dir;
  std::optional<std::string> access_token_file;
  bool no_embedded = false;
  std::string log_level = "info";
};

// Runs until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
// shutdown, 2 for configuration errors, 1 for start-up failures and for a
// flush of the embedded runtime's store that failed at shutdown.
int run_server(const AppFlags& flags);

}  // namespace yoi::backend
