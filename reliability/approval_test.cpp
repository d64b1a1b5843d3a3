// A parked run survives the processes around it (ARCHITECTURE §15): a real
// yoi-runtime (fs store) killed with SIGKILL while a write awaits approval,
// restarted on the same data, and a yoi-server killed and restarted too; the
// worker is still awaiting_approval with the same call, and an approval
// through yoi-server then completes the run.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "stack.hpp"

namespace yoi::reliability {
namespace {

namespace bj = boost::json;
using net::test::HttpClient;

constexpr auto kDeadline = 20s;
const std::string kWorker = "/api/runtimes/edge/workers/w1";

// GETs `target` until `ok(body)` holds (answers other than 200 — the
// runtime coming back — are retried) or the deadline passes.
bj::value poll(HttpClient& http, const net::test::Fields& auth, const std::string& target,
               const std::function<bool(const bj::value&)>& ok) {
  auto end = std::chrono::steady_clock::now() + kDeadline;
  bj::value last;
  while (std::chrono::steady_clock::now() < end) {
    auto r = http.request("GET", target, {}, auth, 5s);
    if (r.status == 200) {
      boost::system::error_code ec;
      last = bj::parse(r.body, ec);
      if (!ec && ok(last)) return last;
    }
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "GET " << target << " never satisfied the condition; last: " << bj::serialize(last);
  return last;
}

bool status_is(const bj::value& v, std::string_view s) {
  return v.is_object() && v.as_object().contains("status") && v.at("status").is_string() &&
         v.at("status").as_string() == s;
}

TEST(ApprovalDurability, KillNineTheRuntimeWhileAwaitingThenApproveThroughYoiServerCompletesTheRun) {
  Stack s;
  ASSERT_TRUE(s.start_runtime());
  ASSERT_TRUE(s.start_server());
  auto auth = s.auth();
  auth.emplace_back("Content-Type", "application/json");
  {
    HttpClient http("127.0.0.1", s.server_port());
    ASSERT_EQ(http.request("POST", "/api/runtimes/edge/workers", R"({"worker_id":"w1"})", auth).status, 201);
    ASSERT_EQ(http.request("POST", kWorker + "/input",
                           R"({"content":"/write {\"path\": \"kept.txt\", \"content\": \"survived\"}"})", auth)
                  .status,
              202);
    auto d = poll(http, auth, kWorker, [](const bj::value& v) { return status_is(v, "awaiting_approval"); });
    ASSERT_EQ(d.at("pending_approvals").as_array().size(), 1u) << d;
    EXPECT_EQ(d.at("pending_approvals").at(0).at("call_id"), "call_1");
    // The kill comes once the park is durable: its events are readable
    // (only durable events are). The detail's status alone may run ahead.
    poll(http, auth, kWorker + "/events?limit=1000", [](const bj::value& v) {
      if (!v.is_object() || !v.as_object().contains("events")) return false;
      for (const auto& e : v.at("events").as_array())
        if (status_is(e.at("event"), "awaiting_approval")) return true;
      return false;
    });
  }

  s.kill_runtime();
  ASSERT_TRUE(s.start_runtime());
  s.kill_server();
  ASSERT_TRUE(s.start_server());

  HttpClient http("127.0.0.1", s.server_port());
  auto d = poll(http, auth, kWorker, [](const bj::value& v) { return status_is(v, "awaiting_approval"); });
  ASSERT_EQ(d.at("pending_approvals").as_array().size(), 1u) << d << "\n" << s.logs();
  EXPECT_EQ(d.at("pending_approvals").at(0).at("call_id"), "call_1") << "the same pending call";
  EXPECT_EQ(http.request("POST", kWorker + "/input", R"({"content":"go on"})", auth).status, 409)
      << "new input is not consent, after a restart either";

  int status = 0;
  auto end = std::chrono::steady_clock::now() + kDeadline;
  std::string body;
  while (std::chrono::steady_clock::now() < end) {
    auto r = http.request("POST", kWorker + "/approvals/call_1", R"({"decision":"approve"})", auth, 5s);
    status = r.status;
    body = r.body;
    if (status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(bj::parse(body).at("decision"), "approved");

  poll(http, auth, kWorker, [](const bj::value& v) { return status_is(v, "idle"); });
  auto t = http.request("GET", kWorker + "/transcript", {}, auth);
  ASSERT_EQ(t.status, 200) << t.body;
  auto items = bj::parse(t.body).at("items").as_array();
  ASSERT_EQ(items.size(), 4u) << t.body;
  EXPECT_EQ(items[2].at("role"), "tool");
  EXPECT_EQ(items[2].at("ok"), true) << t.body;
  EXPECT_EQ(items[3].at("result"), "completed") << t.body;
  // And the file is there: read it back through the worker's own tool.
  ASSERT_EQ(http.request("POST", kWorker + "/input", R"({"content":"/read {\"path\": \"kept.txt\"}"})", auth).status,
            202);
  poll(http, auth, kWorker, [](const bj::value& v) { return status_is(v, "idle") && v.at("transcript_total") == 8; });
  auto t2 = http.request("GET", kWorker + "/transcript?start=6&limit=1", {}, auth);
  EXPECT_NE(t2.body.find("survived"), std::string::npos) << t2.body;
}

}  // namespace
}  // namespace yoi::reliability
