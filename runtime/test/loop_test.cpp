// The run loop (ARCHITECTURE §12) and the workers' view (§13), driven by
// the echo engine's `/<tool> <json>` lines: real tools on real directories.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "harness.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/store/fs_store.hpp"
#include "yoi/testing/temp_dir.hpp"

namespace yoi::rt::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using yoi::testing::TempDir;


std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Loop {
  TempDir repo, homes;
  Harness h;
  explicit Loop(std::string grant = "write", std::size_t max_steps = 50, std::chrono::milliseconds delay = {})
      : h(options(repo.path, homes.path, std::move(grant), max_steps, delay)) {}

  static RuntimeOptions options(const fs::path& repo, const fs::path& homes, std::string grant,
                                std::size_t max_steps, std::chrono::milliseconds delay) {
    RuntimeOptions o;
    engines::ProfileConfig p;
    p.max_steps = max_steps;
    p.echo_chunk_delay = delay;
    p.echo_chunk_bytes = 2;
    p.permissions = allow_file_writes();  // these tests are about the tools, not approvals
    o.profiles.push_back(p);
    o.workspaces["repo"] = WorkspaceConfig{repo.string(), std::move(grant)};
    o.home_root = homes.string();
    return o;
  }

  Result<WorkerDetail> create(const std::string& id, std::string access = "write") {
    CreateWorker req;
    req.worker_id = id;
    if (!access.empty()) req.workspace_refs.push_back(bj::object{{"name", "repo"}, {"access", access}});
    return h.create(std::move(req));
  }

  // Sends `content` and waits for the run to end; its events.
  std::vector<bj::object> run(const std::string& id, const std::string& content) {
    auto before = h.events(id).size();
    auto a = h.input(id, content);
    EXPECT_TRUE(a) << (a ? "" : a.error().message);
    EXPECT_TRUE(h.run_until([&] {
      auto evs = h.events(id);
      return !evs.empty() && evs.back().at("type") == "status" && evs.back().at("status") == "idle" &&
             evs.size() > before;
    }));
    auto evs = h.events(id);
    return {evs.begin() + static_cast<std::ptrdiff_t>(before), evs.end()};
  }
};

const bj::object* first(const std::vector<bj::object>& evs, std::string_view type) {
  for (const auto& e : evs)
    if (e.at("type").as_string() == type) return &e;
  return nullptr;
}

TEST(RunLoop, EchoDrivenRunWritesEditsAndReadsBackAFileInAWritableWorkspace) {
  Loop l;
  ASSERT_TRUE(l.create("w"));
  auto w = l.run("w", R"(/write {"path": "/workspaces/repo/notes.md", "content": "alpha\nbeta\n"})");
  ASSERT_TRUE(first(w, "tool_call"));
  EXPECT_EQ(first(w, "tool_call")->at("name"), "write");
  EXPECT_EQ(first(w, "tool_call")->at("step"), 1);
  ASSERT_TRUE(first(w, "tool_result"));
  EXPECT_EQ(first(w, "tool_result")->at("ok"), true) << bj::serialize(*first(w, "tool_result"));
  EXPECT_EQ(slurp(l.repo.path / "notes.md"), "alpha\nbeta\n");
  auto fin = first(w, "run_finished");
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->at("result"), "completed");
  EXPECT_EQ(fin->at("steps"), 2);

  auto e = l.run("w", R"(/edit {"path": "/workspaces/repo/notes.md", "old_string": "beta", "new_string": "gamma"})");
  ASSERT_TRUE(first(e, "tool_result"));
  EXPECT_EQ(first(e, "tool_result")->at("ok"), true);
  EXPECT_NE(std::string(first(e, "tool_result")->at("output").as_string()).find("+gamma"), std::string::npos);

  auto r = l.run("w", R"(/read {"path": "/workspaces/repo/notes.md"})");
  ASSERT_TRUE(first(r, "tool_result"));
  std::string out(first(r, "tool_result")->at("output").as_string());
  EXPECT_NE(out.find("alpha"), std::string::npos);
  EXPECT_NE(out.find("gamma"), std::string::npos);
  // The echo engine's summary is the second step's text.
  std::vector<std::string> texts;
  for (const auto& ev : r)
    if (ev.at("type") == "text_done") texts.emplace_back(ev.at("text").as_string());
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0], "");
  EXPECT_EQ(texts[1], "read ok: 2 lines");

  // Transcript: user, assistant with the call, tool, assistant (completed).
  auto page = l.h.rt->transcript("w", 8, 4);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 4u);
  EXPECT_EQ(page->items[0].role, "user");
  EXPECT_EQ(page->items[1].role, "assistant");
  ASSERT_EQ(page->items[1].tool_calls.size(), 1u);
  EXPECT_EQ(page->items[1].tool_calls[0].name, "read");
  EXPECT_EQ(page->items[2].role, "tool");
  EXPECT_EQ(page->items[2].call_id, page->items[1].tool_calls[0].call_id);
  EXPECT_TRUE(page->items[2].ok);
  EXPECT_NE(page->items[2].content.find("gamma"), std::string::npos);
  EXPECT_EQ(page->items[3].role, "assistant");
  EXPECT_EQ(page->items[3].content, "read ok: 2 lines");
  EXPECT_EQ(page->items[3].result, "completed");
}

TEST(RunLoop, ReadOnlyWorkspaceRefusesWritesAndChangesNothing) {
  Loop l("read");
  ASSERT_TRUE(l.create("w", "read"));
  auto w = l.run("w", R"(/write {"path": "/workspaces/repo/x.txt", "content": "no"})");
  ASSERT_TRUE(first(w, "tool_result"));
  EXPECT_EQ(first(w, "tool_result")->at("ok"), false);
  EXPECT_EQ(first(w, "tool_result")->at("error").at("code"), "read_only");
  EXPECT_FALSE(fs::exists(l.repo.path / "x.txt"));
  // A failed call is a result, not a failed run.
  EXPECT_EQ(first(w, "run_finished")->at("result"), "completed");
}

TEST(RunLoop, EscapeAttemptsAreOutsideTheScope) {
  Loop l;
  ASSERT_TRUE(l.create("a"));
  ASSERT_TRUE(l.create("b"));
  // b's home holds a secret; a must not reach it, nor the homes' root.
  auto bw = l.run("b", R"(/write {"path": "secret.txt", "content": "b only"})");
  ASSERT_EQ(first(bw, "tool_result")->at("ok"), true);
  fs::path b_home;
  for (const auto& e : fs::directory_iterator(l.homes.path))
    if (fs::exists(e.path() / "secret.txt")) b_home = e.path();
  ASSERT_FALSE(b_home.empty());
  for (std::string path : {std::string("../secret.txt"), std::string("/etc/passwd"), std::string("../../etc/passwd"),
                           (b_home / "secret.txt").string(), l.homes.path.string(),
                           "/workspaces/repo/../../" + b_home.filename().string() + "/secret.txt"}) {
    auto r = l.run("a", R"(/read {"path": ")" + path + R"("})");
    ASSERT_TRUE(first(r, "tool_result")) << path;
    EXPECT_EQ(first(r, "tool_result")->at("ok"), false) << path;
    EXPECT_EQ(first(r, "tool_result")->at("error").at("code"), "path_outside_scope") << path;
    std::string out = bj::serialize(*first(r, "tool_result"));
    EXPECT_EQ(out.find(l.homes.path.string()), std::string::npos) << "no host path in a result: " << out;
  }
}

TEST(RunLoop, BadJsonArgumentsAreAnInvalidArgumentsResultAndTheRunGoesOn) {
  Loop l;
  ASSERT_TRUE(l.create("w"));
  for (std::string args : {"{not json", "[1, 2]", "\"a string\""}) {
    auto r = l.run("w", "/read " + args);
    ASSERT_TRUE(first(r, "tool_result")) << args;
    EXPECT_EQ(first(r, "tool_result")->at("error").at("code"), "invalid_arguments") << args;
    EXPECT_EQ(first(r, "tool_call")->at("arguments").as_string(), args) << "the model's text, verbatim";
    EXPECT_EQ(first(r, "run_finished")->at("result"), "completed");
    std::string last_text;
    for (const auto& e : r)
      if (e.at("type") == "text_done") last_text = e.at("text").as_string();
    EXPECT_EQ(last_text, "read failed: invalid_arguments");
  }
}

TEST(RunLoop, ToolNotOfferedByTheProfileIsAPlainEchoReply) {
  TempDir homes;
  RuntimeOptions o;
  engines::ProfileConfig p;
  p.tools = {"read"};
  o.profiles.push_back(p);
  o.home_root = homes.path.string();
  Harness h(std::move(o));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", R"(/write {"path": "a", "content": "x"})"));
  ASSERT_TRUE(h.run_until([&] { auto e = h.events("w"); return !e.empty() && e.back().at("type") == "status" && e.back().at("status") == "idle"; }));
  auto evs = h.events("w");
  EXPECT_FALSE(first(evs, "tool_call"));
  EXPECT_EQ(first(evs, "text_done")->at("text"), R"(echo: /write {"path": "a", "content": "x"})");
}

TEST(RunLoop, MaxStepsExceededFailsTheRunAfterTheLastStepsResults) {
  Loop l("write", 1);
  ASSERT_TRUE(l.create("w"));
  auto r = l.run("w", R"(/write {"path": "a.txt", "content": "x"})");
  ASSERT_TRUE(first(r, "tool_result"));
  EXPECT_EQ(first(r, "tool_result")->at("ok"), true);
  auto fin = first(r, "run_finished");
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->at("result"), "failed");
  EXPECT_EQ(fin->at("error").at("code"), "max_steps_exceeded");
  EXPECT_EQ(fin->at("steps"), 1);
}

TEST(RunLoop, CancelMidStepKeepsCompletedToolResultsAndThePartialText) {
  Loop l("write", 50, std::chrono::milliseconds(30));
  ASSERT_TRUE(l.create("w"));
  ASSERT_TRUE(l.h.input("w", R"(/write {"path": "a.txt", "content": "x"})"));
  // Step 2 (the summary) is streaming: its first delta is out.
  ASSERT_TRUE(l.h.run_until([&] { return first(l.h.events("w"), "text_delta") != nullptr; }));
  auto snap = l.h.rt->snapshot("w");
  ASSERT_TRUE(snap && snap->in_flight);
  EXPECT_EQ(snap->in_flight->step, 2u);
  EXPECT_TRUE(snap->in_flight->calls.empty()) << "the call is resolved";
  auto c = l.h.cancel("w");
  ASSERT_TRUE(c && c->cancelled);
  ASSERT_TRUE(l.h.wait_status("w", WorkerStatus::idle));
  auto evs = l.h.events("w");
  auto fin = first(evs, "run_finished");
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->at("result"), "cancelled");
  EXPECT_EQ(fin->at("steps"), 2);
  EXPECT_EQ(first(evs, "tool_result")->at("ok"), true);
  auto page = l.h.rt->transcript("w", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 4u);
  EXPECT_EQ(page->items[2].role, "tool");
  EXPECT_EQ(page->items[3].result, "cancelled");
  EXPECT_FALSE(page->items[3].content.empty()) << "the partial text is kept";
  EXPECT_TRUE(std::string("write ok: 1 line").starts_with(page->items[3].content));
}

TEST(RunLoop, WorkspaceRefsAreValidatedBeforeAnythingIsCreated) {
  Loop l("read");
  auto unknown = [&] {
    CreateWorker req;
    req.worker_id = "w";
    req.workspace_refs.push_back(bj::object{{"name", "nope"}, {"access", "read"}});
    return l.h.create(std::move(req));
  }();
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::invalid_request);
  EXPECT_NE(unknown.error().message.find("'nope'"), std::string::npos);
  auto above = l.create("w", "write");
  ASSERT_FALSE(above);
  EXPECT_EQ(above.error().code, Code::invalid_request);
  EXPECT_NE(above.error().message.find("'repo'"), std::string::npos);
  EXPECT_FALSE(l.h.rt->detail("w"));
  EXPECT_TRUE(fs::is_empty(l.homes.path)) << "no home was made";
}

TEST(RunLoop, DeleteRemovesTheWorkersHome) {
  Loop l;
  ASSERT_TRUE(l.create("w"));
  auto r = l.run("w", R"(/write {"path": "/work/kept.txt", "content": "x"})");
  ASSERT_EQ(first(r, "tool_result")->at("ok"), true);
  ASSERT_FALSE(fs::is_empty(l.homes.path));
  ASSERT_TRUE(l.h.stop("w"));
  ASSERT_TRUE(l.h.remove("w"));
  EXPECT_TRUE(fs::is_empty(l.homes.path));
}

}  // namespace
}  // namespace yoi::rt::test

namespace yoi::rt::test {
namespace {

TEST(RunLoop, DetailShowsHomeAndMountsAsViewPathsNeverHostPaths) {
  Loop l;
  auto d = l.create("w");
  ASSERT_TRUE(d);
  auto text = boost::json::serialize(wire::to_json(*d));
  auto o = boost::json::parse(text).as_object();
  EXPECT_EQ(o.at("home"), "/work");
  ASSERT_EQ(o.at("mounts").as_array().size(), 1u);
  EXPECT_EQ(o.at("mounts").at(0).at("path"), "/workspaces/repo");
  EXPECT_EQ(o.at("mounts").at(0).at("access"), "write");
  EXPECT_EQ(text.find(l.repo.path.string()), std::string::npos) << text;
  EXPECT_EQ(text.find(l.homes.path.string()), std::string::npos) << text;
}

}  // namespace
}  // namespace yoi::rt::test

namespace yoi::rt::test {
namespace {

// The process stops while a tool executes (its tool_call durable, its
// result never recorded): the next open gives that call an `interrupted`
// result and ends the run failed `interrupted` — nothing half-recorded.
TEST(RunLoop, RestartWhileAToolExecutesGivesTheCallAnInterruptedResult) {
  TempDir data, homes, repo;
  // Enough files that grep's walk outlasts the tool_call's commit.
  for (int i = 0; i < 20000; ++i) std::ofstream(repo.path / ("f" + std::to_string(i) + ".txt")) << "x\n";
  auto options = [&] {
    RuntimeOptions o;
    o.workspaces["repo"] = WorkspaceConfig{repo.path.string(), "read"};
    o.home_root = homes.path.string();
    return o;
  };
  auto fs_store = [&](boost::asio::io_context& io) {
    store::FsOptions fo;
    fo.dir = (data.path / "store").string();
    fo.fsync = store::FsyncPolicy::none;
    return store::make_fs_store(io, fo);
  };
  {
    boost::asio::io_context io;
    auto rt = Runtime::open(io, options(), fs_store(io));
    ASSERT_TRUE(rt) << rt.error().message;
    CreateWorker req;
    req.worker_id = "w";
    req.workspace_refs.push_back(bj::object{{"name", "repo"}, {"access", "read"}});
    bool created = false, accepted = false;
    (*rt)->create(req, [&](Result<WorkerDetail> r) { created = r.has_value(); });
    ASSERT_TRUE(yoi::testing::run_until(io, [&] { return created; }, kDeadline));
    (*rt)->input("w", Input{R"(/grep {"pattern": "never-matches-zz", "path": "/workspaces/repo"})", std::nullopt},
                 [&](Result<InputAccepted> r) { accepted = r.has_value(); });
    // The call is durable and shown in flight, state running.
    ASSERT_TRUE(yoi::testing::run_until(io, [&] {
      auto s = (*rt)->snapshot("w");
      return accepted && s && s->in_flight && s->in_flight->calls.size() == 1;
    }, kDeadline));
    auto s = (*rt)->snapshot("w");
    EXPECT_EQ(s->in_flight->calls[0].state, "running");
    EXPECT_EQ(s->in_flight->calls[0].call.name, "grep");
    // The process "dies": the io_context never runs the result.
  }
  boost::asio::io_context io;
  auto rt = Runtime::open(io, options(), fs_store(io));
  ASSERT_TRUE(rt) << rt.error().message;
  ASSERT_TRUE(yoi::testing::run_until(io, [&] {
    auto p = (*rt)->transcript("w", 0, 10);
    return p && p->total == 4;
  }, kDeadline));
  auto page = (*rt)->transcript("w", 0, 10);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items[1].tool_calls.size(), 1u);
  EXPECT_EQ(page->items[2].role, "tool");
  EXPECT_FALSE(page->items[2].ok);
  EXPECT_TRUE(page->items[2].content.starts_with("error: interrupted")) << page->items[2].content;
  ASSERT_TRUE(page->items[2].tool_error);
  EXPECT_EQ(page->items[2].tool_error->first, "interrupted");
  EXPECT_EQ(page->items[3].result, "failed");
  ASSERT_TRUE(page->items[3].error);
  EXPECT_EQ(page->items[3].error->code, Code::interrupted);
  auto d = (*rt)->detail("w");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::idle);
  EXPECT_TRUE(d->record.pending_calls.empty());
}

}  // namespace
}  // namespace yoi::rt::test

namespace yoi::rt::test {
namespace {

TEST(RunLoop, ToolOutputIsBoundedByMaxToolOutputBytes) {
  TempDir homes;
  RuntimeOptions o;
  o.home_root = homes.path.string();
  o.limits.max_tool_output_bytes = 1024;
  Harness h(std::move(o));
  ASSERT_TRUE(h.create_id("w"));
  std::ofstream(fs::directory_iterator(homes.path)->path() / "big.txt") << std::string(200, 'x') + "\n" << [] {
    std::string s;
    for (int i = 0; i < 100; ++i) s += std::string(60, 'y') + "\n";
    return s;
  }();
  ASSERT_TRUE(h.input("w", R"(/read {"path": "big.txt"})"));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "run_finished") != nullptr; }));
  auto evs = h.events("w");
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("ok"), true);
  EXPECT_EQ(r->at("truncated"), true);
  EXPECT_LE(r->at("output").as_string().size(), 1024u + 128u);
}

}  // namespace
}  // namespace yoi::rt::test
