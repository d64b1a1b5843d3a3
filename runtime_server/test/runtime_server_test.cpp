// yoi-runtime's REST and WebSocket API over real sockets (in-process server
// on its own io thread, 127.0.0.1:0): every route, every error code, auth,
// cursors, snapshots, diagnostics, heartbeats, metrics.
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "harness.hpp"
#include "test_client.hpp"

namespace yoi::runtime_server::test {
namespace {

namespace bj = boost::json;
using namespace std::chrono_literals;
using net::test::HttpClient;
using net::test::HttpResult;
using net::test::WsClient;

bj::value J(const HttpResult& r) {
  boost::system::error_code ec;
  auto v = bj::parse(r.body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r.body;
  return v;
}
bj::value J(const std::string& s) {
  boost::system::error_code ec;
  auto v = bj::parse(s, ec);
  EXPECT_FALSE(ec) << "not JSON: " << s;
  return v;
}
std::string code(const HttpResult& r) {
  auto v = J(r);
  if (!v.is_object() || !v.as_object().contains("error")) return "<no error: " + r.body + ">";
  return std::string(v.at("error").at("code").as_string());
}
std::string str(const bj::value& v, std::string_view k) {
  auto* p = v.as_object().if_contains(k);
  return p && p->is_string() ? std::string(p->as_string()) : std::string();
}
std::uint64_t num(const bj::value& v, std::string_view k) {
  auto* p = v.as_object().if_contains(k);
  return p ? p->to_number<std::uint64_t>() : 0;
}

struct Api {
  explicit Api(Harness& h) : h(h), http("127.0.0.1", h.port()) {}
  HttpResult get(std::string_view target) { return http.request("GET", target, {}, {{"Authorization", h.auth()}}); }
  HttpResult del(std::string_view target) { return http.request("DELETE", target, {}, {{"Authorization", h.auth()}}); }
  HttpResult post(std::string_view target, std::string body = {}) {
    return http.request("POST", target, std::move(body), {{"Authorization", h.auth()}});
  }
  std::string create(std::string id, std::string profile = "runtime_default") {
    auto r = post("/v1/workers", fmt_body(id, profile));
    EXPECT_EQ(r.status, 201) << r.body;
    return id;
  }
  static std::string fmt_body(const std::string& id, const std::string& profile) {
    return R"({"worker_id":")" + id + R"(","profile":")" + profile + R"("})";
  }
  HttpResult input(const std::string& id, const std::string& content, std::string cmid = {}) {
    bj::object o;
    o["content"] = content;
    if (!cmid.empty()) o["client_message_id"] = cmid;
    return post("/v1/workers/" + id + "/input", bj::serialize(o));
  }
  // Polls until the worker is idle (deadline 30 s).
  void wait_idle(const std::string& id) {
    auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until) {
      auto r = get("/v1/workers/" + id);
      if (r.status == 200 && str(J(r), "status") != "running") return;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "worker " << id << " still running after 30 s";
  }
  Harness& h;
  HttpClient http;
};

WsClient ws_connect(Harness& h, const std::string& target) {
  WsClient ws("127.0.0.1", h.port());
  auto hs = ws.connect(target, {{"Authorization", h.auth()}});
  EXPECT_TRUE(hs.ok) << "handshake " << target << ": " << hs.status << " " << hs.body << " " << hs.error;
  return ws;
}

// Reads frames until one of `type` arrives (or fails after 10 s).
bj::value read_until(WsClient& ws, std::string_view type, std::vector<bj::value>* seen = nullptr) {
  for (;;) {
    auto m = ws.read(10s);
    if (!m) {
      ADD_FAILURE() << "no '" << type << "' frame (closed=" << ws.closed() << ")";
      return {};
    }
    auto v = J(*m);
    if (seen) seen->push_back(v);
    if (str(v, "type") == type) return v;
  }
}

// ---- auth and plumbing ----

TEST(RuntimeApi, AuthIsRequiredEverywhereButHealthz) {
  Harness h;
  HttpClient c("127.0.0.1", h.port());
  auto hz = c.request("GET", "/healthz");
  EXPECT_EQ(hz.status, 200);
  EXPECT_EQ(str(J(hz), "status"), "ok");
  for (auto target : {"/v1/runtime", "/v1/workers", "/metrics", "/v1/workers/w1", "/nope"}) {
    auto missing = c.request("GET", target);
    EXPECT_EQ(missing.status, 401) << target;
    EXPECT_EQ(code(missing), "unauthorized");
    auto wrong = c.request("GET", target, {}, {{"Authorization", "Bearer test-tokem"}});
    EXPECT_EQ(wrong.status, 401) << target;
    auto basic = c.request("GET", target, {}, {{"Authorization", "Basic dGVzdC10b2tlbg=="}});
    EXPECT_EQ(basic.status, 401) << target;
  }
  EXPECT_EQ(c.request("GET", "/v1/runtime", {}, {{"Authorization", h.auth()}}).status, 200);
  EXPECT_EQ(c.request("GET", "/v1/runtime", {}, {{"Authorization", "bearer test-token"}}).status, 200);
  // WebSocket upgrades too.
  WsClient ws("127.0.0.1", h.port());
  auto hs = ws.connect("/v1/workers/w1/events/ws");
  EXPECT_FALSE(hs.ok);
  EXPECT_EQ(hs.status, 401);
  // The token never appears in an answer.
  EXPECT_EQ(c.request("GET", "/v1/runtime", {}, {{"Authorization", h.auth()}}).body.find("test-token"),
            std::string::npos);
}

TEST(RuntimeApi, UnknownRouteIs404WrongMethodIs405BodyOverLimitIs413) {
  HarnessOptions o;
  o.max_body_bytes = 4096;
  Harness h(o);
  Api api(h);
  auto nf = api.get("/v1/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(code(nf), "not_found");
  auto na = api.http.request("DELETE", "/v1/workers", {}, {{"Authorization", h.auth()}});
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(code(na), "method_not_allowed");
  auto big = api.post("/v1/workers", std::string(5000, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(code(big), "payload_too_large");
}

TEST(RuntimeApi, RuntimeSummaryListsCapabilities) {
  Harness h;
  Api api(h);
  auto r = api.get("/v1/runtime");
  ASSERT_EQ(r.status, 200);
  auto v = J(r);
  EXPECT_EQ(str(v, "runtime_id"), "rt-test");
  EXPECT_FALSE(str(v, "epoch").empty());
  std::vector<std::string> caps;
  for (auto& c : v.at("capabilities").as_array()) caps.emplace_back(c.as_string());
  for (auto want : {"workers.create", "workers.list", "workers.detail", "workers.input", "workers.cancel",
                    "workers.stop", "workers.transcript", "workers.events", "workers.events.ws",
                    "workers.delete", "workers.approve", "bundles"})
    EXPECT_NE(std::find(caps.begin(), caps.end(), want), caps.end()) << want;
}

// A client (the console, a model-side tool) can know how much of a tool's
// output it will see: the summary advertises the configured bound.
TEST(RuntimeApi, RuntimeSummaryAdvertisesMaxToolOutputBytes) {
  HarnessOptions o;
  o.limits.max_tool_output_bytes = 4096;
  Harness h(o);
  Api api(h);
  auto r = api.get("/v1/runtime");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(J(r).at("limits").at("max_tool_output_bytes"), 4096);
}

TEST(RuntimeApi, MetricsInPrometheusFormat) {
  Harness h;
  Api api(h);
  api.create("m1");
  ASSERT_EQ(api.input("m1", "hi").status, 202);
  api.wait_idle("m1");
  auto r = api.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.header("Content-Type").value_or("").find("text/plain"), std::string::npos);
  EXPECT_NE(r.body.find("yoi_runtime_http_requests_total{route=\"/v1/workers\",method=\"POST\",status=\"201\"} 1"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("yoi_runtime_http_request_duration_seconds_bucket{route=\"/v1/workers/{id}\""),
            std::string::npos);
  EXPECT_NE(r.body.find("yoi_runtime_runs_finished_total{result=\"completed\"} 1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("yoi_runtime_runs_active 0"), std::string::npos);
  EXPECT_NE(r.body.find("yoi_runtime_streams_open 0"), std::string::npos);
  EXPECT_NE(r.body.find("yoi_runtime_events_appended_total "), std::string::npos);
  EXPECT_EQ(r.body.find("yoi_runtime_events_appended_total 0\n"), std::string::npos);
}

// Issue 21: the approval route over a real socket — a parked write, the
// typed answers (400 body, 404, 200, 200 again, 409), the worker_busy
// refusal of input, the counters in /metrics.
TEST(RuntimeApi, ApprovalRouteAnswersTypedAndCountsInMetrics) {
  Harness h;
  Api api(h);
  api.create("a1");
  ASSERT_EQ(api.input("a1", R"(/write {"path": "x.txt", "content": "x"})").status, 202);
  api.wait_idle("a1");
  auto d = api.get("/v1/workers/a1");
  ASSERT_EQ(str(J(d), "status"), "awaiting_approval") << d.body;
  EXPECT_EQ(str(J(d).at("pending_approvals").at(0).as_object(), "call_id"), "call_1");
  EXPECT_EQ(api.input("a1", "yes").status, 409);
  for (const char* bad : {R"({"decision":"maybe"})", R"({"decision":"approve","x":1})", "[]", "not json"}) {
    auto r = api.post("/v1/workers/a1/approvals/call_1", bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(str(J(r).at("error").as_object(), "code"), "invalid_request") << r.body;
  }
  auto big = api.post("/v1/workers/a1/approvals/call_1",
                      R"({"decision":"deny","reason":")" + std::string(2u << 20, 'x') + R"("})");
  EXPECT_EQ(big.status, 413) << "the body limit holds";
  EXPECT_EQ(str(J(api.get("/v1/workers/a1")), "status"), "awaiting_approval") << "bad answers change nothing";
  auto missing = api.post("/v1/workers/a1/approvals/call_9", R"({"decision":"approve"})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(str(J(missing).at("error").as_object(), "code"), "approval_not_found");
  EXPECT_EQ(api.post("/v1/workers/nobody/approvals/call_1", R"({"decision":"approve"})").status, 404);
  auto ok = api.post("/v1/workers/a1/approvals/call_1", R"({"decision":"approve"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(str(J(ok), "decision"), "approved");
  EXPECT_EQ(api.post("/v1/workers/a1/approvals/call_1", R"({"decision":"approve"})").body, ok.body);
  auto other = api.post("/v1/workers/a1/approvals/call_1", R"({"decision":"deny"})");
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(str(J(other).at("error").as_object(), "code"), "approval_resolved");
  api.wait_idle("a1");
  auto m = api.get("/metrics");
  EXPECT_NE(m.body.find("yoi_runtime_approvals_total{event=\"requested\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("yoi_runtime_approvals_total{event=\"approved\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("yoi_runtime_approvals_total{event=\"denied\"} 0"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("yoi_runtime_approval_wait_seconds_total "), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("yoi_runtime_workers{status=\"awaiting_approval\"} 0"), std::string::npos) << m.body;
}

// ---- workers ----

TEST(RuntimeApi, CreateDetailListAndTheirErrors) {
  Harness h;
  Api api(h);
  auto c = api.post("/v1/workers", R"({"worker_id":"w1","display_name":"First","intent":{"kind":"task","objective":"x"}})");
  ASSERT_EQ(c.status, 201) << c.body;
  auto w = J(c);
  EXPECT_EQ(str(w, "worker_id"), "w1");
  EXPECT_EQ(str(w, "runtime_id"), "rt-test");
  EXPECT_EQ(str(w, "display_name"), "First");
  EXPECT_EQ(str(w, "status"), "idle");
  // Generated id, empty body.
  auto g = api.post("/v1/workers", "");
  ASSERT_EQ(g.status, 201) << g.body;
  EXPECT_FALSE(str(J(g), "worker_id").empty());

  auto dup = api.post("/v1/workers", R"({"worker_id":"w1"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(code(dup), "worker_exists");
  auto badid = api.post("/v1/workers", R"({"worker_id":"bad/id"})");
  EXPECT_EQ(badid.status, 400);
  EXPECT_EQ(code(badid), "invalid_id");
  auto badjson = api.post("/v1/workers", "{not json");
  EXPECT_EQ(badjson.status, 400);
  EXPECT_EQ(code(badjson), "invalid_request");
  auto badprofile = api.post("/v1/workers", R"({"profile":"nope"})");
  EXPECT_EQ(badprofile.status, 400);
  EXPECT_EQ(code(badprofile), "invalid_request");
  auto notobj = api.post("/v1/workers", "[1]");
  EXPECT_EQ(notobj.status, 400);

  auto d = api.get("/v1/workers/w1");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(str(J(d), "display_name"), "First");
  auto nf = api.get("/v1/workers/w404");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(code(nf), "worker_not_found");
  auto bad = api.get("/v1/workers/-bad");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(code(bad), "invalid_id");

  api.create("w2");
  api.create("w3");
  auto p1 = api.get("/v1/workers?limit=2");
  ASSERT_EQ(p1.status, 200);
  auto v1 = J(p1);
  EXPECT_EQ(v1.at("workers").as_array().size(), 2u);
  ASSERT_TRUE(v1.as_object().contains("next"));
  auto p2 = api.get("/v1/workers?limit=2&after=" + str(v1, "next"));
  ASSERT_EQ(p2.status, 200);
  EXPECT_EQ(J(p2).at("workers").as_array().size(), 2u);  // 4 workers in all
  EXPECT_EQ(api.get("/v1/workers?limit=abc").status, 400);
  EXPECT_EQ(code(api.get("/v1/workers?status=weird")), "invalid_request");
  EXPECT_EQ(J(api.get("/v1/workers?status=stopped")).at("workers").as_array().size(), 0u);
}

TEST(RuntimeApi, InputCancelStopAndStateConflicts) {
  Harness h;
  Api api(h);
  api.create("w1", "slow");
  auto in = api.input("w1", "hello there", "m-1");
  ASSERT_EQ(in.status, 202) << in.body;
  auto a = J(in);
  EXPECT_FALSE(str(a, "run_id").empty());
  EXPECT_EQ(str(a, "client_message_id"), "m-1");
  // A re-send of the same client_message_id answers the first acceptance.
  auto again = api.input("w1", "hello there", "m-1");
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(str(J(again), "run_id"), str(a, "run_id"));
  EXPECT_TRUE(J(again).at("duplicate").as_bool());

  auto busy = api.input("w1", "second");
  EXPECT_EQ(busy.status, 409);
  EXPECT_EQ(code(busy), "worker_busy");
  EXPECT_EQ(str(J(api.get("/v1/workers/w1")), "status"), "running");

  auto cancel = api.post("/v1/workers/w1/cancel", R"({"reason":"enough"})");
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_TRUE(J(cancel).at("cancelled").as_bool());
  auto cancel2 = api.post("/v1/workers/w1/cancel");
  ASSERT_EQ(cancel2.status, 200);
  EXPECT_FALSE(J(cancel2).at("cancelled").as_bool());

  auto empty = api.post("/v1/workers/w1/input", R"({"content":""})");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(code(empty), "invalid_request");
  auto nobody = api.post("/v1/workers/w1/input", "");
  EXPECT_EQ(nobody.status, 400);
  auto extra = api.post("/v1/workers/w1/cancel", R"({"reason":5})");
  EXPECT_EQ(extra.status, 400);

  auto stop = api.post("/v1/workers/w1/stop", "{}");
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(str(J(stop), "status"), "stopped");
  EXPECT_EQ(api.post("/v1/workers/w1/stop").status, 200);  // idempotent
  auto stopped = api.input("w1", "more");
  EXPECT_EQ(stopped.status, 409);
  EXPECT_EQ(code(stopped), "worker_stopped");

  for (auto op : {"input", "cancel", "stop"}) {
    std::string body = std::string(op) == "input" ? R"({"content":"x"})" : "{}";
    auto r = api.post(std::string("/v1/workers/ghost/") + op, body);
    EXPECT_EQ(r.status, 404) << op;
    EXPECT_EQ(code(r), "worker_not_found");
    auto b = api.post(std::string("/v1/workers/b@d/") + op, body);
    EXPECT_EQ(b.status, 400) << op;
    EXPECT_EQ(code(b), "invalid_id");
  }
}

TEST(RuntimeApi, CapacityAndContentLimitsAreTyped) {
  HarnessOptions o;
  o.limits.max_workers = 1;
  o.limits.max_content_bytes = 100;
  Harness h(o);
  Api api(h);
  api.create("w1");
  auto full = api.post("/v1/workers", R"({"worker_id":"w2"})");
  EXPECT_EQ(full.status, 429);
  EXPECT_EQ(code(full), "limit_exceeded");
  auto big = api.input("w1", std::string(101, 'c'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(code(big), "payload_too_large");
  EXPECT_EQ(api.input("w1", std::string(100, 'c')).status, 202);
}

TEST(RuntimeApi, TranscriptPagesAreBounded) {
  Harness h;
  Api api(h);
  api.create("w1");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(api.input("w1", "msg " + std::to_string(i)).status, 202);
    api.wait_idle("w1");
  }
  auto all = api.get("/v1/workers/w1/transcript");
  ASSERT_EQ(all.status, 200);
  auto v = J(all);
  EXPECT_EQ(num(v, "total"), 6u);
  ASSERT_EQ(v.at("items").as_array().size(), 6u);
  EXPECT_EQ(str(v.at("items").at(0), "role"), "user");
  EXPECT_EQ(str(v.at("items").at(0), "content"), "msg 0");
  EXPECT_EQ(str(v.at("items").at(1), "role"), "assistant");
  EXPECT_EQ(str(v.at("items").at(1), "content"), "echo: msg 0");
  auto page = J(api.get("/v1/workers/w1/transcript?start=2&limit=2"));
  ASSERT_EQ(page.at("items").as_array().size(), 2u);
  EXPECT_EQ(str(page.at("items").at(0), "content"), "msg 1");
  EXPECT_EQ(num(page, "next"), 4u);
  EXPECT_EQ(code(api.get("/v1/workers/w1/transcript?start=-1")), "invalid_request");
  EXPECT_EQ(code(api.get("/v1/workers/nobody/transcript")), "worker_not_found");
  // A limit above the maximum is clamped, not an error.
  EXPECT_EQ(api.get("/v1/workers/w1/transcript?limit=999999").status, 200);
}

// ---- polling ----

TEST(RuntimeApi, PollingEventsResumesStrictlyAfterACursor) {
  Harness h;
  Api api(h);
  api.create("w1");
  ASSERT_EQ(api.input("w1", "abcdefghijklmnopqrstuvwxyz").status, 202);
  api.wait_idle("w1");
  auto all = J(api.get("/v1/workers/w1/events"));
  auto& evs = all.at("events").as_array();
  ASSERT_GE(evs.size(), 6u);
  EXPECT_EQ(num(evs.at(0), "seq"), 1u);
  EXPECT_EQ(str(evs.at(0).at("event"), "type"), "worker_created");
  for (std::size_t i = 1; i < evs.size(); ++i) EXPECT_EQ(num(evs.at(i), "seq"), num(evs.at(i - 1), "seq") + 1);
  std::vector<std::string> types;
  for (auto& e : evs) types.emplace_back(str(e.at("event"), "type"));
  for (auto want : {"input_accepted", "run_started", "text_delta", "text_done", "run_finished"})
    EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want;

  // Strictly after the third event's cursor.
  auto c3 = str(evs.at(2), "cursor");
  auto after = J(api.get("/v1/workers/w1/events?after=" + c3 + "&limit=2"));
  ASSERT_EQ(after.at("events").as_array().size(), 2u);
  EXPECT_EQ(num(after.at("events").at(0), "seq"), 4u);
  // The page cursor resumes after the last event returned.
  auto next = J(api.get("/v1/workers/w1/events?after=" + str(after, "cursor") + "&limit=1"));
  EXPECT_EQ(num(next.at("events").at(0), "seq"), 6u);
  // At the end: empty page, cursor unchanged.
  auto end = J(api.get("/v1/workers/w1/events?after=" + str(all, "cursor")));
  EXPECT_EQ(end.at("events").as_array().size(), 0u);
  EXPECT_EQ(str(end, "cursor"), str(all, "cursor"));
  // A huge limit is clamped.
  EXPECT_EQ(api.get("/v1/workers/w1/events?limit=100000000").status, 200);
}

TEST(RuntimeApi, PollingCursorErrorsAreTyped) {
  Harness h;
  Api api(h);
  api.create("w1");
  api.create("w2");
  auto w1 = J(api.get("/v1/workers/w1/events"));
  auto c = str(w1, "cursor");
  auto bad = api.get("/v1/workers/w1/events?after=garbage");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(code(bad), "cursor_invalid");
  auto other = api.get("/v1/workers/w2/events?after=" + c);  // w1's cursor on w2
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(code(other), "cursor_invalid");
  // Another epoch: same shape, different epoch.
  auto dot = c.find('.', 3);
  std::string foreign = "r1." + std::string(dot - 3, 'a') + c.substr(dot);
  auto unk = api.get("/v1/workers/w1/events?after=" + foreign);
  EXPECT_EQ(unk.status, 410);
  EXPECT_EQ(code(unk), "cursor_unknown");
  // From the future.
  auto future = c.substr(0, c.rfind('.') + 1) + "999";
  auto fut = api.get("/v1/workers/w1/events?after=" + future);
  EXPECT_EQ(fut.status, 410);
  EXPECT_EQ(code(fut), "cursor_unknown");
  EXPECT_EQ(code(api.get("/v1/workers/w9/events")), "worker_not_found");
  EXPECT_EQ(code(api.get("/v1/workers/w1/events?limit=x")), "invalid_request");
}

TEST(RuntimeApi, PollingExpiredCursor) {
  HarnessOptions o;
  o.limits.retention_events = 10;
  o.echo_chunk_bytes = 1;
  Harness h(o);
  Api api(h);
  api.create("w1");
  auto first = J(api.get("/v1/workers/w1/events"));
  auto c1 = str(first.at("events").at(0), "cursor");
  ASSERT_EQ(api.input("w1", "a long enough message to roll the log").status, 202);
  api.wait_idle("w1");
  auto r = api.get("/v1/workers/w1/events?after=" + c1);
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(code(r), "cursor_expired");
  // Without `after`: the oldest retained event.
  auto oldest = J(api.get("/v1/workers/w1/events"));
  EXPECT_GT(num(oldest.at("events").at(0), "seq"), 2u);
}

// ---- WebSocket observation ----

TEST(RuntimeWs, SnapshotFirstThenLiveEventsInOrder) {
  Harness h;
  Api api(h);
  api.create("w1");
  auto ws = ws_connect(h, "/v1/workers/w1/events/ws");
  auto snap = J(*ws.read(10s));
  EXPECT_EQ(str(snap, "type"), "snapshot");
  EXPECT_EQ(str(snap, "worker_id"), "w1");
  EXPECT_EQ(str(snap, "runtime_id"), "rt-test");
  EXPECT_EQ(num(snap, "seq"), 1u);
  EXPECT_FALSE(str(snap, "cursor").empty());
  EXPECT_EQ(str(snap.at("worker"), "status"), "idle");
  ASSERT_EQ(api.input("w1", "hello world").status, 202);
  std::vector<bj::value> seen;
  read_until(ws, "event", &seen);
  std::uint64_t last = 1;
  std::string text;
  for (;;) {
    auto& f = seen.back();
    ASSERT_EQ(str(f, "type"), "event");
    EXPECT_EQ(num(f, "seq"), last + 1);
    EXPECT_EQ(num(f.at("event"), "seq"), last + 1);
    last = num(f, "seq");
    if (str(f.at("event"), "type") == "text_delta") text += str(f.at("event"), "delta");
    if (str(f.at("event"), "type") == "run_finished") {
      EXPECT_EQ(str(f.at("event"), "result"), "completed");
      break;
    }
    auto m = ws.read(10s);
    ASSERT_TRUE(m);
    seen.push_back(J(*m));
  }
  EXPECT_EQ(text, "echo: hello world");
}

TEST(RuntimeWs, ResumeIsStrictlyAfterTheCursorWithNoSnapshot) {
  Harness h;
  Api api(h);
  api.create("w1");
  ASSERT_EQ(api.input("w1", "one two three").status, 202);
  api.wait_idle("w1");
  auto evs = J(api.get("/v1/workers/w1/events")).at("events").as_array();
  auto c = str(evs.at(3), "cursor");
  auto ws = ws_connect(h, "/v1/workers/w1/events/ws?cursor=" + c);
  for (std::size_t i = 4; i < evs.size(); ++i) {
    auto f = J(*ws.read(10s));
    ASSERT_EQ(str(f, "type"), "event") << boost::json::serialize(f);
    EXPECT_EQ(num(f, "seq"), i + 1);
    EXPECT_EQ(str(f, "cursor"), str(evs.at(i), "cursor"));
  }
  // Then live.
  ASSERT_EQ(api.input("w1", "again").status, 202);
  auto f = J(*ws.read(10s));
  EXPECT_EQ(num(f, "seq"), evs.size() + 1);
  EXPECT_EQ(str(f.at("event"), "type"), "input_accepted");
}

TEST(RuntimeWs, BadCursorsGetTypedDiagnosticThenSnapshot) {
  HarnessOptions o;
  o.limits.retention_events = 10;
  o.echo_chunk_bytes = 1;
  Harness h(o);
  Api api(h);
  api.create("w1");
  api.create("w2");
  auto c1 = str(J(api.get("/v1/workers/w1/events")).at("events").at(0), "cursor");
  auto w2c = str(J(api.get("/v1/workers/w2/events")), "cursor");
  ASSERT_EQ(api.input("w1", "roll the retention window over please").status, 202);
  api.wait_idle("w1");
  auto dot = c1.find('.', 3);
  std::string foreign = "r1." + std::string(dot - 3, 'b') + c1.substr(dot);
  struct Case {
    std::string cursor, code;
  } cases[] = {{"junk", "cursor_invalid"}, {w2c, "cursor_invalid"}, {c1, "cursor_expired"}, {foreign, "cursor_unknown"},
               {c1.substr(0, c1.rfind('.') + 1) + "100000", "cursor_unknown"}};
  for (auto& k : cases) {
    auto ws = ws_connect(h, "/v1/workers/w1/events/ws?cursor=" + k.cursor);
    auto d = J(*ws.read(10s));
    EXPECT_EQ(str(d, "type"), "diagnostic") << k.code;
    EXPECT_EQ(str(d, "code"), k.code);
    EXPECT_EQ(str(d, "action"), "resync");
    auto s = J(*ws.read(10s));
    EXPECT_EQ(str(s, "type"), "snapshot") << k.code;
    // The stream continues from the snapshot.
    ASSERT_EQ(api.input("w1", "x").status, 202);
    auto e = J(*ws.read(10s));
    EXPECT_EQ(str(e, "type"), "event");
    EXPECT_EQ(num(e, "seq"), num(s, "seq") + 1);
    api.wait_idle("w1");
  }
}

TEST(RuntimeWs, UnknownWorkerAndInvalidId) {
  Harness h;
  auto ws = ws_connect(h, "/v1/workers/ghost/events/ws");
  auto d = J(*ws.read(10s));
  EXPECT_EQ(str(d, "type"), "diagnostic");
  EXPECT_EQ(str(d, "code"), "worker_not_found");
  EXPECT_EQ(str(d, "action"), "fatal");
  EXPECT_FALSE(ws.read(10s));
  EXPECT_TRUE(ws.closed());
  WsClient bad("127.0.0.1", h.port());
  auto hs = bad.connect("/v1/workers/b@d/events/ws", {{"Authorization", h.auth()}});
  EXPECT_FALSE(hs.ok);
  EXPECT_EQ(hs.status, 400);
}

TEST(RuntimeWs, HeartbeatsOnIdleStreamsCarryTheCurrentCursor) {
  HarnessOptions o;
  o.heartbeat = 150ms;
  Harness h(o);
  Api api(h);
  api.create("w1");
  auto ws = ws_connect(h, "/v1/workers/w1/events/ws");
  auto snap = J(*ws.read(10s));
  auto hb = J(*ws.read(10s));
  EXPECT_EQ(str(hb, "type"), "heartbeat");
  EXPECT_EQ(str(hb, "cursor"), str(snap, "cursor"));
  EXPECT_EQ(num(hb, "seq"), 1u);
  ASSERT_EQ(api.input("w1", "hi").status, 202);
  api.wait_idle("w1");
  std::vector<bj::value> seen;
  auto hb2 = read_until(ws, "heartbeat", &seen);
  ASSERT_GE(seen.size(), 2u);
  auto& last_event = seen[seen.size() - 2];
  EXPECT_EQ(str(hb2, "cursor"), str(last_event, "cursor"));
  EXPECT_EQ(num(hb2, "seq"), num(last_event, "seq"));
}

TEST(RuntimeWs, ClientDataGetsObservationOnlyThenClose) {
  Harness h;
  Api api(h);
  api.create("w1");
  auto ws = ws_connect(h, "/v1/workers/w1/events/ws");
  ASSERT_TRUE(ws.read(10s));
  ASSERT_TRUE(ws.send(R"({"type":"input","content":"sneaky"})"));
  auto d = read_until(ws, "diagnostic");
  EXPECT_EQ(str(d, "code"), "observation_only");
  EXPECT_EQ(str(d, "action"), "fatal");
  EXPECT_FALSE(ws.read(10s));
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1008);
  // Nothing changed.
  EXPECT_EQ(num(J(api.get("/v1/workers/w1")), "last_seq"), 1u);
}

TEST(RuntimeWs, WorkerStoppedSendsFinalEventsThenDiagnosticAndCloses) {
  Harness h;
  Api api(h);
  api.create("w1", "slow");
  auto ws = ws_connect(h, "/v1/workers/w1/events/ws");
  ASSERT_TRUE(ws.read(10s));
  ASSERT_EQ(api.input("w1", "a slow reply").status, 202);
  ASSERT_EQ(api.post("/v1/workers/w1/stop", R"({"reason":"done"})").status, 200);
  std::vector<bj::value> seen;
  auto d = read_until(ws, "diagnostic", &seen);
  EXPECT_EQ(str(d, "code"), "worker_stopped");
  std::vector<std::string> types;
  for (auto& f : seen)
    if (str(f, "type") == "event") types.push_back(str(f.at("event"), "type"));
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "worker_stopped");
  EXPECT_NE(std::find(types.begin(), types.end(), "run_finished"), types.end());
  EXPECT_FALSE(ws.read(10s));
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1000);
  // Connecting to a stopped worker: snapshot, then the diagnostic, then close.
  auto ws2 = ws_connect(h, "/v1/workers/w1/events/ws");
  EXPECT_EQ(str(J(*ws2.read(10s)), "type"), "snapshot");
  auto d2 = J(*ws2.read(10s));
  EXPECT_EQ(str(d2, "code"), "worker_stopped");
  EXPECT_FALSE(ws2.read(10s));
}

TEST(RuntimeWs, HundredSubscribersAllReceiveEveryEventInOrder) {
  HarnessOptions o;
  o.echo_chunk_bytes = 1;
  Harness h(o);
  Api api(h);
  api.create("w1");
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_unique<WsClient>("127.0.0.1", h.port()));
    ASSERT_TRUE(clients.back()->connect("/v1/workers/w1/events/ws", {{"Authorization", h.auth()}}).ok);
    ASSERT_EQ(str(J(*clients.back()->read(10s)), "type"), "snapshot");
  }
  EXPECT_EQ(h.open_streams(), 100u);
  ASSERT_EQ(api.input("w1", std::string(300, 'z')).status, 202);
  api.wait_idle("w1");
  auto last = num(J(api.get("/v1/workers/w1")), "last_seq");
  ASSERT_GT(last, 300u);
  for (auto& c : clients) {
    for (std::uint64_t seq = 2; seq <= last; ++seq) {
      auto m = c->read(10s);
      ASSERT_TRUE(m) << "seq " << seq;
      auto f = J(*m);
      ASSERT_EQ(num(f, "seq"), seq);
    }
  }
}


// ---- deleting workers (ARCHITECTURE §17) ----

TEST(DeleteWorker, RefusesRunningWorkerWith409) {
  Harness h;
  Api api(h);
  api.create("busy", "slow");
  auto idle = api.del("/v1/workers/busy");
  EXPECT_EQ(idle.status, 409);
  EXPECT_EQ(code(idle), "worker_not_stopped");
  ASSERT_EQ(api.input("busy", "a reply that takes a while").status, 202);
  auto running = api.del("/v1/workers/busy");
  EXPECT_EQ(running.status, 409);
  EXPECT_EQ(code(running), "worker_not_stopped");
  EXPECT_NE(J(running).at("error").at("message").as_string().find("stop it"), bj::string::npos);
  api.wait_idle("busy");
  EXPECT_EQ(api.get("/v1/workers/busy").status, 200) << "a refused delete changes nothing";
  EXPECT_EQ(api.del("/v1/workers/ghost").status, 404);
  EXPECT_EQ(code(api.del("/v1/workers/ghost")), "worker_not_found");
  EXPECT_EQ(api.del("/v1/workers/b@d").status, 400);
}

TEST(DeleteWorker, RuntimeApiAnswers204AndTheIdIsFreeAgain) {
  Harness h;
  Api api(h);
  api.create("w");
  ASSERT_EQ(api.input("w", "hello").status, 202);
  api.wait_idle("w");
  ASSERT_EQ(api.post("/v1/workers/w/stop").status, 200);
  auto r = api.del("/v1/workers/w");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(code(api.get("/v1/workers/w")), "worker_not_found");
  EXPECT_EQ(code(api.get("/v1/workers/w/transcript")), "worker_not_found");
  EXPECT_EQ(num(J(api.get("/v1/runtime")).at("workers"), "total"), 0u);
  api.create("w");
  EXPECT_EQ(num(J(api.get("/v1/workers/w/transcript")), "total"), 0u);
}

TEST(DeleteWorker, OldCursorNeverYieldsNewWorkersEvents) {
  Harness h;
  Api api(h);
  api.create("w");
  ASSERT_EQ(api.post("/v1/workers/w/stop").status, 200);
  auto old_page = J(api.get("/v1/workers/w/events"));
  std::string old_cursor = str(old_page, "cursor");
  std::string old_first = str(old_page.at("events").at(0), "cursor");
  ASSERT_EQ(api.del("/v1/workers/w").status, 204);

  api.create("w");
  ASSERT_EQ(api.input("w", "the new worker's own words").status, 202);
  api.wait_idle("w");
  ASSERT_GT(num(J(api.get("/v1/workers/w")), "last_seq"), num(old_page, "last_seq"));
  for (const auto& c : {old_cursor, old_first}) {
    auto r = api.get("/v1/workers/w/events?after=" + c);
    EXPECT_EQ(r.status, 410) << r.body;
    EXPECT_EQ(code(r), "cursor_unknown") << "an old cursor must never read the new worker's log";

    auto ws = ws_connect(h, "/v1/workers/w/events/ws?cursor=" + c);
    auto d = J(*ws.read(10s));
    EXPECT_EQ(str(d, "type"), "diagnostic");
    EXPECT_EQ(str(d, "code"), "cursor_unknown");
    EXPECT_EQ(str(d, "action"), "resync");
    auto snap = J(*ws.read(10s));
    ASSERT_EQ(str(snap, "type"), "snapshot");
    EXPECT_EQ(str(snap.at("worker"), "status"), "idle") << "the snapshot is the new worker's";
  }
}

}  // namespace
}  // namespace yoi::runtime_server::test
