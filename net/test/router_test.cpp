// Router::match without sockets: literal and {param} segments, decoding per
// segment, 404 vs 405 with the Allow list, WebSocket routes.
#include <gtest/gtest.h>

#include "yoi/net/http_server.hpp"

namespace yoi::net {
namespace {

void noop(const Request&, Respond) {}

Router sample() {
  Router r;
  r.add("GET", "/v1/workers", noop);
  r.add("POST", "/v1/workers", noop);
  r.add("GET", "/v1/workers/{id}", noop);
  r.add("DELETE", "/v1/workers/{id}", noop, RouteOptions{.auth = false});
  r.add("POST", "/v1/workers/{id}/stop", noop);
  r.add("POST", "/v1/workers/{id}/input", noop);
  r.websocket("/v1/workers/{id}/events", [](const Request&) -> WsDecision { return WsAccept{}; });
  return r;
}

// The route `method path` matches (a failure, and an empty route, when none
// does), and the parameters it filled into *params.
const Router::Match& matched(const Router& r, std::string_view method, std::string_view path,
                             Fields* params = nullptr) {
  static const Router::Match none;
  Fields p;
  auto m = r.match(method, path, p);
  if (params) *params = p;
  if (m) return **m;
  ADD_FAILURE() << method << " " << path << ": " << m.error().message;
  return none;
}

// The error code of a path that matches no route.
Code refused(const Router& r, std::string_view method, std::string_view path,
             std::string* allow = nullptr) {
  Fields p;
  auto m = r.match(method, path, p, allow);
  EXPECT_FALSE(m) << method << " " << path << " matched " << (m ? (*m)->pattern : "");
  return m ? Code::internal : m.error().code;
}

TEST(Router, LiteralSegmentsMatchExactly) {
  Router r = sample();
  Fields params{{"stale", "x"}};
  const auto& m = matched(r, "GET", "/v1/workers", &params);
  EXPECT_EQ(m.pattern, "/v1/workers");
  EXPECT_EQ(m.method, "GET");
  EXPECT_TRUE(params.empty());
  EXPECT_EQ(matched(r, "POST", "/v1/workers").method, "POST");
  // Case, a trailing slash and extra or missing segments are other paths.
  EXPECT_EQ(refused(r, "GET", "/V1/workers"), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/v1/workers/"), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/v1"), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/v1/workers/w1/stop/now"), Code::not_found);
}

TEST(Router, ParamSegmentsCaptureOneNonEmptySegment) {
  Router r = sample();
  Fields params;
  EXPECT_EQ(matched(r, "POST", "/v1/workers/w-1/input", &params).pattern, "/v1/workers/{id}/input");
  EXPECT_EQ(params, (Fields{{"id", "w-1"}}));
  // "/v1/workers//input": an empty segment never fills a parameter.
  EXPECT_EQ(refused(r, "POST", "/v1/workers//input"), Code::not_found);
}

TEST(Router, FirstMatchingRouteInOrderWins) {
  Router r;
  r.add("GET", "/a/{x}", noop);
  r.add("GET", "/a/b", noop);
  Fields params;
  EXPECT_EQ(matched(r, "GET", "/a/b", &params).pattern, "/a/{x}");
  EXPECT_EQ(params, (Fields{{"x", "b"}}));
}

TEST(Router, SegmentsAreDecodedAfterSplittingSoAnEncodedSlashNeverChangesTheRoute) {
  Router r = sample();
  Fields params;
  // "w1%2Fstop" is the id "w1/stop", not the stop route of w1.
  EXPECT_EQ(matched(r, "GET", "/v1/workers/w1%2Fstop", &params).pattern, "/v1/workers/{id}");
  EXPECT_EQ(params, (Fields{{"id", "w1/stop"}}));
  EXPECT_EQ(refused(r, "POST", "/v1/workers/w1%2Fstop"), Code::method_not_allowed);
  // Lower- and upper-case hex, a space; a stray '%' stays as it is.
  const std::pair<std::string_view, std::string_view> ids[] = {
      {"a%2fb%20c", "a/b c"}, {"%41%42", "AB"}, {"100%", "100%"}, {"%zz", "%zz"}, {"%4", "%4"}};
  for (auto [raw, id] : ids) {
    EXPECT_EQ(matched(r, "GET", "/v1/workers/" + std::string(raw), &params).pattern,
              "/v1/workers/{id}");
    EXPECT_EQ(params, (Fields{{"id", std::string(id)}})) << raw;
  }
  // Literal segments are compared decoded.
  EXPECT_EQ(matched(r, "POST", "/v1/workers/w1/%73top").pattern, "/v1/workers/{id}/stop");
}

TEST(Router, UnknownPathIs404AndKnownPathWithAnotherMethodIs405WithAllow) {
  Router r = sample();
  std::string allow = "untouched";
  EXPECT_EQ(refused(r, "GET", "/nope", &allow), Code::not_found);
  EXPECT_EQ(allow, "untouched");

  EXPECT_EQ(refused(r, "PUT", "/v1/workers", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "GET, POST");
  Fields params;
  auto na = r.match("PUT", "/v1/workers", params);  // no Allow out: it is in the message only
  ASSERT_FALSE(na);
  EXPECT_EQ(na.error().message, "method PUT is not allowed here (allowed: GET, POST)");

  // Each method once, in route order; the WebSocket route counts as GET.
  EXPECT_EQ(refused(r, "PATCH", "/v1/workers/w1", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "GET, DELETE");
  EXPECT_EQ(refused(r, "POST", "/v1/workers/w1/events", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "GET");
}

// Regression: the Allow list skipped a method whose name is inside one
// already listed (a substring check).
TEST(Router, AllowListsEveryMethodEvenOneInsideAnother) {
  Router r;
  auto ok = [](const Request&, Respond) {};
  r.add("PURGE", "/x", ok);
  r.add("GET", "/x", ok);
  r.add("PUT", "/x", ok);
  r.add("GE", "/x", ok);
  std::string allow;
  EXPECT_EQ(refused(r, "POST", "/x", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "PURGE, GET, PUT, GE");
}

TEST(Router, WebSocketRoutesAreGetRoutesWithAWsHandler) {
  Router r = sample();
  Fields params;
  const auto& ws = matched(r, "GET", "/v1/workers/w1/events", &params);
  EXPECT_TRUE(ws.ws);
  EXPECT_FALSE(ws.handler);
  EXPECT_EQ(params, (Fields{{"id", "w1"}}));
  const auto& plain = matched(r, "GET", "/v1/workers/w1");
  EXPECT_FALSE(plain.ws);
  EXPECT_TRUE(plain.handler);
}

TEST(Router, RouteOptionsAreKept) {
  Router r = sample();
  EXPECT_TRUE(matched(r, "GET", "/v1/workers/w1").opts.auth);
  EXPECT_FALSE(matched(r, "DELETE", "/v1/workers/w1").opts.auth);
}

}  // namespace
}  // namespace yoi::net
