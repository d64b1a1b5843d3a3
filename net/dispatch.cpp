#include "dispatch.hpp"

#include <exception>

#include <boost/beast/http/status.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "yoi/net/header_line.hpp"

namespace yoi::net::detail {

namespace {

Response error(Code code, std::string message) {
  return Response::error(Error{code, std::move(message)});
}

// A WebSocket route's answer to a request that reached it past auth.
void decide_websocket(Routing& out, const Request& req, bool upgrade, bool stopping) {
  if (!upgrade) {
    out.answer = error(Code::invalid_request, "this route requires a WebSocket upgrade");
    return;
  }
  if (stopping) {
    out.answer = error(Code::shutting_down, "the server is shutting down");
    return;
  }
  WsDecision d;
  try {
    d = out.route->ws(req);
  } catch (const std::exception& x) {
    spdlog::error("net: websocket handler for {} threw: {}", out.route->pattern, x.what());
    d = error(Code::internal, "internal error");
  }
  if (auto* r = std::get_if<Response>(&d))
    out.answer = std::move(*r);
  else
    out.accept = std::get<WsAccept>(std::move(d));
}

}  // namespace

std::string Routing::label() const {
  return route ? route->pattern : "unmatched";
}

Routing route_request(const Router& router, const ServerOptions& opts, Request& req, bool upgrade,
                      bool stopping) {
  Routing out;
  // Who may talk to this server at all (DNS rebinding, cross-site
  // requests and WebSockets, non-JSON bodies): before anything else, so no
  // route and no auth filter can be reached around it.
  if (auto e = check_request(opts.policy, opts.host, req, upgrade)) {
    out.answer = Response::error(*e);
    return out;
  }
  auto url = boost::urls::parse_origin_form(req.target);
  if (!url) {
    out.answer = error(Code::invalid_request, "malformed request target");
    return out;
  }
  req.path = std::string(url->path());
  for (auto p : url->params()) req.query.emplace_back(std::string(p.key), std::string(p.value));
  std::string allow;
  auto m = router.match(req.method, url->encoded_path(), req.params, &allow);
  if (m) {
    out.route = *m;
    req.route = out.route->pattern;
  }
  // Auth runs first (also for unmatched paths) so that probing routes
  // without a token learns nothing.
  if ((!out.route || out.route->opts.auth) && opts.auth) {
    if (auto e = opts.auth(req)) {
      out.answer = Response::error(*e);
      return out;
    }
  }
  if (!m) {
    out.answer = Response::error(m.error());
    if (!allow.empty()) out.answer->headers.emplace_back("Allow", allow);
    return out;
  }
  if (out.route->ws) decide_websocket(out, req, upgrade, stopping);
  return out;
}

void format_response(std::string& out, const Response& r, unsigned version, bool keep_alive,
                     std::string_view server_name) {
  out.clear();
  out.reserve(192 + r.body.size());
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(r.status));
  append_header_line(out, "Server", server_name);
  if (!r.content_type.empty()) append_header_line(out, "Content-Type", r.content_type);
  for (const auto& [k, v] : r.headers) append_header_line(out, k, v);
  if (version == 10 && keep_alive) append_header_line(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_header_line(out, "Connection", "close");
  // No body and no length for 1xx, 204 and 304 (RFC 9110 §8.6).
  const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
  if (!bodiless) append_header_line(out, "Content-Length", std::to_string(r.body.size()));
  out += "\r\n\r\n";
  if (!bodiless) out += r.body;
}

}  // namespace yoi::net::detail
