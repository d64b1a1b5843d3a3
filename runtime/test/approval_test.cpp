// Permissions and approvals in the run loop (ARCHITECTURE §15), driven by
// the scripted engine: ask parks the run (no thread, no engine turn), only
// the approval route answers, cancel and stop deny, "always allow" is
// remembered, and a parked run survives a restart of the runtime.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "harness.hpp"
#include "scripted_engine.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/store/fs_store.hpp"
#include "yoi/store/store.hpp"
#include "yoi/testing/temp_dir.hpp"

namespace yoi::rt::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using yoi::testing::TempDir;


engines::ToolCall write_call(std::string id, std::string path, std::string content = "x") {
  return engines::ToolCall{std::move(id), "write",
                           bj::serialize(bj::object{{"path", std::move(path)}, {"content", std::move(content)}})};
}

RuntimeOptions scripted(ScriptedEngine** engine, ScriptedEngine::Script script, std::string homes,
                        std::vector<tools::Rule> permissions = {}) {
  RuntimeOptions o;
  engines::ProfileConfig p;
  p.permissions = std::move(permissions);
  o.profiles.push_back(p);
  o.home_root = std::move(homes);
  o.engine_factory = [engine, script = std::move(script)](boost::asio::io_context& io, const engines::ProfileConfig&)
      -> Result<std::shared_ptr<engines::Engine>> {
    auto e = std::make_shared<ScriptedEngine>(io, script);
    *engine = e.get();
    return std::shared_ptr<engines::Engine>(e);
  };
  return o;
}

struct Fixture {
  TempDir homes;
  ScriptedEngine* engine = nullptr;
  std::unique_ptr<Harness> h;

  explicit Fixture(ScriptedEngine::Script script, std::vector<tools::Rule> permissions = {}) {
    h = std::make_unique<Harness>(scripted(&engine, std::move(script), homes.path.string(), std::move(permissions)));
    EXPECT_TRUE(h->create_id("w"));
  }
  // The worker's home (its /work).
  fs::path home() const { return fs::directory_iterator(homes.path)->path(); }
  bool awaiting() { return h->wait_status("w", WorkerStatus::awaiting_approval); }
  bool finished(std::size_t runs = 1) {
    return h->run_until([&] { return count("run_finished") == runs && h->rt->snapshot("w")->detail.record.status != WorkerStatus::running; });
  }
  std::size_t count(std::string_view type) {
    std::size_t n = 0;
    for (const auto& e : h->events("w")) n += e.at("type").as_string() == type;
    return n;
  }
  std::vector<bj::object> of(std::string_view type) {
    std::vector<bj::object> out;
    for (auto& e : h->events("w"))
      if (e.at("type").as_string() == type) out.push_back(std::move(e));
    return out;
  }
};

// A write, then a final reply.
ScriptedTurn write_then_done(std::size_t turn) {
  if (turn % 2 == 0) return ScriptedTurn{"writing", {write_call("c" + std::to_string(turn / 2 + 1), "a.txt")}};
  return ScriptedTurn{"done", {}};
}

TEST(Approvals, AskParksTheRunAndApproveRunsTheTool) {
  Fixture f(write_then_done);
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  // Parked: the request event, the detail's pending approval, the call's
  // in-flight state; nothing written, no second engine turn.
  auto req = f.of("approval_requested");
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].at("call_id"), "c1");
  EXPECT_EQ(req[0].at("name"), "write");
  EXPECT_EQ(req[0].at("run_id"), "run-1");
  EXPECT_EQ(bj::parse(req[0].at("arguments").as_string()).at("path"), "a.txt");
  EXPECT_EQ(req[0].at("rule"), (bj::object{{"tool", "write"}, {"action", "ask"}, {"source", "default"}}));
  auto d = f.h->rt->detail("w");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::awaiting_approval);
  ASSERT_EQ(d->record.pending_approvals.size(), 1u);
  EXPECT_EQ(d->record.pending_approvals[0].call_id, "c1");
  EXPECT_GT(d->record.pending_approvals[0].requested_at_ms, 0);
  auto wire_detail = wire::to_json(*d);
  EXPECT_EQ(wire_detail.at("status"), "awaiting_approval");
  EXPECT_EQ(wire_detail.at("pending_approvals").at(0).at("call_id"), "c1");
  auto snap = f.h->rt->snapshot("w");
  ASSERT_TRUE(snap && snap->in_flight);
  ASSERT_EQ(snap->in_flight->calls.size(), 1u);
  EXPECT_EQ(snap->in_flight->calls[0].state, "awaiting_approval");
  EXPECT_FALSE(fs::exists(f.home() / "a.txt"));
  EXPECT_EQ(f.engine->conversations.size(), 1u);
  auto summary = f.h->rt->summary();
  EXPECT_EQ(summary.worker_counts["awaiting_approval"], 1u);
  ListWorkers q;
  q.status = WorkerStatus::awaiting_approval;
  EXPECT_EQ(f.h->rt->list(q)->workers.size(), 1u) << "the list filter knows the status";

  auto out = f.h->approve("w", "c1", true);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->decision, "approved");
  EXPECT_EQ(out->run_id, "run-1");
  EXPECT_FALSE(out->remember);
  ASSERT_TRUE(f.finished());
  EXPECT_TRUE(fs::exists(f.home() / "a.txt"));
  auto res = f.of("approval_resolved");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].at("decision"), "approved");
  EXPECT_EQ(res[0].at("remember"), false);
  auto result = f.of("tool_result");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0].at("ok"), true);
  EXPECT_EQ(f.of("run_finished")[0].at("result"), "completed");
  // The order: request, awaiting, answer, running again, the result.
  std::vector<std::string> seen;
  for (const auto& e : f.h->events("w")) {
    std::string t(e.at("type").as_string());
    if (t == "status") t += ":" + std::string(e.at("status").as_string());
    if (t == "approval_requested" || t == "approval_resolved" || t == "tool_result" || t.starts_with("status:"))
      seen.push_back(t);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"status:running", "approval_requested", "status:awaiting_approval",
                                            "approval_resolved", "status:running", "tool_result", "status:idle"}));
  EXPECT_TRUE(f.h->rt->detail("w")->record.pending_approvals.empty());
  const auto& st = f.h->rt->stats();
  EXPECT_EQ(st.approvals_requested, 1u);
  EXPECT_EQ(st.approvals_approved, 1u);
  EXPECT_EQ(st.approvals_denied, 0u);
}

TEST(Approvals, DenyReachesTheModelWithTheReason) {
  Fixture f(write_then_done);
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  auto out = f.h->approve("w", "c1", false, std::string("not that file"));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->decision, "denied");
  EXPECT_EQ(out->reason, std::optional<std::string>("not that file"));
  ASSERT_TRUE(f.finished());
  EXPECT_FALSE(fs::exists(f.home() / "a.txt"));
  auto result = f.of("tool_result");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0].at("ok"), false);
  EXPECT_EQ(result[0].at("error").at("code"), "denied");
  ASSERT_EQ(f.engine->conversations.size(), 2u);
  const auto& said = f.engine->conversations[1].back();
  EXPECT_EQ(said.role, "tool");
  EXPECT_EQ(said.tool_call_id, "c1");
  EXPECT_TRUE(said.content.starts_with("error: denied")) << said.content;
  EXPECT_NE(said.content.find("not that file"), std::string::npos) << said.content;
  EXPECT_EQ(f.of("run_finished")[0].at("result"), "completed") << "a denied call is a result, not a failure";
  EXPECT_EQ(f.h->rt->stats().approvals_denied, 1u);
}

TEST(Approvals, RememberMakesTheNextIdenticalCallRunWithoutAsking) {
  // Runs 1 and 2 write a.txt; run 3 writes b.txt.
  Fixture f([](std::size_t turn) {
    if (turn == 4) return ScriptedTurn{"", {write_call("c3", "b.txt")}};
    return write_then_done(turn);
  });
  ASSERT_TRUE(f.h->input("w", "one"));
  ASSERT_TRUE(f.awaiting());
  auto out = f.h->approve("w", "c1", true, std::nullopt, true);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(out->remember);
  ASSERT_TRUE(f.finished(1));
  auto d = f.h->rt->detail("w");
  ASSERT_EQ(d->record.remembered_rules.size(), 1u);
  EXPECT_EQ(d->record.remembered_rules[0], (tools::Rule{"write", "/work/a.txt", tools::Action::allow}));
  EXPECT_EQ(wire::to_json(*d).at("remembered_rules"),
            (bj::array{bj::object{{"tool", "write"}, {"pattern", "/work/a.txt"}, {"action", "allow"}}}));

  ASSERT_TRUE(f.h->input("w", "two"));
  ASSERT_TRUE(f.finished(2));
  EXPECT_EQ(f.count("approval_requested"), 1u) << "the identical call ran without asking";
  EXPECT_EQ(f.of("tool_result").back().at("ok"), true);

  ASSERT_TRUE(f.h->input("w", "three"));
  ASSERT_TRUE(f.awaiting());
  EXPECT_EQ(f.of("approval_requested").back().at("call_id"), "c3") << "another path still asks";
}

TEST(Approvals, SameAnswerTwiceIsIdempotentADifferentOneIsApprovalResolvedAnUnknownCallNotFound) {
  Fixture f(write_then_done);
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  auto missing = f.h->approve("w", "c9", true);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::approval_not_found);
  auto first = f.h->approve("w", "c1", true, std::string("ok"));
  ASSERT_TRUE(first);
  auto again = f.h->approve("w", "c1", true);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(wire::to_json(*again), wire::to_json(*first)) << "the first outcome, unchanged";
  auto other = f.h->approve("w", "c1", false);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Code::approval_resolved);
  ASSERT_TRUE(f.finished());
  EXPECT_EQ(f.count("approval_resolved"), 1u) << "one answer recorded";
  EXPECT_EQ(f.count("tool_result"), 1u) << "the tool ran once";
  auto gone = f.h->approve("nobody", "c1", true);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::worker_not_found);
}

// Regression (OpenHands): new input while a call waits must not be taken
// as consent.
TEST(Approvals, InputWhileAwaitingIsWorkerBusyAndChangesNothing) {
  Fixture f(write_then_done);
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  auto before = f.h->events("w").size();
  auto r = f.h->input("w", "yes, go ahead");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::worker_busy);
  EXPECT_NE(r.error().message.find("awaiting approval"), std::string::npos) << r.error().message;
  EXPECT_EQ(f.h->events("w").size(), before);
  EXPECT_EQ(f.h->rt->detail("w")->record.status, WorkerStatus::awaiting_approval);
  EXPECT_EQ(f.h->rt->detail("w")->record.pending_approvals.size(), 1u);
  EXPECT_FALSE(fs::exists(f.home() / "a.txt"));
}

TEST(Approvals, CancelDeniesEveryPendingCallAndEndsTheRun) {
  Fixture f([](std::size_t) {
    return ScriptedTurn{"", {write_call("c1", "a.txt"), write_call("c2", "b.txt")}};
  });
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  auto c = f.h->cancel("w");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->cancelled);
  ASSERT_TRUE(f.h->wait_status("w", WorkerStatus::idle));
  auto res = f.of("approval_resolved");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].at("call_id"), "c1");
  EXPECT_EQ(res[0].at("decision"), "denied");
  auto results = f.of("tool_result");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].at("error").at("code"), "denied");
  EXPECT_EQ(results[1].at("error").at("code"), "cancelled") << "the call after it never ran";
  EXPECT_EQ(f.of("run_finished")[0].at("result"), "cancelled");
  EXPECT_FALSE(fs::exists(f.home() / "a.txt"));
  EXPECT_TRUE(f.h->rt->detail("w")->record.pending_approvals.empty());
  auto late = f.h->approve("w", "c1", true);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Code::approval_resolved) << "the cancel answered it";
  EXPECT_EQ(f.h->rt->stats().runs_active, 0u);
}

TEST(Approvals, StopDeniesThePendingCallAndStopsTheWorker) {
  Fixture f(write_then_done);
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.awaiting());
  ASSERT_TRUE(f.h->stop("w"));
  ASSERT_TRUE(f.h->wait_status("w", WorkerStatus::stopped));
  auto res = f.of("approval_resolved");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].at("decision"), "denied");
  EXPECT_EQ(f.of("tool_result")[0].at("error").at("code"), "denied");
  EXPECT_EQ(f.of("run_finished")[0].at("result"), "cancelled");
  EXPECT_FALSE(fs::exists(f.home() / "a.txt"));
}

TEST(Approvals, ProfileRulesAllowAndDenyWithoutAsking) {
  Fixture f(
      [](std::size_t turn) {
        if (turn == 0) return ScriptedTurn{"", {write_call("c1", "ok/a.txt"), write_call("c2", "secret.txt")}};
        return ScriptedTurn{"done", {}};
      },
      {tools::Rule{"write", "ok/**", tools::Action::allow}, tools::Rule{"write", std::nullopt, tools::Action::deny}});
  ASSERT_TRUE(f.h->input("w", "go"));
  ASSERT_TRUE(f.finished());
  EXPECT_EQ(f.count("approval_requested"), 0u);
  auto results = f.of("tool_result");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].at("ok"), true);
  EXPECT_EQ(results[1].at("error").at("code"), "denied");
  EXPECT_NE(std::string(results[1].at("error").at("message").as_string()).find("profile rule: write deny"),
            std::string::npos)
      << results[1];
  EXPECT_TRUE(fs::exists(f.home() / "ok" / "a.txt"));
  EXPECT_FALSE(fs::exists(f.home() / "secret.txt"));
}

// The runtime stops while a call waits: the next open keeps the worker
// awaiting_approval with the same pending call, and an approval continues
// the run — the engine gets the conversation up to the call, then its result.
TEST(Approvals, RestartWhileAwaitingKeepsTheRunParkedAndAnApprovalContinuesIt) {
  TempDir data, homes;
  auto fs_store = [&](boost::asio::io_context& io) {
    store::FsOptions fo;
    fo.dir = (data.path / "store").string();
    fo.fsync = store::FsyncPolicy::none;
    return store::make_fs_store(io, fo);
  };
  ScriptedEngine* engine = nullptr;
  auto wait = [](boost::asio::io_context& io, const std::function<bool()>& done) {
    return yoi::testing::run_until(io, done, kDeadline);
  };
  {
    boost::asio::io_context io;
    auto rt = Runtime::open(io, scripted(&engine, [](std::size_t turn) {
      if (turn == 0) return ScriptedTurn{"hello", {}};
      return ScriptedTurn{"let me write", {write_call("c1", "a.txt", "from before")}};
    }, homes.path.string()), fs_store(io));
    ASSERT_TRUE(rt) << rt.error().message;
    CreateWorker req;
    req.worker_id = "w";
    bool created = false;
    (*rt)->create(req, [&](Result<WorkerDetail> r) { created = r.has_value(); });
    ASSERT_TRUE(wait(io, [&] { return created; }));
    // A first run, so the parked one has history before it.
    (*rt)->input("w", Input{"first", std::nullopt}, [](Result<InputAccepted>) {});
    ASSERT_TRUE(wait(io, [&] { auto p = (*rt)->transcript("w", 0, 10); return p && p->total == 2; }));
    ASSERT_TRUE(wait(io, [&] { return (*rt)->snapshot("w")->detail.record.status == WorkerStatus::idle; }));
    (*rt)->input("w", Input{"second", std::nullopt}, [](Result<InputAccepted>) {});
    ASSERT_TRUE(wait(io, [&] {
      return (*rt)->snapshot("w")->detail.record.status == WorkerStatus::awaiting_approval;
    }));
    // The process "dies" here.
  }
  boost::asio::io_context io;
  engine = nullptr;
  auto rt = Runtime::open(io, scripted(&engine, [](std::size_t) { return ScriptedTurn{"written", {}}; },
                                       homes.path.string()), fs_store(io));
  ASSERT_TRUE(rt) << rt.error().message;
  auto d = (*rt)->detail("w");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::awaiting_approval);
  ASSERT_EQ(d->record.pending_approvals.size(), 1u);
  EXPECT_EQ(d->record.pending_approvals[0].call_id, "c1");
  EXPECT_EQ(d->record.pending_approvals[0].run_id, "run-2");
  auto snap = (*rt)->snapshot("w");
  ASSERT_TRUE(snap && snap->in_flight);
  EXPECT_EQ(snap->in_flight->run_id, "run-2");
  ASSERT_EQ(snap->in_flight->calls.size(), 1u);
  EXPECT_EQ(snap->in_flight->calls[0].state, "awaiting_approval");
  EXPECT_EQ((*rt)->summary().worker_counts["awaiting_approval"], 1u);
  bool refused = false;
  (*rt)->input("w", Input{"go on", std::nullopt}, [&](Result<InputAccepted> r) {
    refused = !r && r.error().code == Code::worker_busy;
  });
  ASSERT_TRUE(wait(io, [&] { return refused; })) << "still parked: input is refused";

  std::optional<Result<ApprovalOutcome>> out;
  (*rt)->approve("w", "c1", ApprovalDecision{true, std::nullopt, false}, [&](Result<ApprovalOutcome> r) { out = r; });
  ASSERT_TRUE(wait(io, [&] { return out.has_value(); }));
  ASSERT_TRUE(*out) << out->error().message;
  ASSERT_TRUE(wait(io, [&] {
    auto s = (*rt)->snapshot("w");
    return s && s->detail.record.status == WorkerStatus::idle && !s->in_flight;
  }));
  std::ifstream written(fs::directory_iterator(homes.path)->path() / "a.txt");
  std::string text((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "from before");
  // The engine got: the history, the run's input, its step with the call,
  // then the call's result.
  ASSERT_TRUE(engine);
  ASSERT_EQ(engine->conversations.size(), 1u);
  const auto& conv = engine->conversations[0];
  ASSERT_EQ(conv.size(), 5u);
  EXPECT_EQ(conv[0].role, "user");
  EXPECT_EQ(conv[0].content, "first");
  EXPECT_EQ(conv[1].role, "assistant");
  EXPECT_EQ(conv[1].content, "hello");
  EXPECT_EQ(conv[2].role, "user");
  EXPECT_EQ(conv[2].content, "second");
  EXPECT_EQ(conv[3].role, "assistant");
  EXPECT_EQ(conv[3].content, "let me write");
  ASSERT_EQ(conv[3].tool_calls.size(), 1u);
  EXPECT_EQ(conv[3].tool_calls[0].call_id, "c1");
  EXPECT_EQ(conv[4].role, "tool");
  EXPECT_EQ(conv[4].tool_call_id, "c1");
  auto page = (*rt)->transcript("w", 0, 20);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.back().result, "completed");
  EXPECT_EQ(page->items.back().content, "written");
}

}  // namespace
}  // namespace yoi::rt::test
