#pragma once
// The decisions of an HTTP exchange, apart from its I/O: which route answers
// a request (or which error, before any handler runs), and the bytes of a
// response. HttpConn (http_conn.cpp) reads, calls these, and writes; tested
// without sockets in test/dispatch_test.cpp. Private to net/; no Beast.

#include <optional>
#include <string>
#include <string_view>

#include "yoi/net/http_server.hpp"

namespace yoi::net::detail {

// What to do with one request.
struct Routing {
  const Router::Match* route = nullptr;  // the matched route; null when none matched
  std::optional<Response> answer;        // answer this, without calling a handler
  std::optional<WsAccept> accept;        // a WebSocket route accepted the upgrade
  // Neither answer nor accept: call route->handler.

  // The metrics label: the route's pattern (never the raw path), or "unmatched".
  const std::string& label() const;
};

// Parses req.target into req.path, req.query and (when a route matches)
// req.params and req.route, then decides, in this order:
//   opts.policy (request_policy.hpp) → 403 forbidden_host / forbidden_origin,
//                                      415 unsupported_media_type
//   malformed target             → 400 invalid_request
//   auth (for routes with opts.auth, and for unmatched paths, so probing
//   without a token learns nothing) → the filter's error
//   no route                     → 404 not_found / 405 method_not_allowed + Allow
//   WebSocket route: not an upgrade → 400; `stopping` → 503 shutting_down;
//   else the route's WsHandler decides (a throw is 500 internal, logged).
// `upgrade`: the request asks for a WebSocket upgrade.
Routing route_request(const Router& router, const ServerOptions& opts, Request& req, bool upgrade,
                      bool stopping);

// The whole response as one buffer (replacing `out`'s contents): status line,
// then Server, Content-Type, r.headers, Connection when it differs from the
// version's default, Content-Length; no body and no length for 1xx, 204 and
// 304 (RFC 9110 §8.6). `version` is 10 or 11.
void format_response(std::string& out, const Response& r, unsigned version, bool keep_alive,
                     std::string_view server_name);

}  // namespace yoi::net::detail
