#pragma once
// The browser API of yoi-server (ARCHITECTURE §7): `/api/...` routes on the
// net/ server library, backed by the RuntimeRegistry; plus /healthz, /metrics
// and the web console's static files at `/`.
//
// Every route makes one registry call (which makes one source call); create
// and input bodies are first checked against the limits the target runtime
// advertises (RuntimeRegistry::limits, which calls nothing). Errors
// are `{"error":{"code","message","runtime_id"?,"worker_id"?}}` with
// yoi::http_status(code). Event pages carry backend cursors (cursor.hpp),
// never a runtime's.
//
// Access: when `access_token` is set, every /api route and /metrics needs
// `Authorization: Bearer <token>`; /healthz and the console's files do not
// (the console asks for the token itself). Threading: io thread only.

#include <memory>
#include <optional>
#include <string>

#include "yoi/backend/cursor.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/secret.hpp"

namespace yoi::net {
class Router;
class MetricsRegistry;
struct Request;
}  // namespace yoi::net

namespace yoi::backend {

struct ApiOptions {
  std::string web_dir;  // the console's files; without an index.html there,
                        // `/` answers a page that says how to build them
  Secret access_token;  // empty: no browser auth (loopback only; main enforces)
  std::size_t max_body_bytes = 1 << 20;
  std::size_t default_page = 100;
  std::size_t default_events_page = 200;
};

class BrowserApi {
 public:
  BrowserApi(RuntimeRegistry& registry, const CursorCodec& cursors, ApiOptions options,
             net::MetricsRegistry* metrics = nullptr);
  ~BrowserApi();

  // Adds every route to `router`. The BrowserApi must outlive the server.
  void add_routes(net::Router& router);
  // The server's auth filter (ServerOptions::auth).
  std::optional<Error> authorize(const net::Request& request) const;
  // Whether web_dir holds the console (an index.html), as of construction.
  bool serves_console() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yoi::backend
