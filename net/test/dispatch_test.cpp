// The request → route → response step without sockets (net/dispatch.hpp):
// what is answered before any handler runs, and the bytes of a response.
#include "dispatch.hpp"

#include <stdexcept>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace yoi::net::detail {
namespace {

namespace bj = boost::json;

void noop(const Request&, Respond) {}

std::string code_of(const Routing& r) {
  return std::string(bj::parse(r.answer.value().body).at("error").at("code").as_string());
}

Request get(std::string target, std::string method = "GET") {
  Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  return req;
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
  auto req = get("/items/a%2Fb?q=x%20y&q=2&flag");
  auto r = route_request(router, ServerOptions{}, req, false, false);
  ASSERT_NE(r.route, nullptr);
  EXPECT_FALSE(r.answer);
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
    auto req = get(target);
    auto r = route_request(router, ServerOptions{}, req, false, false);
    EXPECT_EQ(r.route, nullptr) << target;
    EXPECT_EQ(r.label(), "unmatched") << target;
    ASSERT_TRUE(r.answer) << target;
    EXPECT_EQ(r.answer->status, 400) << target;
    EXPECT_EQ(code_of(r), "invalid_request") << target;
  }
}

TEST(RouteRequest, UnknownPathIs404AndOtherMethodIs405WithAllow) {
  Router router = sample();
  auto nope = get("/nope");
  auto r = route_request(router, ServerOptions{}, nope, false, false);
  EXPECT_EQ(r.answer.value().status, 404);
  EXPECT_EQ(code_of(r), "not_found");
  EXPECT_TRUE(r.answer->headers.empty());
  EXPECT_EQ(r.label(), "unmatched");

  auto del = get("/items/1", "DELETE");
  r = route_request(router, ServerOptions{}, del, false, false);
  EXPECT_EQ(r.answer.value().status, 405);
  EXPECT_EQ(code_of(r), "method_not_allowed");
  EXPECT_EQ(r.answer->headers, (Fields{{"Allow", "GET"}}));
}

TEST(RouteRequest, AuthRunsBeforeRoutingSoUnmatchedPathsAreHiddenButOpenRoutesAreNot) {
  Router router = sample();
  const auto opts = with_auth();
  for (std::string target : {"/items/1", "/nope"}) {
    auto req = get(target);
    auto r = route_request(router, opts, req, false, false);
    EXPECT_EQ(r.answer.value().status, 401) << target;
    EXPECT_EQ(code_of(r), "unauthorized") << target;
  }
  auto del = get("/items/1", "DELETE");  // 405 would reveal the route
  EXPECT_EQ(route_request(router, opts, del, false, false).answer.value().status, 401);
  // A refused request on a known route still counts under its pattern.
  auto item = get("/items/1");
  EXPECT_EQ(route_request(router, opts, item, false, false).label(), "/items/{id}");

  auto open = get("/open");
  EXPECT_FALSE(route_request(router, opts, open, false, false).answer);
  auto authed = get("/nope");
  authed.headers.emplace_back("authorization", "yes");
  EXPECT_EQ(route_request(router, opts, authed, false, false).answer.value().status, 404);
}

TEST(RouteRequest, WebSocketRouteAcceptsAnUpgradeOnly) {
  Router router = sample();
  auto plain = get("/ws/1");
  auto r = route_request(router, ServerOptions{}, plain, false, false);
  EXPECT_EQ(r.answer.value().status, 400);
  EXPECT_EQ(code_of(r), "invalid_request");

  auto up = get("/ws/1");
  r = route_request(router, ServerOptions{}, up, true, false);
  EXPECT_FALSE(r.answer);
  ASSERT_TRUE(r.accept);
  EXPECT_EQ(r.accept->subprotocol, "yoi.v1");
  EXPECT_EQ(r.label(), "/ws/{n}");
}

TEST(RouteRequest, WebSocketRefusalThrowAndShutdownAreHttpAnswers) {
  Router router = sample();
  auto refuse = get("/ws/refuse");
  auto r = route_request(router, ServerOptions{}, refuse, true, false);
  EXPECT_FALSE(r.accept);
  EXPECT_EQ(r.answer.value().status, 404);
  EXPECT_EQ(code_of(r), "worker_not_found");

  auto thrown = get("/ws/throw");
  r = route_request(router, ServerOptions{}, thrown, true, false);
  EXPECT_EQ(r.answer.value().status, 500);
  EXPECT_EQ(code_of(r), "internal");

  auto stopping = get("/ws/1");
  r = route_request(router, ServerOptions{}, stopping, true, true);
  EXPECT_FALSE(r.accept);
  EXPECT_EQ(r.answer.value().status, 503);
  EXPECT_EQ(code_of(r), "shutting_down");
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

}  // namespace
}  // namespace yoi::net::detail
