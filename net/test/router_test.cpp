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

TEST(Router, LiteralSegmentsMatchExactly) {
  Router r = sample();
  Fields params;
  auto m = r.match("GET", "/v1/workers", params);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->pattern, "/v1/workers");
  EXPECT_EQ((*m)->method, "GET");
  EXPECT_TRUE(params.empty());
  EXPECT_EQ(r.match("POST", "/v1/workers", params).value()->method, "POST");
  // Case, a trailing slash and extra or missing segments are other paths.
  EXPECT_EQ(r.match("GET", "/V1/workers", params).error().code, Code::not_found);
  EXPECT_EQ(r.match("GET", "/v1/workers/", params).error().code, Code::not_found);
  EXPECT_EQ(r.match("GET", "/v1", params).error().code, Code::not_found);
  EXPECT_EQ(r.match("GET", "/v1/workers/w1/stop/now", params).error().code, Code::not_found);
}

TEST(Router, ParamSegmentsCaptureOneNonEmptySegment) {
  Router r = sample();
  Fields params;
  auto m = r.match("POST", "/v1/workers/w-1/input", params);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->pattern, "/v1/workers/{id}/input");
  EXPECT_EQ(params, (Fields{{"id", "w-1"}}));
  // "/v1/workers//input": an empty segment never fills a parameter.
  EXPECT_EQ(r.match("POST", "/v1/workers//input", params).error().code, Code::not_found);
}

TEST(Router, FirstMatchingRouteInOrderWins) {
  Router r;
  r.add("GET", "/a/{x}", noop);
  r.add("GET", "/a/b", noop);
  Fields params;
  EXPECT_EQ(r.match("GET", "/a/b", params).value()->pattern, "/a/{x}");
  EXPECT_EQ(params, (Fields{{"x", "b"}}));
}

TEST(Router, SegmentsAreDecodedAfterSplittingSoAnEncodedSlashNeverChangesTheRoute) {
  Router r = sample();
  Fields params;
  // "w1%2Fstop" is the id "w1/stop", not the stop route of w1.
  auto m = r.match("GET", "/v1/workers/w1%2Fstop", params);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->pattern, "/v1/workers/{id}");
  EXPECT_EQ(params, (Fields{{"id", "w1/stop"}}));
  EXPECT_EQ(r.match("POST", "/v1/workers/w1%2Fstop", params).error().code, Code::method_not_allowed);
  // Lower- and upper-case hex; a space; a stray '%' stays as it is.
  ASSERT_TRUE(r.match("GET", "/v1/workers/a%2fb%20c", params));
  EXPECT_EQ(params, (Fields{{"id", "a/b c"}}));
  ASSERT_TRUE(r.match("GET", "/v1/workers/100%", params));
  EXPECT_EQ(params, (Fields{{"id", "100%"}}));
  ASSERT_TRUE(r.match("GET", "/v1/workers/%zz", params));
  EXPECT_EQ(params, (Fields{{"id", "%zz"}}));
  // Literal segments are compared decoded.
  EXPECT_EQ(r.match("POST", "/v1/workers/w1/%73top", params).value()->pattern, "/v1/workers/{id}/stop");
}

TEST(Router, UnknownPathIs404AndKnownPathWithAnotherMethodIs405WithAllow) {
  Router r = sample();
  Fields params;
  std::string allow = "untouched";
  auto nf = r.match("GET", "/nope", params, &allow);
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().code, Code::not_found);
  EXPECT_EQ(allow, "untouched");

  auto na = r.match("PUT", "/v1/workers", params, &allow);
  ASSERT_FALSE(na);
  EXPECT_EQ(na.error().code, Code::method_not_allowed);
  EXPECT_EQ(allow, "GET, POST");
  EXPECT_NE(na.error().message.find("PUT"), std::string::npos) << na.error().message;

  // Each method once, in route order; the WebSocket route counts as GET.
  EXPECT_EQ(r.match("PATCH", "/v1/workers/w1", params, &allow).error().code, Code::method_not_allowed);
  EXPECT_EQ(allow, "GET, DELETE");
  EXPECT_EQ(r.match("POST", "/v1/workers/w1/events", params, &allow).error().code, Code::method_not_allowed);
  EXPECT_EQ(allow, "GET");
  // Without somewhere to put it, the Allow list is only in the message.
  EXPECT_EQ(r.match("PUT", "/v1/workers", params).error().code, Code::method_not_allowed);
}

TEST(Router, WebSocketRoutesAreGetRoutesWithAWsHandler) {
  Router r = sample();
  Fields params;
  auto m = r.match("GET", "/v1/workers/w1/events", params);
  ASSERT_TRUE(m);
  EXPECT_TRUE((*m)->ws);
  EXPECT_FALSE((*m)->handler);
  EXPECT_EQ(params, (Fields{{"id", "w1"}}));
  auto plain = r.match("GET", "/v1/workers/w1", params);
  ASSERT_TRUE(plain);
  EXPECT_FALSE((*plain)->ws);
  EXPECT_TRUE((*plain)->handler);
}

TEST(Router, RouteOptionsAreKept) {
  Router r = sample();
  Fields params;
  EXPECT_TRUE(r.match("GET", "/v1/workers/w1", params).value()->opts.auth);
  EXPECT_FALSE(r.match("DELETE", "/v1/workers/w1", params).value()->opts.auth);
}

}  // namespace
}  // namespace yoi::net
