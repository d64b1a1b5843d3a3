// The run loop driven by a scripted engine (scripted_engine.hpp): the tool
// calls a model can make and the echo engine never does — a tool the
// profile does not offer, two calls in one turn, a call every turn — and a
// cancel while a tool is running on the pool.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "harness.hpp"
#include "scripted_engine.hpp"
#include "yoi/tools/scope.hpp"
#include "yoi/tools/tools.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/testing/temp_dir.hpp"

namespace yoi::rt::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using yoi::testing::TempDir;
using namespace std::chrono_literals;


engines::ToolCall call(std::string id, std::string name, std::string args) {
  return engines::ToolCall{std::move(id), std::move(name), std::move(args)};
}

struct Fixture {
  TempDir homes, repo;
  std::unique_ptr<Harness> h;
  ScriptedEngine* engine = nullptr;

  Fixture(ScriptedEngine::Script script, std::vector<std::string> tools = {"read", "write", "edit", "glob", "grep"},
          std::size_t max_steps = 50) {
    RuntimeOptions o;
    engines::ProfileConfig p;
    p.tools = std::move(tools);
    p.max_steps = max_steps;
    p.permissions = allow_file_writes();  // approvals have their own tests (approval_test.cpp)
    o.profiles.push_back(p);
    o.home_root = homes.path.string();
    o.workspaces["repo"] = WorkspaceConfig{repo.path.string(), "read"};
    // The engine lives on the harness's io_context, which exists only once
    // the harness does: the factory builds it there.
    o.engine_factory = [this, script = std::move(script)](boost::asio::io_context& io, const engines::ProfileConfig&)
        -> Result<std::shared_ptr<engines::Engine>> {
      auto e = std::make_shared<ScriptedEngine>(io, script);
      engine = e.get();
      return std::shared_ptr<engines::Engine>(e);
    };
    h = std::make_unique<Harness>(std::move(o));
    if (!engine) throw std::runtime_error("the engine factory was not used");
  }

  void create(const std::string& id) {
    CreateWorker req;
    req.worker_id = id;
    req.workspace_refs.push_back(bj::object{{"name", "repo"}, {"access", "read"}});
    auto r = h->create(std::move(req));
    ASSERT_TRUE(r) << r.error().message;
  }

  // Sends `content` and waits for the run's end; every event of the worker.
  std::vector<bj::object> run(const std::string& id, const std::string& content) {
    auto a = h->input(id, content);
    EXPECT_TRUE(a) << (a ? "" : a.error().message);
    EXPECT_TRUE(h->run_until([&] {
      auto evs = h->events(id);
      return !evs.empty() && evs.back().at("type") == "status" && evs.back().at("status") == "idle";
    }));
    return h->events(id);
  }
};

std::vector<const bj::object*> all(const std::vector<bj::object>& evs, std::string_view type) {
  std::vector<const bj::object*> out;
  for (const auto& e : evs)
    if (e.at("type").as_string() == type) out.push_back(&e);
  return out;
}

TEST(RunLoopScripted, CallToAToolTheProfileDoesNotOfferIsAnUnknownToolResultAndTheRunGoesOn) {
  Fixture f([](std::size_t turn) {
    if (turn == 0) return ScriptedTurn{"", {call("c1", "write", R"({"path": "a.txt", "content": "x"})")}};
    return ScriptedTurn{"done", {}};
  }, {"read"});
  f.create("w");
  auto evs = f.run("w", "go");
  auto results = all(evs, "tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]->at("call_id"), "c1");
  EXPECT_EQ(results[0]->at("ok"), false);
  EXPECT_EQ(results[0]->at("error").at("code"), "unknown_tool") << bj::serialize(*results[0]);
  auto fin = all(evs, "run_finished");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]->at("result"), "completed");
  EXPECT_EQ(fin[0]->at("steps"), 2);
  for (const auto& e : fs::recursive_directory_iterator(f.homes.path))
    EXPECT_NE(e.path().filename(), "a.txt") << "the tool was not run";
  // The model reads the error as the call's result.
  ASSERT_EQ(f.engine->conversations.size(), 2u);
  const auto& said = f.engine->conversations[1].back();
  EXPECT_EQ(said.role, "tool");
  EXPECT_EQ(said.tool_call_id, "c1");
  EXPECT_TRUE(said.content.starts_with("error: unknown_tool")) << said.content;
  // The tool item carries the typed error and the duration, on the wire too.
  auto page = f.h->rt->transcript("w", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 4u);
  const auto& item = page->items[2];
  EXPECT_EQ(item.role, "tool");
  ASSERT_TRUE(item.tool_error);
  EXPECT_EQ(item.tool_error->first, "unknown_tool");
  EXPECT_EQ(item.tool_error->second, "no tool 'write' is offered to this worker");
  EXPECT_EQ(item.duration_ms, std::optional<std::uint64_t>(0));
  auto wire = bj::parse(bj::serialize(wire::to_json(*page))).at("items").at(2).as_object();
  EXPECT_EQ(wire.at("error").at("code"), "unknown_tool");
  EXPECT_EQ(wire.at("error").at("message"), "no tool 'write' is offered to this worker");
  EXPECT_EQ(wire.at("duration_ms"), 0);
  auto back = wire::transcript_from_json(bj::parse(bj::serialize(wire::to_json(*page))));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->items[2].tool_error, item.tool_error) << "the wire form reads back";
  EXPECT_EQ(back->items[2].duration_ms, item.duration_ms);
  EXPECT_FALSE(back->items[2].error) << "a tool's code is not a run error";
}

TEST(RunLoopScripted, TwoCallsInOneTurnRunInOrderWithBothResultsBeforeTheNextStep) {
  Fixture f([](std::size_t turn) {
    if (turn == 0)
      return ScriptedTurn{"two at once", {call("c1", "write", R"({"path": "a.txt", "content": "first\n"})"),
                                          call("c2", "read", R"({"path": "a.txt"})")}};
    return ScriptedTurn{"done", {}};
  });
  f.create("w");
  auto evs = f.run("w", "go");
  // tool_call c1, tool_call c2, tool_result c1, tool_result c2, then step 2.
  std::vector<std::string> order;
  for (const auto& e : evs) {
    std::string type(e.at("type").as_string());
    if (type == "tool_call" || type == "tool_result") order.push_back(type + ":" + std::string(e.at("call_id").as_string()));
    if (type == "text_done") order.push_back("text_done:" + std::to_string(e.at("step").as_int64()));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"text_done:1", "tool_call:c1", "tool_call:c2", "tool_result:c1",
                                             "tool_result:c2", "text_done:2"}));
  auto results = all(evs, "tool_result");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]->at("ok"), true);
  EXPECT_EQ(results[1]->at("ok"), true);
  EXPECT_NE(std::string(results[1]->at("output").as_string()).find("first"), std::string::npos)
      << "the read ran after the write";
  // The next step's conversation: the assistant message with both calls,
  // then both results in call order.
  ASSERT_EQ(f.engine->conversations.size(), 2u);
  const auto& conv = f.engine->conversations[1];
  ASSERT_GE(conv.size(), 3u);
  const auto& said = conv[conv.size() - 3];
  EXPECT_EQ(said.role, "assistant");
  EXPECT_EQ(said.content, "two at once");
  ASSERT_EQ(said.tool_calls.size(), 2u);
  EXPECT_EQ(conv[conv.size() - 2].tool_call_id, "c1");
  EXPECT_EQ(conv[conv.size() - 1].tool_call_id, "c2");
  auto fin = all(evs, "run_finished");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]->at("result"), "completed");
  EXPECT_EQ(fin[0]->at("steps"), 2);
  // A successful call's item has its duration (as in its tool_result) and no error.
  auto page = f.h->rt->transcript("w", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 5u);
  for (std::size_t i : {2u, 3u}) {
    EXPECT_EQ(page->items[i].role, "tool");
    EXPECT_FALSE(page->items[i].tool_error);
    ASSERT_TRUE(page->items[i].duration_ms);
    EXPECT_EQ(*page->items[i].duration_ms, results[i - 2]->at("duration_ms").to_number<std::uint64_t>());
  }
}

TEST(RunLoopScripted, EngineThatAlwaysCallsAToolEndsFailedMaxStepsExceededAfterMaxSteps) {
  Fixture f([](std::size_t turn) {
    return ScriptedTurn{"", {call("c" + std::to_string(turn), "read", R"({"path": "missing.txt"})")}};
  }, {"read"}, 3);
  f.create("w");
  auto evs = f.run("w", "loop forever");
  EXPECT_EQ(f.engine->conversations.size(), 3u) << "no fourth turn";
  EXPECT_EQ(all(evs, "tool_call").size(), 3u);
  EXPECT_EQ(all(evs, "tool_result").size(), 3u) << "the last step's result is recorded";
  auto fin = all(evs, "run_finished");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]->at("result"), "failed");
  EXPECT_EQ(fin[0]->at("error").at("code"), "max_steps_exceeded");
  EXPECT_EQ(fin[0]->at("steps"), 3);
}

// A cancel while grep walks a big tree on the pool: the run ends
// `cancelled` at once (without waiting for the tool), the call gets a
// `cancelled` result, and the tool's late result is dropped — nothing is
// written after the run's end, and no next step starts.
TEST(RunLoopScripted, CancelWhileAToolRunsOnThePoolEndsAtOnceAndDropsTheLateResult) {
  Fixture f([](std::size_t turn) {
    if (turn == 0)
      return ScriptedTurn{"searching", {call("g1", "grep", R"({"pattern": "never-matches-zz", "path": "/workspaces/repo"})")}};
    return ScriptedTurn{"a next step must not start", {}};
  });
  for (int d = 0; d < 40; ++d) {
    fs::create_directories(f.repo.path / ("d" + std::to_string(d)));
    for (int i = 0; i < 750; ++i)
      std::ofstream(f.repo.path / ("d" + std::to_string(d)) / ("f" + std::to_string(i) + ".txt")) << "some line\nanother\n";
  }
  // How long the same grep takes on its own.
  auto scope = tools::Scope::open({f.homes.path.string(), {{"repo", f.repo.path.string(), tools::Access::read}}});
  ASSERT_TRUE(scope);
  auto g0 = std::chrono::steady_clock::now();
  auto alone = tools::run("grep", *scope, bj::parse(R"({"pattern": "never-matches-zz", "path": "/workspaces/repo"})").as_object());
  auto grep_time = std::chrono::steady_clock::now() - g0;
  ASSERT_TRUE(alone.ok) << alone.output;

  f.create("w");
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.h->run_until([&] {
    auto s = f.h->rt->snapshot("w");
    return s && s->in_flight && s->in_flight->calls.size() == 1;
  }));
  auto c0 = std::chrono::steady_clock::now();
  auto c = f.h->cancel("w");
  auto cancel_time = std::chrono::steady_clock::now() - c0;
  ASSERT_TRUE(c && c->cancelled);
  EXPECT_LT(cancel_time, grep_time) << "the cancel did not wait for the tool";
  EXPECT_LT(cancel_time, 2s);
  auto evs = f.h->events("w");
  auto results = all(evs, "tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]->at("call_id"), "g1");
  EXPECT_EQ(results[0]->at("ok"), false);
  EXPECT_EQ(results[0]->at("error").at("code"), "cancelled");
  auto fin = all(evs, "run_finished");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]->at("result"), "cancelled");
  auto page = f.h->rt->transcript("w", 0, 100);
  ASSERT_TRUE(page);
  auto total = page->total;
  ASSERT_EQ(total, 4u);
  ASSERT_TRUE(page->items[2].tool_error);
  EXPECT_EQ(page->items[2].tool_error->first, "cancelled");
  ASSERT_TRUE(page->items[2].duration_ms) << "how long it ran until the cancel";
  EXPECT_EQ(*page->items[2].duration_ms, results[0]->at("duration_ms").to_number<std::uint64_t>());

  // Long after the grep has finished on the pool, nothing more was written.
  auto settle = std::chrono::duration_cast<std::chrono::milliseconds>(2 * grep_time) + 500ms;
  f.h->run_until([] { return false; }, settle);
  EXPECT_EQ(f.h->events("w").size(), evs.size()) << "the late result was dropped";
  EXPECT_EQ(f.h->rt->transcript("w", 0, 100)->total, total);
  EXPECT_EQ(f.engine->conversations.size(), 1u) << "no next step";
  auto d = f.h->rt->detail("w");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::idle);
  EXPECT_TRUE(d->record.pending_calls.empty());
}

// Issue 20: "usage is summed over the run's steps". Each step's turn reports
// its own usage; the run's usage events carry the running total, so the last
// one is the whole run's (a reader showing the latest event shows the run).
TEST(RunLoopScripted, UsageIsSummedOverTheRunsSteps) {
  Fixture f([](std::size_t turn) {
    if (turn == 0) {
      return ScriptedTurn{"", {call("c1", "write", R"({"path": "u.txt", "content": "x"})")}, engines::Usage{100, 7}};
    }
    return ScriptedTurn{"done", {}, engines::Usage{130, 3}};
  });
  f.create("w");
  auto evs = f.run("w", "go");
  auto usage = all(evs, "usage");
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0]->at("step"), 1);
  EXPECT_EQ(usage[0]->at("input_tokens"), 100);
  EXPECT_EQ(usage[0]->at("output_tokens"), 7);
  EXPECT_EQ(usage[1]->at("step"), 2);
  EXPECT_EQ(usage[1]->at("input_tokens"), 230);
  EXPECT_EQ(usage[1]->at("output_tokens"), 10);
}

}  // namespace
}  // namespace yoi::rt::test
