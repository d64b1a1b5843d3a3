// The openai engine end to end (issue 7): a fake OpenAI-compatible provider
// speaking real HTTP and SSE on loopback, the real yoi-server binary whose
// embedded runtime has an openai profile, driven through the browser API.

#include <csignal>
#include <thread>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "fake_provider.hpp"
#include "support.hpp"
#include "test_client.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;
using engines::test::FakeProvider;
using engines::test::FakeResponse;

constexpr const char* kKey = "sk-CANARY-e2e-5f1d";

TEST(OpenAiEndToEnd, AReplyStreamsFromTheProviderThroughYoiServer) {
  FakeProvider fake;
  fake.enqueue(FakeResponse::stream({"Hel", "lo ", "there"}, 11, 7));
  TmpDir dir;
  dir.file("rt.toml", "[profiles.gpt]\nengine = \"openai\"\nbase_url = \"" + fake.base_url() +
                          "\"\nmodel = \"m\"\napi_key_env = \"YOI_E2E_KEY\"\nsystem_prompt = \"Be kind.\"\n");
  auto cfg = dir.file("s.toml", "[embedded]\nstore = \"memory\"\nruntime_config = \"rt.toml\"\n");
  Proc server({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
               (dir.path / "d").string()},
              {{"YOI_E2E_KEY", kKey}});
  auto port = server.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << server.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  std::string seen;  // every body the browser API sent
  auto call = [&](std::string_view method, std::string_view target, std::string body = {}) {
    auto r = c.request(method, target, std::move(body));
    seen += r.body;
    return r;
  };

  ASSERT_EQ(call("POST", "/api/runtimes/local/workers", R"({"worker_id":"g","profile":"gpt"})").status, 201);
  ASSERT_EQ(call("POST", "/api/runtimes/local/workers/g/input", R"({"content":"hi"})").status, 202);

  std::vector<std::string> types;
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::find(types.begin(), types.end(), "run_finished") == types.end()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the run did not finish; events: " << types.size();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto r = call("GET", "/api/runtimes/local/workers/g/events?limit=1000");
    ASSERT_EQ(r.status, 200) << r.body;
    types.clear();
    reply.clear();
    auto page = bj::parse(r.body);  // named: a temporary would die before the loop
    for (const auto& e : page.at("events").as_array()) {
      const auto& ev = e.at("event").as_object();
      types.emplace_back(ev.at("type").as_string());
      if (types.back() == "text_delta") reply += ev.at("delta").as_string();
      if (types.back() == "run_finished") {
        EXPECT_EQ(ev.at("result"), "completed") << r.body;
      }
      if (types.back() == "usage") {
        EXPECT_EQ(ev.at("input_tokens").to_number<int>(), 11);
      }
    }
  }
  EXPECT_EQ(reply, "Hello there");
  std::vector<std::string> expected{"worker_created", "input_accepted", "status",    "run_started",
                                    "text_delta",     "text_delta",     "text_delta", "usage",
                                    "text_done",      "run_finished",   "status"};
  EXPECT_EQ(types, expected);

  auto t = call("GET", "/api/runtimes/local/workers/g/transcript");
  ASSERT_EQ(t.status, 200);
  auto items = bj::parse(t.body).at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].at("content"), "Hello there");
  EXPECT_EQ(items[1].at("result"), "completed");

  // The provider saw the key, the system prompt and the message.
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["authorization"], std::string("Bearer ") + kKey);
  EXPECT_NE(reqs[0].body.find("Be kind."), std::string::npos);
  EXPECT_NE(reqs[0].body.find("\"hi\""), std::string::npos);

  // The key reaches nothing a browser or an operator reads.
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_EQ(seen.find(kKey), std::string::npos);
  EXPECT_EQ(server.stderr_text().find(kKey), std::string::npos);
  EXPECT_EQ(server.stdout_text().find(kKey), std::string::npos);
}

}  // namespace
}  // namespace yoi::backend::test
