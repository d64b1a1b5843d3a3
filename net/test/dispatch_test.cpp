// The request → route → response step without sockets (net/dispatch.hpp):
// what is answered before any handler runs, and the bytes of a response.
#include "dispatch.hpp"

#include <random>
#include <stdexcept>

#include <boost/beast/http/status.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <gtest/gtest.h>

namespace yoi::net::detail {
namespace {

namespace bj = boost::json;

void noop(const Request&, Respond) {}

Request request(std::string method, std::string target) {
  Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.headers.emplace_back("Host", "127.0.0.1:8790");
  return req;
}

struct Flags {
  bool upgrade = false;   // the request asks for a WebSocket upgrade
  bool stopping = false;  // the server is shutting down
};

Routing route(const Router& router, const ServerOptions& opts, std::string method,
              std::string target, Flags flags = {}) {
  auto req = request(std::move(method), std::move(target));
  return route_request(router, opts, req, flags.upgrade, flags.stopping);
}

// "status code" of an answer given before any handler; "none" without one.
std::string answered(const Routing& r) {
  if (!r.answer) return "none";
  auto v = bj::parse(r.answer->body);
  return std::to_string(r.answer->status) + " " + std::string(v.at("error").at("code").as_string());
}

Router sample() {
  Router r;
  r.add("GET", "/items/{id}", noop);
  r.add("GET", "/open", noop, RouteOptions{.auth = false});
  r.websocket("/ws/{n}", [](const Request& req) -> WsDecision {
    if (req.param("n") == "refuse")
      return Response::error(Error{Code::worker_not_found, "no such thing"});
    if (req.param("n") == "throw") throw std::runtime_error("boom");
    WsAccept a;
    a.subprotocol = "yoi.v1";
    return a;
  });
  return r;
}

// Auth that admits only "Authorization: yes".
ServerOptions with_auth() {
  ServerOptions o;
  o.auth = [](const Request& req) -> std::optional<Error> {
    if (req.header("Authorization") == "yes") return std::nullopt;
    return Error{Code::unauthorized, "no"};
  };
  return o;
}

TEST(RouteRequest, AMatchedRouteFillsPathQueryParamsAndRouteAndLeavesTheAnswerToTheHandler) {
  Router router = sample();
  auto req = request("GET", "/items/a%2Fb?q=x%20y&q=2&flag");
  auto r = route_request(router, ServerOptions{}, req, false, false);
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(answered(r), "none");
  EXPECT_FALSE(r.accept);
  EXPECT_EQ(r.label(), "/items/{id}");
  EXPECT_EQ(req.route, "/items/{id}");
  EXPECT_EQ(req.path, "/items/a/b");
  EXPECT_EQ(req.param("id"), "a/b");
  EXPECT_EQ(req.query, (Fields{{"q", "x y"}, {"q", "2"}, {"flag", ""}}));
}

TEST(RouteRequest, MalformedTargetIs400AndUnmatched) {
  Router router = sample();
  for (std::string target : {"items/1", "http://h/items/1", "/items/1 x", "*"}) {
    auto r = route(router, {}, "GET", target);
    EXPECT_EQ(answered(r), "400 invalid_request") << target;
    EXPECT_EQ(r.route, nullptr) << target;
    EXPECT_EQ(r.label(), "unmatched") << target;
  }
}

// route_request checks and decodes plain paths itself and leaves every other
// target to Boost.URL: whatever the target, it must be refused exactly when
// Boost.URL's origin-form refuses it, with the same path and query otherwise.
TEST(RouteRequest, TargetsAreJudgedAndDecodedAsBoostUrlOriginFormDoes) {
  Router router = sample();
  std::vector<std::string> targets = {
      "/", "//", "/items/1", "/items//", "/a%2Fb", "/%41%7e", "/%4", "/%zz", "/%", "/a%",
      "/%%41", "/%00", "/%ff", "/a b", "/a\tb", "/a#f", "/a?q#f", "/a?", "/a??b", "/?a=1&&b",
      "/[x]", "/a|b", "/a\\b", "/a^b", "/a`b", "/a{b}", "/a\"b", "/a<b>", "/\x7f", "/\xc3\xa9",
      "/-._~!$&'()*+,;=:@", "/a+b", std::string("/a\0b", 4), "", "a", "*", "?", "/a/../b", "/./"};
  // And random ones over the bytes that matter to the grammar.
  const std::string alphabet = std::string("/%?#aZ09Ff-._~!$&'()*+,;=:@ \"<>[]\\^`{|}\x7f\x80\xff\t") + '\0';
  std::mt19937 rng(22);
  for (int i = 0; i < 20'000; ++i) {
    std::string t = i % 2 ? "/" : "";
    for (int n = static_cast<int>(rng() % 12); n > 0; --n) t += alphabet[rng() % alphabet.size()];
    targets.push_back(t);
  }
  int accepted = 0;
  for (const auto& target : targets) {
    auto req = request("GET", target);
    auto r = route_request(router, {}, req, false, false);
    auto url = boost::urls::parse_origin_form(target);
    if (!url) {
      EXPECT_EQ(answered(r), "400 invalid_request") << target;
      continue;
    }
    ++accepted;
    EXPECT_NE(answered(r), "400 invalid_request") << target;
    EXPECT_EQ(req.path, std::string(url->path())) << target;
    Fields query;
    for (auto p : url->params()) query.emplace_back(std::string(p.key), std::string(p.value));
    EXPECT_EQ(req.query, query) << target;
  }
  EXPECT_GT(accepted, 2000);  // the random targets reach both sides
}

TEST(RouteRequest, UnknownPathIs404AndOtherMethodIs405WithAllow) {
  Router router = sample();
  auto r = route(router, {}, "GET", "/nope");
  EXPECT_EQ(answered(r), "404 not_found");
  EXPECT_TRUE(r.answer->headers.empty());
  EXPECT_EQ(r.label(), "unmatched");

  r = route(router, {}, "DELETE", "/items/1");
  EXPECT_EQ(answered(r), "405 method_not_allowed");
  EXPECT_EQ(r.answer->headers, (Fields{{"Allow", "GET"}}));
}

TEST(RouteRequest, AuthRunsBeforeRoutingSoUnmatchedPathsAreHiddenButOpenRoutesAreNot) {
  Router router = sample();
  const auto opts = with_auth();
  EXPECT_EQ(answered(route(router, opts, "GET", "/items/1")), "401 unauthorized");
  EXPECT_EQ(answered(route(router, opts, "GET", "/nope")), "401 unauthorized");
  // 405 would reveal the route.
  EXPECT_EQ(answered(route(router, opts, "DELETE", "/items/1")), "401 unauthorized");
  // A refused request on a known route still counts under its pattern.
  EXPECT_EQ(route(router, opts, "GET", "/items/1").label(), "/items/{id}");
  EXPECT_EQ(answered(route(router, opts, "GET", "/open")), "none");

  auto authed = request("GET", "/nope");
  authed.headers.emplace_back("authorization", "yes");
  EXPECT_EQ(answered(route_request(router, opts, authed, false, false)), "404 not_found");
}

TEST(RouteRequest, WebSocketRouteAcceptsAnUpgradeOnly) {
  Router router = sample();
  EXPECT_EQ(answered(route(router, {}, "GET", "/ws/1")), "400 invalid_request");

  auto r = route(router, {}, "GET", "/ws/1", {.upgrade = true});
  EXPECT_EQ(answered(r), "none");
  ASSERT_TRUE(r.accept);
  EXPECT_EQ(r.accept->subprotocol, "yoi.v1");
  EXPECT_EQ(r.label(), "/ws/{n}");
}

TEST(RouteRequest, WebSocketRefusalThrowAndShutdownAreHttpAnswers) {
  Router router = sample();
  const Flags upgrade{.upgrade = true};
  EXPECT_EQ(answered(route(router, {}, "GET", "/ws/refuse", upgrade)), "404 worker_not_found");
  EXPECT_EQ(answered(route(router, {}, "GET", "/ws/throw", upgrade)), "500 internal");
  auto r = route(router, {}, "GET", "/ws/1", {.upgrade = true, .stopping = true});
  EXPECT_EQ(answered(r), "503 shutting_down");
  EXPECT_FALSE(r.accept);
}

// The request policy (request_policy.hpp) answers before auth and routing:
// a DNS-rebinding page learns nothing of the route table, not even 401.
TEST(RouteRequest, RequestPolicyRunsBeforeAuthAndRouting) {
  Router router = sample();
  const auto opts = with_auth();
  for (std::string target : {"/items/1", "/nope", "/open"}) {
    auto req = request("GET", target);
    req.headers = {{"Host", "evil.example.com"}, {"Authorization", "yes"}};
    EXPECT_EQ(answered(route_request(router, opts, req, false, false)), "403 forbidden_host") << target;
  }
  auto post = request("POST", "/items/1");
  post.headers.emplace_back("Content-Type", "text/plain");
  post.body = "{}";
  EXPECT_EQ(answered(route_request(router, opts, post, false, false)), "415 unsupported_media_type");
}

// A cross-site WebSocket never reaches the route's WsHandler.
TEST(RouteRequest, CrossSiteWebSocketUpgradeIsRefusedBeforeTheWsHandler) {
  Router router = sample();
  auto req = request("GET", "/ws/throw");
  req.headers.emplace_back("Origin", "http://evil.example.com");
  auto r = route_request(router, {}, req, true, false);
  EXPECT_EQ(answered(r), "403 forbidden_origin");
  EXPECT_FALSE(r.accept);

  auto own = request("GET", "/ws/1");
  own.headers.emplace_back("Origin", "http://127.0.0.1:8790");
  r = route_request(router, {}, own, true, false);
  EXPECT_EQ(answered(r), "none");
  EXPECT_TRUE(r.accept);
}

TEST(FormatResponse, HeadFieldsInOrderThenBody) {
  Response r = Response::text(201, "hi");
  r.headers.emplace_back("X-A", "1");
  std::string out = "stale";
  format_response(out, r, 11, true, "yoi");
  EXPECT_EQ(
      out,
      "HTTP/1.1 201 Created\r\nServer: yoi\r\nContent-Type: text/plain; charset=utf-8\r\nX-A: 1\r\n"
      "Content-Length: 2\r\n\r\nhi");
  format_response(out, r, 11, false, "yoi");
  EXPECT_NE(out.find("X-A: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"),
            std::string::npos)
      << out;
}

TEST(FormatResponse, Http10SaysKeepAliveWhenKept) {
  Response r = Response::text(200, "x");
  std::string out;
  format_response(out, r, 10, true, "s");
  EXPECT_EQ(out.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << out;
  format_response(out, r, 10, false, "s");
  EXPECT_EQ(out.find("Connection"), std::string::npos) << out;
}

TEST(FormatResponse, NoBodyAndNoLengthFor204And304) {
  for (int status : {204, 304}) {
    Response r = Response::text(status, "ignored");
    std::string out;
    format_response(out, r, 11, true, "s");
    EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << out;
  }
}

TEST(FormatResponse, AHeaderCarryingCrOrLfIsDropped) {
  Response r = Response::text(200, "");
  r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x");
  std::string out;
  format_response(out, r, 11, true, "s");
  EXPECT_EQ(out.find("X-Evil"), std::string::npos) << out;
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos) << out;
}

TEST(FormatResponse, StatusLineIsTheCodeAndBeastsReasonForAnyStatus) {
  for (int status = 0; status < 1000; ++status) {
    Response r = Response::text(status, "");
    std::string out;
    format_response(out, r, 11, true, "s");
    const std::string line =
        "HTTP/1.1 " + std::to_string(status) + " " +
        std::string(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status))) +
        "\r\n";
    EXPECT_EQ(out.substr(0, line.size()), line) << status;
  }
}

// The CR/LF check reads eight bytes at a time: a CR or LF at any position of
// a header value of any length drops the line; other control bytes do not.
TEST(FormatResponse, CrOrLfAtAnyPositionDropsTheLineOtherControlBytesDoNot) {
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (char c : {'\r', '\n', '\t', '\x0b', '\x0c', '\x0e', '\0'}) {
        Response r = Response::text(200, "");
        std::string value(len, 'v');
        value[at] = c;
        r.headers.emplace_back("X-V", value);
        r.headers.emplace_back(std::string(len, 'N').replace(at, 1, 1, c), "n");
        r.content_type = value;
        std::string out;
        format_response(out, r, 11, true, value);
        const bool dropped = c == '\r' || c == '\n';
        EXPECT_EQ(out.find("\r\nX-V: " + value + "\r\n") == std::string::npos, dropped) << len << " " << at;
        EXPECT_EQ(out.find("\r\nContent-Type: " + value + "\r\n") == std::string::npos, dropped) << len << " " << at;
        EXPECT_EQ(out.find("\r\nServer: " + value + "\r\n") == std::string::npos, dropped) << len << " " << at;
        EXPECT_EQ(out.find(": n\r\n") == std::string::npos, dropped) << len << " " << at;
      }
    }
  }
}

}  // namespace
}  // namespace yoi::net::detail
