// The Host, Origin and media-type checks (net/request_policy.hpp), without
// sockets. The same refusals over real sockets: reliability/security_test.cpp.
#include "yoi/net/request_policy.hpp"

#include <gtest/gtest.h>

#include "yoi/net/http_server.hpp"

namespace yoi::net {
namespace {

struct Req {
  std::string method = "GET";
  Fields headers{};
  std::string body{};
  bool upgrade = false;
};

// "ok" or the refusal's code name.
std::string verdict(const RequestPolicy& p, std::string_view listen, const Req& r) {
  Request req;
  req.method = r.method;
  req.target = "/";
  req.headers = r.headers;
  req.body = r.body;
  auto e = check_request(p, listen, req, r.upgrade);
  return e ? std::string(code_name(e->code)) : "ok";
}

std::string host(const RequestPolicy& p, std::string_view listen, std::string h) {
  return verdict(p, listen, Req{.headers = {{"Host", std::move(h)}}});
}

TEST(RequestPolicyHost, LoopbackNamesWithOrWithoutAPortAreAlwaysAccepted) {
  RequestPolicy p;
  for (auto h : {"localhost", "LOCALHOST:8787", "127.0.0.1", "127.0.0.1:8787", "[::1]", "[::1]:1"})
    EXPECT_EQ(host(p, "127.0.0.1", h), "ok") << h;
}

// The DNS rebinding row of issue 19: any other name is refused, before routing.
TEST(RequestPolicyHost, DnsRebindingHostIsForbidden) {
  RequestPolicy p;
  for (auto h : {"evil.example.com", "evil.example.com:8787", "localhost.evil.example.com", "127.0.0.2",
                 "", ":8787", "[]:1", "localhost:80x", "[::1", "user@localhost"})
    EXPECT_EQ(host(p, "127.0.0.1", h), "forbidden_host") << h;
  EXPECT_EQ(verdict(p, "127.0.0.1", Req{}), "forbidden_host") << "no Host at all";
}

TEST(RequestPolicyHost, AllowedHostsAndTheListenLiteralOnANonLoopbackAddress) {
  RequestPolicy p;
  p.allowed_hosts = {"yoi.example.com", "box.lan:8443"};
  EXPECT_EQ(host(p, "0.0.0.0", "yoi.example.com"), "ok");
  EXPECT_EQ(host(p, "0.0.0.0", "YOI.example.com:443"), "ok") << "no port in the entry: any port";
  EXPECT_EQ(host(p, "0.0.0.0", "box.lan:8443"), "ok");
  EXPECT_EQ(host(p, "0.0.0.0", "box.lan:8444"), "forbidden_host");
  EXPECT_EQ(host(p, "0.0.0.0", "box.lan"), "forbidden_host");
  EXPECT_EQ(host(p, "0.0.0.0", "0.0.0.0:8787"), "forbidden_host") << "the wildcard is no one's name";
  EXPECT_EQ(host(p, "192.168.1.5", "192.168.1.5:8787"), "ok");
  EXPECT_EQ(host(p, "fd00::5", "[fd00::5]:8787"), "ok");
  EXPECT_EQ(host(p, "192.168.1.5", "evil.example.com"), "forbidden_host");
}

Req post(Fields headers, std::string body = "{}") {
  headers.emplace_back("Host", "127.0.0.1:8787");
  headers.emplace_back("Content-Type", "application/json");
  return Req{.method = "POST", .headers = std::move(headers), .body = std::move(body)};
}

// The cross-site POST row of issue 19.
TEST(RequestPolicyOrigin, StateChangingRequestFromAForeignOriginIsForbidden) {
  RequestPolicy p;
  for (auto method : {"POST", "PUT", "PATCH", "DELETE", "FROB"}) {
    auto r = post({{"Origin", "http://evil.example.com"}});
    r.method = method;
    EXPECT_EQ(verdict(p, "127.0.0.1", r), "forbidden_origin") << method;
  }
  // Same name, another port: another origin (another local dev server).
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Origin", "http://127.0.0.1:3000"}})), "forbidden_origin");
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Origin", "null"}})), "forbidden_origin");
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Sec-Fetch-Site", "cross-site"}})), "forbidden_origin");
}

TEST(RequestPolicyOrigin, OwnOriginAllowedOriginsAndNoOriginPass) {
  RequestPolicy p;
  p.allowed_origins = {"https://yoi.example.com/"};
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Origin", "http://127.0.0.1:8787"}})), "ok");
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Origin", "https://yoi.example.com"}})), "ok");
  EXPECT_EQ(verdict(p, "127.0.0.1", post({})), "ok") << "the CLI and curl send no Origin";
  EXPECT_EQ(verdict(p, "127.0.0.1", post({{"Sec-Fetch-Site", "same-origin"}})), "ok");
  // A GET is not state-changing: CORS keeps its answer from the page.
  EXPECT_EQ(verdict(p, "127.0.0.1",
                    Req{.headers = {{"Host", "localhost:8787"}, {"Origin", "http://evil.example.com"}}}),
            "ok");
}

// The cross-site WebSocket row of issue 19: an upgrade is judged like a POST.
TEST(RequestPolicyOrigin, WebSocketUpgradeFromAForeignOriginIsForbidden) {
  RequestPolicy p;
  Req ws{.headers = {{"Host", "localhost:8787"}, {"Origin", "http://evil.example.com"}}, .upgrade = true};
  EXPECT_EQ(verdict(p, "127.0.0.1", ws), "forbidden_origin");
  ws.headers[1].second = "http://localhost:8787";
  EXPECT_EQ(verdict(p, "127.0.0.1", ws), "ok");
}

TEST(RequestPolicyOrigin, RefuseAnyRefusesEveryRequestWithAnOrigin) {
  RequestPolicy p;
  p.origins = RequestPolicy::Origins::refuse_any;
  Req get{.headers = {{"Host", "127.0.0.1:8790"}, {"Origin", "http://127.0.0.1:8790"}}};
  EXPECT_EQ(verdict(p, "127.0.0.1", get), "forbidden_origin") << "even its own origin, even a GET";
  EXPECT_EQ(verdict(p, "127.0.0.1", Req{.headers = {{"Host", "127.0.0.1:8790"}}}), "ok");
}

TEST(RequestPolicyBody, ANonEmptyBodyMustBeJson) {
  RequestPolicy p;
  auto with_type = [&](std::string type, std::string body = "{}") {
    Req r{.method = "POST", .headers = {{"Host", "localhost"}}, .body = std::move(body)};
    if (!type.empty()) r.headers.emplace_back("content-type", std::move(type));
    return verdict(p, "127.0.0.1", r);
  };
  EXPECT_EQ(with_type("application/json"), "ok");
  EXPECT_EQ(with_type("Application/JSON; charset=utf-8"), "ok");
  EXPECT_EQ(with_type("text/plain"), "unsupported_media_type");
  EXPECT_EQ(with_type("application/x-www-form-urlencoded"), "unsupported_media_type");
  EXPECT_EQ(with_type("multipart/form-data; boundary=x"), "unsupported_media_type");
  EXPECT_EQ(with_type("application/jsonp"), "unsupported_media_type");
  EXPECT_EQ(with_type(""), "unsupported_media_type");
  EXPECT_EQ(with_type("", ""), "ok") << "cancel and stop with an empty body need no type";
}

TEST(RequestPolicyStart, AWildcardAddressNeedsAllowedHostsAndEntriesMustParse) {
  RequestPolicy p;
  EXPECT_TRUE(check_policy(p, "127.0.0.1"));
  EXPECT_TRUE(check_policy(p, "192.168.1.5"));
  auto e = check_policy(p, "0.0.0.0");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, Code::config_invalid);
  EXPECT_NE(e.error().message.find("allowed_hosts"), std::string::npos);
  EXPECT_FALSE(check_policy(p, "::"));
  p.allowed_hosts = {"yoi.example.com"};
  EXPECT_TRUE(check_policy(p, "0.0.0.0"));
  p.allowed_hosts = {"http://yoi.example.com"};
  EXPECT_FALSE(check_policy(p, "0.0.0.0"));
  p.allowed_hosts = {"yoi.example.com"};
  p.allowed_origins = {"yoi.example.com"};
  auto o = check_policy(p, "0.0.0.0");
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("allowed_origins"), std::string::npos);
}

}  // namespace
}  // namespace yoi::net
