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

// Routes are looked up by segment count: a path must still find the one
// route among many of its length, in route order.
TEST(Router, ARouteIsFoundAmongManyWithTheSameSegmentCount) {
  Router r;
  for (int i = 0; i < 40; ++i) {
    r.add("GET", "/a/b" + std::to_string(i) + "/{x}", noop);
    r.add("POST", "/a/{y}/c" + std::to_string(i), noop);
  }
  r.add("GET", "/a/{z}", noop);  // fewer segments: never a candidate for three
  Fields params;
  EXPECT_EQ(matched(r, "GET", "/a/b31/q", &params).pattern, "/a/b31/{x}");
  EXPECT_EQ(params, (Fields{{"x", "q"}}));
  EXPECT_EQ(matched(r, "POST", "/a/b31/c7", &params).pattern, "/a/{y}/c7");
  EXPECT_EQ(params, (Fields{{"y", "b31"}}));
  // "/a/b7/c7" has a GET route (b7/{x}) and a POST route ({y}/c7).
  EXPECT_EQ(matched(r, "GET", "/a/b7/c7", &params).pattern, "/a/b7/{x}");
  EXPECT_EQ(matched(r, "GET", "/a/b7", &params).pattern, "/a/{z}");
  EXPECT_EQ(params, (Fields{{"z", "b7"}}));
  EXPECT_EQ(refused(r, "GET", "/a/b40/q"), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/a/b1/q/r"), Code::not_found);
}

TEST(Router, AllowListsMethodsInRouteOrderAcrossPatternsOfDifferentShapes) {
  Router r;
  r.add("PUT", "/x/{id}", noop);
  r.add("GET", "/x/y/z", noop);  // another shape: not this path
  r.add("GET", "/x/y", noop);
  r.add("PUT", "/{a}/y", noop);  // PUT again: listed once
  r.add("DELETE", "/{a}/{b}", noop);
  r.add("OPTIONS", "/x/q", noop);  // same shape, another literal: not this path
  std::string allow;
  EXPECT_EQ(refused(r, "PATCH", "/x/y", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "PUT, GET, DELETE");
  EXPECT_EQ(refused(r, "PATCH", "/w/y", &allow), Code::method_not_allowed);
  EXPECT_EQ(allow, "PUT, DELETE");
  // The first route in order with the method wins, whatever its shape.
  EXPECT_EQ(matched(r, "PUT", "/x/y").pattern, "/x/{id}");
}

TEST(Router, ParamSegmentsArePercentDecodedEachInItsOwnSegment) {
  Router r;
  r.add("GET", "/a/{x}/b/{y}/{z}", noop);
  Fields params;
  // Several encoded segments in one path, a literal among them, every byte
  // value: each parameter is its own segment decoded.
  EXPECT_EQ(matched(r, "GET", "/a/%E2%9C%93/%62/x%25y%2F%00%ff/plain", &params).pattern, "/a/{x}/b/{y}/{z}");
  EXPECT_EQ(params, (Fields{{"x", "\xE2\x9C\x93"}, {"y", std::string("x%y/\0\xff", 6)}, {"z", "plain"}}));
  // An encoded segment that decodes to nothing is still not empty; an empty
  // one never fills a parameter, encoded neighbours or not.
  EXPECT_EQ(refused(r, "GET", "/a/%41/b//%42"), Code::not_found);
}

// A path's work is bounded by the longest pattern, not by the path: many
// segments, or one very long segment, are a plain 404 (or a match).
TEST(Router, VeryLongPathsAndManySegmentsAre404) {
  Router r = sample();
  std::string many;
  for (int i = 0; i < 100'000; ++i) many += "/v1";
  EXPECT_EQ(refused(r, "GET", many), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/v1/workers/w1/stop/" + std::string(100'000, '/')), Code::not_found);
  EXPECT_EQ(refused(r, "GET", "/" + std::string(1 << 20, 'x')), Code::not_found);
  Fields params;
  std::string id;
  for (int i = 0; i < 10'000; ++i) id += "%41";
  EXPECT_EQ(matched(r, "GET", "/v1/workers/" + id, &params).pattern, "/v1/workers/{id}");
  EXPECT_EQ(params, (Fields{{"id", std::string(10'000, 'A')}}));
  EXPECT_EQ(refused(Router{}, "GET", "/"), Code::not_found);
}

}  // namespace
}  // namespace yoi::net
