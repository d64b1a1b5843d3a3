#pragma once
// Hosting a Runtime in a server process: what yoi-runtime and yoi-server's
// embedded runtime share, so the two cannot drift apart (ARCHITECTURE §9).
//
//   open_runtime   config → store (memory | fs, fsync policy, retention from
//                  [limits]) → profiles (api keys from the environment) →
//                  Runtime (restored), its restore diagnostics logged
//   GracefulStop   SIGTERM/SIGINT → drain the HTTP servers within the grace
//                  period → flush the store → stop; a failed flush makes the
//                  process exit 1
//   listening_line the one line each binary prints when ready
//
// Threading: everything runs on the io_context's thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "yoi/error.hpp"
#include "yoi/runtime_server/config.hpp"

namespace boost::asio {
class io_context;
}
namespace yoi::rt {
class Runtime;
}

namespace yoi::runtime_server {

using Getenv = std::function<const char*(const char*)>;

// Opens the Runtime `cfg` describes. `who` prefixes its log lines ("yoi-runtime",
// "embedded runtime"). Errors: config_invalid (a profile, an unset
// api_key_env, a bad fsync policy), store_corrupt / store_io (restore).
Result<std::unique_ptr<rt::Runtime>> open_runtime(boost::asio::io_context& io, RuntimeConfig cfg,
                                                  std::string_view who, const Getenv& getenv);

// Refuses a non-loopback listen address without a token: config_invalid,
// naming the address and where a token comes from (`token_sources`).
Result<void> check_listen_policy(std::string_view host, const Secret& token, std::string_view token_sources);
inline constexpr std::string_view kRuntimeTokenSources = "a token (--token-file or YOI_RUNTIME_TOKEN)";

// The process rule both binaries follow (ARCHITECTURE §18): a server runs
// with a token unless told `no_auth`, and `no_auth` is for loopback only.
//   no token, no no_auth    → config_invalid naming `token_sources` and --no-auth
//   no_auth, not loopback   → config_invalid (the caller exits 2)
//   no_auth on loopback     → ok, after a loud warning on the log
// `binary` prefixes the messages ("yoi-runtime").
Result<void> check_auth_mode(std::string_view binary, std::string_view host, const Secret& token, bool no_auth,
                             std::string_view token_sources);

// "http://127.0.0.1:8790" (IPv6 hosts bracketed).
std::string listen_url(std::string_view host, std::uint16_t port);
// "yoi-runtime listening on http://127.0.0.1:8790" (IPv6 hosts bracketed).
std::string listening_line(std::string_view binary, std::string_view host, std::uint16_t port);

// The stop sequence of a server process. Construct it before printing the
// listening line, so a signal right after the line already means "graceful
// shutdown".
class GracefulStop {
 public:
  // Stops accepting and lets in-flight requests finish within `grace`;
  // calls `done` once every connection is gone.
  using Drain = std::function<void(std::chrono::milliseconds grace, std::function<void()> done)>;

  // `runtime` may be null (a yoi-server without an embedded runtime).
  GracefulStop(boost::asio::io_context& io, std::string name, std::chrono::milliseconds grace, Drain drain,
               rt::Runtime* runtime);
  ~GracefulStop();
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  // Runs the sequence now, as a signal would (idempotent); io.stop() at the end.
  void stop();
  // After io.run() returns: 0 after a clean stop, 1 when the flush failed.
  int exit_code() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace yoi::runtime_server
