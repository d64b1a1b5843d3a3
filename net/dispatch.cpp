#include "dispatch.hpp"

#include <array>
#include <charconv>
#include <exception>

#include <boost/beast/http/status.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pct.hpp"
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

// The characters of an origin-form path besides "%XX" (RFC 3986 §3.3):
// pchar = unreserved / sub-delims / ":" / "@", and "/".
constexpr std::array<bool, 256> path_chars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("-._~!$&'()*+,;=:@/")) t[c] = true;
  return t;
}();

// A target that is a path and nothing else, every byte a path character
// or part of a valid "%XX": a subset of what Boost.URL's origin-form
// accepts, checked in one pass. Every other target goes to Boost.URL, which
// decides (so a malformed target is refused exactly as before).
bool is_plain_path(std::string_view t) {
  if (t.empty() || t[0] != '/') return false;
  std::size_t i = 0;
  while (true) {
    while (i < t.size() && path_chars[static_cast<unsigned char>(t[i])]) ++i;
    if (i == t.size()) return true;
    if (t[i] != '%' || i + 2 >= t.size() || hex_digit(t[i + 1]) < 0 || hex_digit(t[i + 2]) < 0) return false;
    i += 3;
  }
}

// Fills req.path and req.query from req.target; the raw (percent-encoded)
// path, a view into req.target, or nullopt when the target is not
// origin-form. Boost.URL parses only targets with a query or unusual bytes;
// the common plain path is checked and decoded here, without it.
std::optional<std::string_view> split_target(Request& req) {
  const std::string_view target = req.target;
  if (is_plain_path(target)) {
    req.path.clear();
    append_pct_decoded(req.path, target);
    return target;
  }
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  req.path = std::string(url->path());
  for (auto p : url->params()) req.query.emplace_back(std::string(p.key), std::string(p.value));
  return std::string_view(url->encoded_path());
}

}  // namespace

const std::string& Routing::label() const {
  static const std::string unmatched = "unmatched";
  return route ? route->pattern : unmatched;
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
  auto raw_path = split_target(req);
  if (!raw_path) {
    out.answer = error(Code::invalid_request, "malformed request target");
    return out;
  }
  std::string allow;
  auto m = router.match(req.method, *raw_path, req.params, &allow);
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

namespace {

// "200 OK": the status and Beast's reason phrase, for 100-599 made once.
std::string status_text(int status) {
  return fmt::format("{} {}", status,
                     std::string_view(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status))));
}

std::string_view status_line_tail(int status, std::string& scratch) {
  static const auto table = [] {
    std::array<std::string, 500> t;
    for (int s = 100; s < 600; ++s) t[s - 100] = status_text(s);
    return t;
  }();
  if (status >= 100 && status < 600) return table[status - 100];
  scratch = status_text(status);
  return scratch;
}

}  // namespace

void format_response(std::string& out, const Response& r, unsigned version, bool keep_alive,
                     std::string_view server_name) {
  out.clear();
  out.reserve(192 + r.body.size());
  std::string scratch;
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += status_line_tail(r.status, scratch);
  // The names below, "keep-alive", "close" and the length's digits are ours:
  // only what a handler or the options supply is checked for CR/LF.
  append_header_line(out, "Server", server_name);
  if (!r.content_type.empty()) append_header_line(out, "Content-Type", r.content_type);
  for (const auto& [k, v] : r.headers) append_header_line(out, k, v);
  if (version == 10 && keep_alive) append_header_line_unchecked(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_header_line_unchecked(out, "Connection", "close");
  // No body and no length for 1xx, 204 and 304 (RFC 9110 §8.6).
  const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
  if (!bodiless) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, r.body.size()).ptr;
    append_header_line_unchecked(out, "Content-Length", std::string_view(digits, end - digits));
  }
  out += "\r\n\r\n";
  if (!bodiless) out += r.body;
}

}  // namespace yoi::net::detail
