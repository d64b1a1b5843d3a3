#pragma once
// Who may talk to a server at all (ARCHITECTURE §18, "safe on localhost"):
// the checks every request and every WebSocket upgrade passes before auth
// and routing, so that no route can forget them. Both servers configure one
// RequestPolicy (ServerOptions::policy); the checks live here only.
//
//   Host    (DNS rebinding) the loopback names `localhost`, `127.0.0.1`,
//           `[::1]` (any port) are always this server's — a page can only
//           send them when it is itself served from this machine's
//           loopback; the listen address literal when it is a specific
//           address; and `allowed_hosts`. Anything else, or no Host at
//           all: 403 forbidden_host.
//   Origin  `refuse_any` (yoi-runtime, never for a browser): any request
//           carrying `Origin` is 403 forbidden_origin. `same_origin`
//           (yoi-server): a state-changing request (any method but GET,
//           HEAD, OPTIONS — DELETE included) or a WebSocket upgrade that
//           carries `Origin` must come from the server's own origin (its
//           authority equals the request's `Host`, which passed the Host
//           check) or an `allowed_origins` entry; `Sec-Fetch-Site:
//           cross-site` is refused the same way. Without `Origin` (the CLI,
//           curl) the request is judged by the token alone.
//   Body    a non-empty body must be `Content-Type: application/json`
//           (parameters such as `; charset=utf-8` allowed), else 415
//           unsupported_media_type: a browser cannot send that cross-site
//           without a CORS preflight, and no server here answers one (no
//           `Access-Control-*` header is ever sent).
//
// Pure functions, no I/O; tested in net/test/request_policy_test.cpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/error.hpp"

namespace yoi::net {

struct Request;

struct RequestPolicy {
  enum class Origins {
    same_origin,  // yoi-server: its own origin or allowed_origins
    refuse_any,   // yoi-runtime: no browser, ever
  };
  // Host names beyond the loopback ones: "name" (any port) or "name:port";
  // IPv6 literals bracketed ("[fd00::1]"). Compared case-insensitively.
  std::vector<std::string> allowed_hosts;
  Origins origins = Origins::same_origin;
  // Origins beyond the server's own, "scheme://host[:port]"
  // ("https://yoi.example.com"); same_origin only.
  std::vector<std::string> allowed_origins;
};

// Nothing when `req` may proceed; else forbidden_host, forbidden_origin or
// unsupported_media_type (in that order). `listen_host` is the address the
// server listens on; `upgrade`: the request asks for a WebSocket.
std::optional<Error> check_request(const RequestPolicy& policy, std::string_view listen_host,
                                   const Request& req, bool upgrade);

// Start-time check: config_invalid when no remote client could ever pass the
// Host check — a wildcard listen address (0.0.0.0, ::) without
// allowed_hosts — or when an allowed_hosts / allowed_origins entry is
// malformed. The message names the key.
Result<void> check_policy(const RequestPolicy& policy, std::string_view listen_host);

}  // namespace yoi::net
