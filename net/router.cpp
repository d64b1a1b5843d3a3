// Router: method + path pattern → route. Pure; tested without sockets in
// test/router_test.cpp.
#include <algorithm>

#include <fmt/format.h>

#include "yoi/net/http_server.hpp"

namespace yoi::net {

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  if (!path.empty() && path[0] == '/') i = 1;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Percent-decodes one path segment (the target was validated by the URL
// parser; a stray '%' is kept as is).
std::string pct_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Router::Match make_route(std::string method, std::string pattern, RouteOptions opts) {
  Router::Match m;
  m.method = std::move(method);
  m.segments = split_path(pattern);
  m.pattern = std::move(pattern);
  m.opts = opts;
  return m;
}

// The route's `{name}` parameters if its segments match `segs`.
std::optional<Fields> match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& segs) {
  if (pattern.size() != segs.size()) return std::nullopt;
  Fields params;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& s = pattern[i];
    if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      if (segs[i].empty()) return std::nullopt;
      params.emplace_back(s.substr(1, s.size() - 2), segs[i]);
    } else if (s != segs[i]) {
      return std::nullopt;
    }
  }
  return params;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions opts) {
  auto m = make_route(std::move(method), std::move(pattern), opts);
  m.handler = std::move(handler);
  routes_.push_back(std::move(m));
}

void Router::websocket(std::string pattern, WsHandler handler, RouteOptions opts) {
  auto m = make_route("GET", std::move(pattern), opts);
  m.ws = std::move(handler);
  routes_.push_back(std::move(m));
}

Result<const Router::Match*> Router::match(std::string_view method, std::string_view path,
                                           Fields& params, std::string* allow) const {
  // Split the raw path first, then decode each segment: an encoded '/'
  // ("a%2Fb") stays inside its segment, so an id can never change the route
  // ("w1%2Fstop" is the id "w1/stop" — invalid — not the stop route of w1).
  auto segs = split_path(path);
  for (auto& seg : segs) seg = pct_decode(seg);
  std::vector<std::string_view> methods;  // of the routes whose path matches, in route order
  for (const auto& r : routes_) {
    auto p = match_segments(r.segments, segs);
    if (!p) continue;
    if (r.method == method) {
      params = std::move(*p);
      return &r;
    }
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) methods.push_back(r.method);
  }
  std::string allowed = fmt::format("{}", fmt::join(methods, ", "));
  if (!allowed.empty()) {
    if (allow) *allow = allowed;
    return fail(Code::method_not_allowed,
                fmt::format("method {} is not allowed here (allowed: {})", method, allowed));
  }
  return fail(Code::not_found, "no such route");
}

}  // namespace yoi::net
