// Request accessors, Response builders, and what both servers answer the
// same way (healthz, the bearer check). No I/O.
#include <boost/json/serialize.hpp>

#include "ascii.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"

namespace yoi::net {

using detail::iequals;

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

Response Response::json(int status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

Response Response::json(int status, const boost::json::object& v) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

Response Response::error(const Error& e) { return json(http_status(e.code), yoi::json::error_body(e)); }

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

void add_healthz(Router& r) {
  r.add("GET", "/healthz", [](const Request&, Respond respond) {
    boost::json::object o;
    o["status"] = "ok";
    respond(Response::json(200, o));
  }, RouteOptions{.auth = false});
}

void add_metrics(Router& r, MetricsRegistry* metrics) {
  r.add("GET", "/metrics", [metrics](const Request&, Respond respond) {
    respond(Response::text(200, metrics ? metrics->render() : "", "text/plain; version=0.0.4; charset=utf-8"));
  });
}

std::optional<Error> check_bearer(const Request& req, const Secret& token) {
  if (token.empty()) return std::nullopt;
  auto h = req.header("Authorization");
  if (!h) return Error{Code::unauthorized, "missing bearer token (Authorization: Bearer <token>)"};
  constexpr std::string_view scheme = "Bearer ";
  if (h->size() <= scheme.size() || !iequals(h->substr(0, scheme.size()), scheme))
    return Error{Code::unauthorized, "the Authorization header must be 'Bearer <token>'"};
  if (!token.equals(h->substr(scheme.size()))) return Error{Code::unauthorized, "invalid bearer token"};
  return std::nullopt;
}

}  // namespace yoi::net
