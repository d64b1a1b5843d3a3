// Security over real sockets against the real binaries (yoi-runtime with an
// fs store, yoi-server with it as a remote runtime): ids carrying path
// characters are rejected with invalid_id and create nothing (no worker, no
// file); oversized bodies are 413 payload_too_large (declared, sent, chunked)
// and both servers keep serving; oversized WebSocket messages close the
// stream with 1009. Error bodies carry no canary secret.
//
// Already covered elsewhere and not repeated here: a few invalid ids per
// route in server/test/runtime_server_test.cpp and backend/test/api_test.cpp;
// the net layer's 413 / 1009 in net/test/http_server_test.cpp (in process).
// Slowloris: slowloris_test.cpp. Constant-time token checks: auth_test.cpp.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <set>
#include <tuple>

#include "stack.hpp"

#include "frames.hpp"

namespace yoi::reliability {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using net::test::HttpClient;
using net::test::HttpResult;
using net::test::WsClient;

std::size_t worker_count(const std::string& body) {
  boost::system::error_code ec;
  auto v = bj::parse(body, ec);
  if (ec || !v.is_object()) return 999999;
  auto* w = v.as_object().if_contains("workers");
  return w && w->is_array() ? w->as_array().size() : 999999;
}

// Every path under `root` (what the fs store wrote).
std::set<std::string> tree(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    out.insert(fs::relative(it->path(), root).string());
  return out;
}

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    StackOptions o;
    o.echo_chunk_delay_ms = 0;
    st = std::make_unique<Stack>(o);
    ASSERT_TRUE(st->start_runtime());
    ASSERT_TRUE(st->start_server());
    rt = std::make_unique<HttpClient>("127.0.0.1", st->runtime_port());
    srv = std::make_unique<HttpClient>("127.0.0.1", st->server_port());
    ASSERT_EQ(rt->request("POST", "/v1/workers", R"({"worker_id":"w1"})", st->runtime_auth()).status, 201);
  }
  // The error bodies a client sees name no secret.
  void expect_clean(const HttpResult& r) {
    for (const auto& c : {st->canaries().runtime_token, st->canaries().access_token,
                          st->canaries().provider_key, st->runtime_url()})
      EXPECT_EQ(r.body.find(c), std::string::npos) << r.body;
  }
  std::unique_ptr<Stack> st;
  std::unique_ptr<HttpClient> rt, srv;
};

// Path segments that must never become a worker (or runtime) id: traversal,
// encoded separators, NUL, backslash, control bytes, overlong.
const std::vector<std::string> kBadPathIds = {
    "..",      ".",        "%2E%2E",    "%2e%2e%2F%2e%2e", "a%2Fb",  "%2F",         "a%2fb", "..%2Fetc",
    "a%00b",   "%00",      "a%5Cb",     "..%5C..",         "a%0Ab",  "a%20b",       "-x",    "%2Ea",
    std::string(121, 'a'), std::string(4096, 'b'),
};
// The same in a create body (JSON-escaped).
const std::vector<std::string> kBadBodyIds = {
    "..", ".", "../x", "a/b", "/", "a\\\\b", "..\\\\..", "a\\u0000b", "\\u0000", "a\\nb", "a b", "",
    "-x", ".a", std::string(121, 'a'), std::string(4096, 'b'),
};

TEST_F(Security, PathCharactersInIdsAreInvalidIdAndCreateNothing) {
  const auto files_before = tree(st->dir() / "rt-data");
  ASSERT_FALSE(files_before.empty());
  for (const auto& id : kBadPathIds) {
    SCOPED_TRACE("id segment: " + id.substr(0, 40));
    for (const auto& [method, suffix, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"GET", "", ""}, {"POST", "/input", R"({"content":"x"})"}, {"POST", "/stop", "{}"},
             {"GET", "/transcript", ""}, {"GET", "/events", ""}}) {
      auto a = rt->request(method, "/v1/workers/" + id + suffix, body, st->runtime_auth());
      EXPECT_EQ(a.status, 400) << method << " runtime " << suffix << ": " << a.body;
      EXPECT_EQ(error_code(a.body), "invalid_id") << a.body;
      expect_clean(a);
      auto b = srv->request(method, "/api/runtimes/edge/workers/" + id + suffix, body, st->auth());
      EXPECT_EQ(b.status, 400) << method << " server " << suffix << ": " << b.body;
      EXPECT_EQ(error_code(b.body), "invalid_id") << b.body;
      expect_clean(b);
    }
    // As the runtime id of the backend's routes.
    auto c = srv->request("GET", "/api/runtimes/" + id + "/workers/w1", "", st->auth());
    EXPECT_EQ(c.status, 400) << c.body;
    EXPECT_EQ(error_code(c.body), "invalid_id") << c.body;
    // And on the event streams (refused before the upgrade).
    WsClient ws("127.0.0.1", st->runtime_port());
    auto hs = ws.connect("/v1/workers/" + id + "/events/ws", st->runtime_auth());
    EXPECT_FALSE(hs.ok);
    EXPECT_EQ(hs.status, 400) << hs.body;
    WsClient ws2("127.0.0.1", st->server_port());
    auto hs2 = ws2.connect("/api/runtimes/edge/workers/" + id + "/events/ws", st->auth());
    EXPECT_FALSE(hs2.ok);
    EXPECT_EQ(hs2.status, 400) << hs2.body;
  }
  for (const auto& id : kBadBodyIds) {
    SCOPED_TRACE("body id: " + id.substr(0, 40));
    auto body = R"({"worker_id":")" + id + R"("})";
    auto a = rt->request("POST", "/v1/workers", body, st->runtime_auth());
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(error_code(a.body), "invalid_id") << a.body;
    auto b = srv->request("POST", "/api/runtimes/edge/workers", body, st->auth());
    EXPECT_EQ(b.status, 400) << b.body;
    EXPECT_EQ(error_code(b.body), "invalid_id") << b.body;
    expect_clean(a);
    expect_clean(b);
  }
  // Nothing was created: one worker, the same files.
  EXPECT_EQ(worker_count(rt->request("GET", "/v1/workers", "", st->runtime_auth()).body), 1u);
  EXPECT_EQ(worker_count(srv->request("GET", "/api/runtimes/edge/workers", "", st->auth()).body), 1u);
  EXPECT_EQ(tree(st->dir() / "rt-data"), files_before);
  EXPECT_FALSE(fs::exists(st->dir() / "etc"));
  EXPECT_FALSE(fs::exists(st->dir() / "x"));
}

// Regression: the router used to decode the path before splitting it, so
// "w1%2Fstop" (the id "w1/stop") matched the stop route of w1 and stopped it.
TEST_F(Security, EncodedSlashInAnIdNeverChangesTheRoute) {
  // "w1%2Fstop" is one segment: the route /v1/workers/{id} (GET only), so a
  // POST there is 405 and a GET is 400 invalid_id — never the stop route.
  for (const auto& [op, body] : std::vector<std::pair<std::string, std::string>>{
           {"stop", "{}"}, {"cancel", "{}"}, {"input", R"({"content":"x"})"}}) {
    auto a = rt->request("POST", "/v1/workers/w1%2F" + op, body, st->runtime_auth());
    EXPECT_EQ(a.status, 405) << op << ": " << a.body;
    EXPECT_EQ(error_code(a.body), "method_not_allowed") << a.body;
    auto b = srv->request("POST", "/api/runtimes/edge/workers/w1%2F" + op, body, st->auth());
    EXPECT_EQ(b.status, 405) << op << ": " << b.body;
    EXPECT_EQ(error_code(b.body), "method_not_allowed") << b.body;
    auto c = srv->request("POST", "/api/runtimes/edge%2Fworkers%2Fw1/" + op, body, st->auth());
    EXPECT_EQ(c.status, 404) << op << ": " << c.body;  // no route has that shape
  }
  for (const auto& op : {"transcript", "events"}) {
    auto a = rt->request("GET", std::string("/v1/workers/w1%2F") + op, "", st->runtime_auth());
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(error_code(a.body), "invalid_id") << a.body;
    auto b = srv->request("GET", std::string("/api/runtimes/edge/workers/w1%2F") + op, "", st->auth());
    EXPECT_EQ(b.status, 400) << b.body;
    EXPECT_EQ(error_code(b.body), "invalid_id") << b.body;
  }
  auto w = rt->request("GET", "/v1/workers/w1", "", st->runtime_auth());
  EXPECT_NE(w.body.find(R"("status":"idle")"), std::string::npos) << "w1 was reached through an encoded id: " << w.body;
  EXPECT_NE(w.body.find(R"("run_count":0)"), std::string::npos) << w.body;
  // Ordinary encoded characters in a segment still decode.
  EXPECT_EQ(rt->request("GET", "/v1/workers/%77%31", "", st->runtime_auth()).status, 200);
}

TEST_F(Security, OversizedBodiesAre413AndBothServersKeepServing) {
  const std::string big(1024 * 1024 + 64, 'a');  // over both servers' 1 MiB default
  const std::string body = R"({"content":")" + big + R"("})";
  for (auto [client, target, auth] :
       {std::tuple{rt.get(), std::string("/v1/workers/w1/input"), st->runtime_auth()},
        std::tuple{srv.get(), std::string("/api/runtimes/edge/workers/w1/input"), st->auth()}}) {
    SCOPED_TRACE(target);
    // Sent in full.
    auto sent = client->request("POST", target, body, auth);
    EXPECT_EQ(sent.status, 413) << sent.body << sent.error;
    EXPECT_EQ(error_code(sent.body), "payload_too_large") << sent.body;
    expect_clean(sent);
    // Declared only: refused on the header, before a byte of body.
    std::string hdr;
    for (auto& [k, v] : auth) hdr += k + ": " + v + "\r\n";
    auto declared = client->raw("POST " + target + " HTTP/1.1\r\nHost: x\r\n" + hdr +
                                "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n");
    EXPECT_EQ(declared.status, 413) << declared.body << declared.error;
    // Chunked, over the limit.
    std::string chunked = "POST " + target + " HTTP/1.1\r\nHost: x\r\n" + hdr +
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) chunked += "10000\r\n" + std::string(0x10000, 'b') + "\r\n";
    chunked += "0\r\n\r\n";
    auto ch = client->raw(chunked);
    EXPECT_EQ(ch.status, 413) << ch.body << ch.error;
  }
  // Nothing was accepted, and both still answer.
  auto ev = rt->request("GET", "/v1/workers/w1/transcript", "", st->runtime_auth());
  EXPECT_EQ(ev.status, 200);
  EXPECT_EQ(ev.body.find("aaaa"), std::string::npos);
  EXPECT_EQ(srv->request("GET", "/api/runtimes/edge/workers/w1", "", st->auth()).status, 200);
  EXPECT_EQ(rt->request("GET", "/healthz").status, 200);
}

TEST_F(Security, OversizedWebSocketMessagesClose1009) {
  // Both servers accept at most 64 KiB per client message (their defaults).
  const std::string big(64 * 1024 + 1, 'm');
  WsClient a("127.0.0.1", st->runtime_port());
  ASSERT_TRUE(a.connect("/v1/workers/w1/events/ws", st->runtime_auth()).ok);
  ASSERT_TRUE(a.read(5s)) << "no snapshot from the runtime";
  a.send(big);
  for (int i = 0; i < 20 && !a.closed(); ++i) a.read(1s);
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(a.close_code(), 1009);

  WsClient b("127.0.0.1", st->server_port());
  ASSERT_TRUE(b.connect("/api/runtimes/edge/workers/w1/events/ws", st->auth()).ok);
  ASSERT_TRUE(b.read(5s)) << "no snapshot from yoi-server";
  b.send(big);
  for (int i = 0; i < 20 && !b.closed(); ++i) b.read(1s);
  EXPECT_TRUE(b.closed());
  EXPECT_EQ(b.close_code(), 1009);
  // The servers are fine.
  EXPECT_EQ(srv->request("GET", "/api/runtimes/edge/workers/w1", "", st->auth()).status, 200);
}

}  // namespace
}  // namespace yoi::reliability
