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
  bool no_auth = false;  // no access token: loopback only, with a warning
  std::string log_level = "info";
};

// The access token (ARCHITECTURE §18): --access-token-file, else
// $YOI_ACCESS_TOKEN, else <data-dir>/access-token (made on first start:
// 256 random bits as hex, mode 0600, created atomically, reused after), and
// then the login URL `http://HOST:PORT/#token=…` is printed on stdout after
// the listening line. --no-auth: none (loopback only).
//
// Runs until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
// shutdown, 2 for configuration errors, 1 for start-up failures and for a
// flush of the embedded runtime's store that failed at shutdown.
int run_server(const AppFlags& flags);

}  // namespace yoi::backend
