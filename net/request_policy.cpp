// The Host, Origin and media-type checks of every request (request_policy.hpp).
#include "yoi/net/request_policy.hpp"

#include <array>

#include <fmt/format.h>

#include "ascii.hpp"
#include "yoi/net/http_server.hpp"

namespace yoi::net {

namespace {

using detail::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "name[:port]" split; IPv6 literals keep their brackets ("[::1]"). nullopt
// when malformed (an empty name, a port that is not 1-5 digits, an
// unbracketed IPv6 address).
struct Authority {
  std::string_view name;
  std::string_view port;  // "" when absent
};

std::optional<Authority> split_authority(std::string_view s) {
  Authority a;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.name = s.substr(0, close + 1);
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      a.port = rest.substr(1);
      if (a.port.empty()) return std::nullopt;
    }
  } else {
    auto colon = s.find(':');
    a.name = s.substr(0, colon);
    if (colon != std::string_view::npos) {
      a.port = s.substr(colon + 1);
      if (a.port.empty()) return std::nullopt;
    }
  }
  if (a.name.empty() || (a.name.front() == '[' && a.name.size() <= 2) || a.port.size() > 5) return std::nullopt;
  for (char c : a.port)
    if (c < '0' || c > '9') return std::nullopt;
  for (char c : a.name)
    if (c == '/' || c == '@' || c == ' ' || c == '\\' || static_cast<unsigned char>(c) < 0x21) return std::nullopt;
  return a;
}

bool is_wildcard(std::string_view listen_host) {
  return listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "::" || listen_host == "[::]";
}

// The listen address as a Host name ("[::1]" for IPv6).
std::string listen_name(std::string_view listen_host) {
  if (listen_host.find(':') != std::string_view::npos && listen_host.front() != '[')
    return fmt::format("[{}]", listen_host);
  return std::string(listen_host);
}

// An allowed_hosts entry admits `host`: the same name, and the same port
// unless the entry names none.
bool admits(std::string_view entry, const Authority& host) {
  auto e = split_authority(entry);
  if (!e || !iequals(e->name, host.name)) return false;
  return e->port.empty() || e->port == host.port;
}

// The headers the policy reads, each the first occurrence, picked out in one
// pass over the request's headers.
struct PolicyHeaders {
  std::optional<std::string_view> host, origin, sec_fetch_site, content_type;
};

PolicyHeaders policy_headers(const Request& req) {
  PolicyHeaders h;
  auto pick = [](std::optional<std::string_view>& slot, const std::string& value) {
    if (!slot) slot = value;
  };
  for (const auto& field : req.headers) {
    const std::string& k = field.first;
    switch (k.size()) {  // the length first: most headers are none of these
      case 4:
        if (iequals(k, "host")) pick(h.host, field.second);
        break;
      case 6:
        if (iequals(k, "origin")) pick(h.origin, field.second);
        break;
      case 12:
        if (iequals(k, "content-type")) pick(h.content_type, field.second);
        break;
      case 14:
        if (iequals(k, "sec-fetch-site")) pick(h.sec_fetch_site, field.second);
        break;
      default:
        break;
    }
  }
  return h;
}

std::optional<Error> check_host(const RequestPolicy& p, std::string_view listen_host,
                                const std::optional<std::string_view>& h) {
  if (!h) return Error{Code::forbidden_host, "the request has no Host header"};
  auto host = split_authority(trim(*h));
  constexpr std::array<std::string_view, 3> loopback{"localhost", "127.0.0.1", "[::1]"};
  if (host) {
    for (auto name : loopback)
      if (iequals(host->name, name)) return std::nullopt;
    if (!is_wildcard(listen_host) && iequals(host->name, listen_name(listen_host))) return std::nullopt;
    for (const auto& entry : p.allowed_hosts)
      if (admits(entry, *host)) return std::nullopt;
  }
  // Never echo the Host back: it is whatever the page chose.
  return Error{Code::forbidden_host, "this server does not answer for that Host (see allowed_hosts)"};
}

// "scheme://authority" of an Origin header; nullopt for "null" or anything
// that is not one.
struct Origin {
  std::string_view scheme;
  Authority authority;
};

std::optional<Origin> parse_origin(std::string_view s) {
  auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  Origin o;
  o.scheme = s.substr(0, sep);
  auto rest = s.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  auto a = split_authority(rest);
  if (!a) return std::nullopt;
  o.authority = *a;
  return o;
}

std::string_view default_port(std::string_view scheme) {
  if (iequals(scheme, "https") || iequals(scheme, "wss")) return "443";
  return "80";
}

// The origin names the same authority the request was sent to: the same
// name, the same port (an absent port being the scheme's default).
bool same_authority(const Origin& o, std::string_view host_header) {
  auto host = split_authority(trim(host_header));
  if (!host || !iequals(o.authority.name, host->name)) return false;
  auto dflt = default_port(o.scheme);
  auto op = o.authority.port.empty() ? dflt : o.authority.port;
  auto hp = host->port.empty() ? dflt : host->port;
  return op == hp;
}

bool listed(const std::vector<std::string>& allowed, std::string_view origin) {
  if (!origin.empty() && origin.back() == '/') origin.remove_suffix(1);
  for (std::string_view a : allowed) {
    if (!a.empty() && a.back() == '/') a.remove_suffix(1);
    if (iequals(a, origin)) return true;
  }
  return false;
}

// GET, HEAD and OPTIONS change nothing; every other method (POST, PUT,
// PATCH, DELETE, and any we do not know) may.
bool state_changing(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::optional<Error> check_origin(const RequestPolicy& p, const Request& req, const PolicyHeaders& h,
                                  bool upgrade) {
  const auto& origin = h.origin;
  if (p.origins == RequestPolicy::Origins::refuse_any) {
    if (origin) return Error{Code::forbidden_origin, "this server does not answer browsers (the request has an Origin)"};
    return std::nullopt;
  }
  if (!state_changing(req.method) && !upgrade) return std::nullopt;
  if (const auto& site = h.sec_fetch_site; site && iequals(trim(*site), "cross-site"))
    return Error{Code::forbidden_origin, "cross-site requests are refused (Sec-Fetch-Site: cross-site)"};
  if (!origin) return std::nullopt;
  auto o = parse_origin(trim(*origin));
  if (o && same_authority(*o, h.host.value_or(""))) return std::nullopt;
  if (listed(p.allowed_origins, trim(*origin))) return std::nullopt;
  return Error{Code::forbidden_origin, "requests from that Origin are refused (see allowed_origins)"};
}

// `application/json`, parameters allowed.
bool is_json(std::string_view content_type) {
  auto media = trim(content_type.substr(0, content_type.find(';')));
  return iequals(media, "application/json");
}

}  // namespace

std::optional<Error> check_request(const RequestPolicy& policy, std::string_view listen_host,
                                   const Request& req, bool upgrade) {
  const PolicyHeaders h = policy_headers(req);
  if (auto e = check_host(policy, listen_host, h.host)) return e;
  if (auto e = check_origin(policy, req, h, upgrade)) return e;
  if (!req.body.empty() && !is_json(h.content_type.value_or("")))
    return Error{Code::unsupported_media_type, "a request body must be Content-Type: application/json"};
  return std::nullopt;
}

Result<void> check_policy(const RequestPolicy& policy, std::string_view listen_host) {
  for (const auto& h : policy.allowed_hosts)
    if (!split_authority(h))
      return fail(Code::config_invalid, fmt::format("allowed_hosts: '{}' is not a host name or host:port", h));
  for (const auto& o : policy.allowed_origins)
    if (!parse_origin(o))
      return fail(Code::config_invalid, fmt::format("allowed_origins: '{}' is not scheme://host[:port]", o));
  if (is_wildcard(listen_host) && policy.allowed_hosts.empty())
    return fail(Code::config_invalid,
                fmt::format("listening on {} needs allowed_hosts: the names clients use to reach this "
                            "server (every other Host is refused, against DNS rebinding)",
                            listen_host.empty() ? "every address" : listen_host));
  return {};
}

}  // namespace yoi::net
