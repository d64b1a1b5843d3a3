// The openai engine end to end (issues 7 and 20): a fake OpenAI-compatible
// provider speaking real HTTP and SSE on loopback, the real yoi-server binary
// whose embedded runtime has an openai profile, driven through the browser
// API — a plain reply, and an agent run of two steps whose first turn ends
// with two tool calls streamed in fragments.

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/value_to.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "fake_provider.hpp"
#include "support.hpp"
#include "test_client.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;
using engines::test::FakeProvider;
using engines::test::FakeResponse;
using engines::test::FakeStep;

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


// Polls the worker's events until its run finishes (20 s deadline); every
// body read is added to `seen`.
bj::array events_of_finished_run(net::test::HttpClient& c, const std::string& wid, std::string& seen) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = c.request("GET", "/api/runtimes/local/workers/" + wid + "/events?limit=1000", {});
    seen += r.body;
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    bj::array out;
    auto page = bj::parse(r.body);  // named: a temporary would die before the loop
    for (const auto& e : page.at("events").as_array()) out.push_back(e.at("event"));
    for (const auto& e : out)
      if (e.at("type") == "run_finished") return out;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the run did not finish; last page: " << r.body;
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// One agent run through every real part: the provider streams a turn whose
// two tool calls arrive interleaved by index, their arguments cut mid-UTF-8
// and mid-escape; the runtime executes both in order against a writable
// workspace it lends, sends the results back as tool messages next to the
// assistant's calls; the next steps edit the file and read it back, and the
// fourth turn's reply completes the run.
TEST(OpenAiEndToEnd, AToolRunThatEditsAFileAndReadsItBackCompletesThroughYoiServer) {
  using engines::test::finish_chunk;
  using engines::test::tool_call_chunk;
  using engines::test::usage_chunk;
  FakeProvider fake;
  FakeResponse turn1;
  turn1.body = {
      FakeStep::data(engines::test::delta_chunk("Let me look.")),
      FakeStep::data(tool_call_chunk(0, "call_r", "read", std::string(R"({"pa)"))),
      FakeStep::data(tool_call_chunk(1, "call_g", "grep", std::string(R"({"pattern":"h\u00)"))),
      FakeStep::data(tool_call_chunk(0, std::nullopt, std::nullopt, std::string("th\":\"/workspaces/src/n\xc3"))),
      FakeStep::data(tool_call_chunk(1, std::nullopt, std::nullopt, std::string(R"(e9llo","path":"/workspaces/src"})"))),
      FakeStep::data(tool_call_chunk(0, std::nullopt, std::nullopt, std::string("\xb6tes.md\"}"))),
      FakeStep::data(finish_chunk("tool_calls")),
      FakeStep::data(usage_chunk(20, 5)),
      FakeStep::data("[DONE]"),
  };
  fake.enqueue(std::move(turn1));
  // A turn that is one whole tool call.
  auto one_call = [](const std::string& id, const std::string& name, const std::string& args, int in, int out) {
    FakeResponse r;
    r.body = {FakeStep::data(tool_call_chunk(0, id, name, args)), FakeStep::data(finish_chunk("tool_calls")),
              FakeStep::data(usage_chunk(in, out)), FakeStep::data("[DONE]")};
    return r;
  };
  const std::string notes = "/workspaces/src/n\xc3\xb6tes.md";
  fake.enqueue(one_call("call_e", "edit",
                        R"({"path":")" + notes + R"(","old_string":"h\u00e9llo","new_string":"hello"})", 30, 2));
  fake.enqueue(one_call("call_b", "read", R"({"path":")" + notes + R"("})", 40, 2));
  fake.enqueue(FakeResponse::stream({"Found ", "it."}, 50, 3));

  TmpDir dir;
  std::filesystem::create_directories(dir.path / "src");
  dir.file("src/n\xc3\xb6tes.md", "# Notes\nh\xc3\xa9llo world\n");
  dir.file("rt.toml", "[profiles.gpt]\nengine = \"openai\"\nbase_url = \"" + fake.base_url() +
                          "\"\nmodel = \"m\"\napi_key_env = \"YOI_E2E_KEY\"\n"
                          "[[profiles.gpt.permissions]]\ntool = \"edit\"\naction = \"allow\"\n\n[workspaces.src]\npath = \"" +
                          (dir.path / "src").string() + "\"\naccess = \"write\"\n");
  auto cfg = dir.file("s.toml", "[embedded]\nstore = \"memory\"\nruntime_config = \"rt.toml\"\n");
  Proc server({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
               (dir.path / "d").string()},
              {{"YOI_E2E_KEY", kKey}});
  auto port = server.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << server.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  std::string seen;
  auto created = c.request("POST", "/api/runtimes/local/workers",
                           R"({"worker_id":"a","profile":"gpt","workspace_refs":[{"name":"src","access":"write"}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers/a/input", R"({"content":"find hello"})").status, 202);

  auto events = events_of_finished_run(c, "a", seen);
  ASSERT_FALSE(events.empty());
  // The run's shape, text deltas aside (the runtime may coalesce them).
  std::vector<std::string> shape;
  std::string reply;
  for (const auto& v : events) {
    const auto& e = v.as_object();
    std::string type(e.at("type").as_string());
    if (type == "text_delta") {
      reply += e.at("delta").as_string();
      continue;
    }
    if (type == "tool_call") type += ":" + std::string(e.at("call_id").as_string()) + ":" +
                                     std::to_string(e.at("step").to_number<int>());
    if (type == "tool_result") type += ":" + std::string(e.at("call_id").as_string()) + (e.at("ok").as_bool() ? ":ok" : ":error");
    if (type == "text_done") type += ":" + std::to_string(e.at("step").to_number<int>());
    if (type == "usage") type += fmt::format(":{}/{}", e.at("input_tokens").to_number<int>(), e.at("output_tokens").to_number<int>());
    if (type == "run_finished") type += ":" + std::string(e.at("result").as_string()) + ":" + std::to_string(e.at("steps").to_number<int>());
    shape.push_back(type);
  }
  EXPECT_EQ(shape, (std::vector<std::string>{
                       "worker_created", "input_accepted", "status", "run_started", "usage:20/5", "text_done:1",
                       "tool_call:call_r:1", "tool_call:call_g:1", "tool_result:call_r:ok", "tool_result:call_g:ok",
                       "usage:50/7", "text_done:2", "tool_call:call_e:2", "tool_result:call_e:ok", "usage:90/9",
                       "text_done:3", "tool_call:call_b:3", "tool_result:call_b:ok", "usage:140/12", "text_done:4",
                       "run_finished:completed:4", "status"}));
  EXPECT_EQ(reply, "Let me look.Found it.");
  std::map<std::string, bj::object> call_events, result_events;  // by call_id
  for (const auto& v : events) {
    const auto& e = v.as_object();
    if (e.at("type") == "tool_call") call_events[std::string(e.at("call_id").as_string())] = e;
    if (e.at("type") == "tool_result") result_events[std::string(e.at("call_id").as_string())] = e;
  }
  EXPECT_EQ(call_events["call_r"]["arguments"], "{\"path\":\"/workspaces/src/n\xc3\xb6tes.md\"}");
  EXPECT_EQ(call_events["call_g"]["arguments"], R"({"pattern":"h\u00e9llo","path":"/workspaces/src"})");
  EXPECT_NE(bj::value_to<std::string>(result_events["call_r"]["output"]).find("h\xc3\xa9llo world"), std::string::npos)
      << result_events["call_r"];
  EXPECT_NE(bj::value_to<std::string>(result_events["call_g"]["output"]).find("n\xc3\xb6tes.md:2:h\xc3\xa9llo world"),
            std::string::npos)
      << result_events["call_g"];
  // The edit answers a diff, and the read after it sees the file changed.
  auto edit_out = bj::value_to<std::string>(result_events["call_e"]["output"]);
  EXPECT_NE(edit_out.find("-h\xc3\xa9llo world"), std::string::npos) << edit_out;
  EXPECT_NE(edit_out.find("+hello world"), std::string::npos) << edit_out;
  auto reread = bj::value_to<std::string>(result_events["call_b"]["output"]);
  EXPECT_NE(reread.find("hello world"), std::string::npos) << reread;
  EXPECT_EQ(reread.find("h\xc3\xa9llo"), std::string::npos) << reread;
  std::ifstream on_disk(dir.path / "src" / "n\xc3\xb6tes.md");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(on_disk), {}), "# Notes\nhello world\n");

  // What the provider was sent: the tools on the first turn; on the second,
  // the assistant's calls, each followed by its result as a tool message.
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::vector<std::string> offered;
  auto first = bj::parse(reqs[0].body);
  for (const auto& t : first.at("tools").as_array())
    offered.emplace_back(t.at("function").at("name").as_string());
  for (const char* name : {"read", "write", "edit", "glob", "grep"})
    EXPECT_NE(std::find(offered.begin(), offered.end(), name), offered.end()) << name << " not offered";
  auto messages = bj::parse(reqs[1].body).at("messages").as_array();
  ASSERT_GE(messages.size(), 4u) << reqs[1].body;
  const auto& said = messages[messages.size() - 3].as_object();
  EXPECT_EQ(said.at("role"), "assistant");
  EXPECT_EQ(said.at("content"), "Let me look.");
  const auto& calls = said.at("tool_calls").as_array();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].at("id"), "call_r");
  EXPECT_EQ(calls[0].at("function").at("name"), "read");
  EXPECT_EQ(calls[0].at("function").at("arguments"), "{\"path\":\"/workspaces/src/n\xc3\xb6tes.md\"}");
  EXPECT_EQ(calls[1].at("id"), "call_g");
  EXPECT_EQ(calls[1].at("function").at("arguments"), R"({"pattern":"h\u00e9llo","path":"/workspaces/src"})");
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& m = messages[messages.size() - 2 + i].as_object();
    EXPECT_EQ(m.at("role"), "tool");
    EXPECT_EQ(m.at("tool_call_id"), i == 0 ? "call_r" : "call_g");
    EXPECT_NE(std::string_view(m.at("content").as_string()).find("h\xc3\xa9llo world"), std::string_view::npos);
  }

  // The transcript keeps the run: input, the calls, their results, the reply.
  auto t = c.request("GET", "/api/runtimes/local/workers/a/transcript", {});
  ASSERT_EQ(t.status, 200);
  seen += t.body;
  auto items = bj::parse(t.body).at("items").as_array();
  std::vector<std::string> roles;
  for (const auto& i : items) roles.emplace_back(i.at("role").as_string());
  EXPECT_EQ(roles, (std::vector<std::string>{"user", "assistant", "tool", "tool", "assistant", "tool", "assistant",
                                             "tool", "assistant"}));
  ASSERT_EQ(items.size(), 9u);
  EXPECT_EQ(items[1].at("tool_calls").as_array().size(), 2u);
  EXPECT_EQ(items[2].at("call_id"), "call_r");
  EXPECT_EQ(items[3].at("call_id"), "call_g");
  EXPECT_EQ(items[8].at("content"), "Found it.");
  EXPECT_EQ(items[8].at("result"), "completed");

  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_EQ(seen.find(kKey), std::string::npos);
  EXPECT_EQ(seen.find(fmt::format("127.0.0.1:{}", fake.port())), std::string::npos)
      << "the provider's address reached a browser";
  EXPECT_EQ(server.stderr_text().find(kKey), std::string::npos);
}

}  // namespace
}  // namespace yoi::backend::test
