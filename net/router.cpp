// Router: method + path pattern → route. Pure; tested without sockets in
// test/router_test.cpp.
//
// match() runs for every request of both servers, so it allocates only the
// matched route's params (and one buffer when a segment is percent-encoded):
// the path is split into views, only the routes with as many segments are
// tried (by_count_), literals are compared as views, and params are built
// for the one route that matched.
#include <algorithm>

#include <boost/container/small_vector.hpp>
#include <fmt/format.h>

#include "pct.hpp"
#include "yoi/net/http_server.hpp"

namespace yoi::net {

namespace {

// Calls fn(segment) for each '/'-separated segment of `path` (a leading '/'
// skipped; "" and "/" are one empty segment) while fn returns true.
template <class F>
void for_each_segment(std::string_view path, F fn) {
  std::size_t i = (!path.empty() && path[0] == '/') ? 1 : 0;
  while (true) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) {
      fn(path.substr(i));
      return;
    }
    if (!fn(path.substr(i, j - i))) return;
    i = j + 1;
  }
}

bool is_param(std::string_view s) { return s.size() > 2 && s.front() == '{' && s.back() == '}'; }

// The route's path matches the decoded segments `segs` (as many as it has).
template <class Segs>
bool path_matches(const Router::Match& r, const Segs& segs) {
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (r.param_names[i].empty() ? r.segments[i] != segs[i] : segs[i].empty()) return false;
  }
  return true;
}

}  // namespace

void Router::insert(Match m) {
  for_each_segment(m.pattern, [&](std::string_view s) {
    m.segments.emplace_back(s);
    m.param_names.emplace_back(is_param(s) ? s.substr(1, s.size() - 2) : std::string_view{});
    if (!m.param_names.back().empty()) ++m.param_count;
    return true;
  });
  const std::size_t n = m.segments.size();
  if (by_count_.size() <= n) by_count_.resize(n + 1);
  by_count_[n].push_back(routes_.size());
  routes_.push_back(std::move(m));
}

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions opts) {
  Match m;
  m.method = std::move(method);
  m.pattern = std::move(pattern);
  m.handler = std::move(handler);
  m.opts = opts;
  insert(std::move(m));
}

void Router::websocket(std::string pattern, WsHandler handler, RouteOptions opts) {
  Match m;
  m.method = "GET";
  m.pattern = std::move(pattern);
  m.ws = std::move(handler);
  m.opts = opts;
  insert(std::move(m));
}

Result<const Router::Match*> Router::match(std::string_view method, std::string_view path,
                                           Fields& params, std::string* allow) const {
  // Split the raw path first, then decode each segment: an encoded '/'
  // ("a%2Fb") stays inside its segment, so an id can never change the route
  // ("w1%2Fstop" is the id "w1/stop" — invalid — not the stop route of w1).
  // A path with more segments than any pattern is not split further (the
  // work stays bounded by the longest pattern, whatever the path).
  boost::container::small_vector<std::string_view, 12> segs;
  std::string decoded;  // the decoded segments' bytes; reserved once, so views into it stay valid
  const bool encoded = path.find('%') != std::string_view::npos;
  if (encoded) decoded.reserve(path.size());
  const std::size_t most = by_count_.empty() ? 0 : by_count_.size() - 1;
  bool too_many = false;
  for_each_segment(path, [&](std::string_view s) {
    if (segs.size() == most) {
      too_many = true;
      return false;
    }
    if (!encoded || s.find('%') == std::string_view::npos) {
      segs.push_back(s);
    } else {
      const auto from = decoded.size();
      detail::append_pct_decoded(decoded, s);
      segs.push_back(std::string_view(decoded).substr(from));
    }
    return true;
  });
  if (too_many || segs.empty()) return fail(Code::not_found, "no such route");

  const auto& candidates = by_count_[segs.size()];
  for (auto i : candidates) {
    const auto& r = routes_[i];
    if (r.method != method || !path_matches(r, segs)) continue;
    params.clear();
    params.reserve(r.param_count);
    for (std::size_t k = 0; k < segs.size(); ++k)
      if (!r.param_names[k].empty()) params.emplace_back(r.param_names[k], segs[k]);
    return &r;
  }
  // No route for this method: 405 naming, once each and in route order, the
  // methods of the routes whose path matches; 404 when none does.
  boost::container::small_vector<std::string_view, 8> methods;
  for (auto i : candidates) {
    const auto& r = routes_[i];
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end() && path_matches(r, segs))
      methods.push_back(r.method);
  }
  if (methods.empty()) return fail(Code::not_found, "no such route");
  std::string allowed = fmt::format("{}", fmt::join(methods, ", "));
  if (allow) *allow = allowed;
  return fail(Code::method_not_allowed, fmt::format("method {} is not allowed here (allowed: {})", method, allowed));
}

}  // namespace yoi::net
