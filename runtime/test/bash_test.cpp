// bash in the run loop (ARCHITECTURE §12, §14), driven by the echo engine's
// `/bash {"command": ...}`: real bubblewrap, real processes.
#include <unistd.h>

#include <filesystem>
#include <random>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "harness.hpp"
#include "yoi/testing/process.hpp"
#include "yoi/tools/policy.hpp"
#include "yoi/testing/temp_dir.hpp"

namespace yoi::rt::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using yoi::testing::TempDir;
using namespace std::chrono_literals;
using yoi::testing::pids_with_cmdline;


RuntimeOptions bash_options(const TempDir& homes, std::chrono::milliseconds max_timeout = 600'000ms) {
  RuntimeOptions o;
  engines::ProfileConfig p;
  p.max_bash_timeout = max_timeout;
  // These tests are about the sandbox, not approvals: bash runs unasked.
  p.permissions.push_back(tools::Rule{"bash", std::nullopt, tools::Action::allow});
  o.profiles.push_back(p);
  o.home_root = homes.path.string();
  return o;
}

std::string bash(const std::string& command, std::optional<int> timeout_ms = std::nullopt) {
  bj::object args{{"command", command}};
  if (timeout_ms) args["timeout_ms"] = *timeout_ms;
  return "/bash " + bj::serialize(args);
}

const bj::object* first(const std::vector<bj::object>& evs, std::string_view type) {
  for (const auto& e : evs)
    if (e.at("type").as_string() == type) return &e;
  return nullptr;
}

std::string marker() {
  std::random_device rd;
  return "yoi-rt-mark-" + std::to_string(rd()) + "-" + std::to_string(::getpid());
}

// A child that ignores SIGTERM, and its shell waiting on it.
std::string stubborn(const std::string& m) { return "(trap '' TERM; exec -a " + m + " sleep 1000) & echo up; wait"; }

bool gone(const std::string& m) {
  auto end = std::chrono::steady_clock::now() + 5s;
  while (!pids_with_cmdline(m).empty()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(RunLoopBash, OutputStreamsAsToolOutputAndTheResultCarriesTheExitCode) {
  TempDir homes;
  Harness h(bash_options(homes));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", bash("echo out; echo err >&2; exit 4")));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "run_finished") != nullptr; }));
  auto evs = h.events("w");
  std::string out, err;
  for (const auto& e : evs) {
    if (e.at("type") != "tool_output") continue;
    EXPECT_EQ(e.at("call_id"), first(evs, "tool_call")->at("call_id"));
    (e.at("stream") == "stdout" ? out : err) += std::string(e.at("delta").as_string());
  }
  EXPECT_EQ(out, "out\n");
  EXPECT_EQ(err, "err\n");
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("name"), "bash");
  EXPECT_EQ(r->at("ok"), true);
  EXPECT_EQ(r->at("exit_code"), 4);
  EXPECT_NE(r->at("output").as_string().find("out\n"), std::string::npos);
  EXPECT_EQ(first(evs, "run_finished")->at("result"), "completed");
  // The model reads the exit status (the transcript's tool item).
  auto page = h.rt->transcript("w", 0, 10);
  ASSERT_TRUE(page);
  bool seen = false;
  for (const auto& it : page->items)
    if (it.role == "tool") seen = it.content.find("[exit code: 4]") != std::string::npos;
  EXPECT_TRUE(seen);
}

TEST(RunLoopBash, ToolOutputIsCoalescedAndBoundedPerCall) {
  TempDir homes;
  auto o = bash_options(homes);
  o.limits.max_tool_stream_bytes = 8192;
  Harness h(std::move(o));
  ASSERT_TRUE(h.create_id("w"));
  // 2,000 small writes, then 2 MB at once.
  ASSERT_TRUE(h.input("w", bash("for i in $(seq 1 2000); do echo $i; done; head -c 2000000 /dev/zero | tr '\\\\0' a")));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "run_finished") != nullptr; }, 30s));
  auto evs = h.events("w");
  std::size_t events = 0, bytes = 0;
  for (const auto& e : evs)
    if (e.at("type") == "tool_output") {
      ++events;
      bytes += e.at("delta").as_string().size();
    }
  EXPECT_LE(bytes, 8192u + 200u) << "streamed bytes stop at the cap (plus one marker)";
  EXPECT_LT(events, 200u) << "2,000 lines coalesce into few events";
  EXPECT_NE(evs.size(), 0u);
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("exit_code"), 0);
  EXPECT_EQ(r->at("truncated"), true);
}

TEST(RunLoopBash, CancelKillsTheCommandAndAChildIgnoringSigterm) {
  TempDir homes;
  Harness h(bash_options(homes));
  ASSERT_TRUE(h.create_id("w"));
  auto m = marker();
  ASSERT_TRUE(h.input("w", bash(stubborn(m))));
  ASSERT_TRUE(h.run_until([&] { return pids_with_cmdline(m).size() == 1; })) << "the command never started";
  ASSERT_TRUE(h.cancel("w"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  EXPECT_TRUE(gone(m)) << "a process outlived the cancel";
  auto evs = h.events("w");
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("error").at("code"), "cancelled");
}

TEST(RunLoopBash, StopKillsTheCommand) {
  TempDir homes;
  Harness h(bash_options(homes));
  ASSERT_TRUE(h.create_id("w"));
  auto m = marker();
  ASSERT_TRUE(h.input("w", bash(stubborn(m))));
  ASSERT_TRUE(h.run_until([&] { return pids_with_cmdline(m).size() == 1; })) << "the command never started";
  ASSERT_TRUE(h.stop("w"));
  EXPECT_TRUE(gone(m)) << "a process outlived the stop";
}

TEST(RunLoopBash, DestroyingTheRuntimeKillsTheCommand) {
  TempDir homes;
  auto m = marker();
  {
    Harness h(bash_options(homes));
    ASSERT_TRUE(h.create_id("w"));
    ASSERT_TRUE(h.input("w", bash(stubborn(m))));
    ASSERT_TRUE(h.run_until([&] { return pids_with_cmdline(m).size() == 1; })) << "the command never started";
  }
  EXPECT_TRUE(gone(m)) << "a process outlived the runtime";
}

TEST(RunLoopBash, TimeoutIsCappedByTheProfileAndKillsTheCommand) {
  TempDir homes;
  Harness h(bash_options(homes, 800ms));
  ASSERT_TRUE(h.create_id("w"));
  auto m = marker();
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.input("w", bash(stubborn(m), 3'600'000)));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "tool_result") != nullptr; }, 20s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s) << "the profile's cap, not the hour asked for";
  auto evs = h.events("w");
  auto r = first(evs, "tool_result");
  EXPECT_EQ(r->at("error").at("code"), "tool_timeout");
  EXPECT_NE(r->at("output").as_string().find("up"), std::string::npos) << "the partial output is kept";
  EXPECT_TRUE(gone(m));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto after = h.events("w");
  ASSERT_TRUE(first(after, "run_finished"));
  EXPECT_EQ(first(after, "run_finished")->at("result"), "completed") << "a tool error is a result";
}

TEST(RunLoopBash, SandboxUnavailableWhenBwrapIsMissingNeverRunsUnsandboxed) {
  TempDir homes;
  auto o = bash_options(homes);
  o.bwrap_path = (homes.path / "no-bwrap-here").string();
  Harness h(std::move(o));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", bash("touch /work/ran")));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "run_finished") != nullptr; }));
  auto evs = h.events("w");
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("ok"), false);
  EXPECT_EQ(r->at("error").at("code"), "sandbox_unavailable");
  EXPECT_FALSE(r->contains("exit_code"));
  for (const auto& e : fs::recursive_directory_iterator(homes.path)) EXPECT_NE(e.path().filename(), "ran");
}

TEST(RunLoopBash, BadArgumentsAreInvalidArguments) {
  TempDir homes;
  Harness h(bash_options(homes));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", R"(/bash {"command": "true", "cwd": "/"})"));
  ASSERT_TRUE(h.run_until([&] { return first(h.events("w"), "run_finished") != nullptr; }));
  auto evs = h.events("w");
  auto r = first(evs, "tool_result");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("error").at("code"), "invalid_arguments");
}

TEST(RunLoopBash, SandboxNoneIsLoggedLoudlyAtOpen) {
  TempDir homes;
  auto o = bash_options(homes);
  o.profiles[0].sandbox = "none";
  Harness h(std::move(o));
  bool loud = false;
  for (const auto& d : h.rt->diagnostics()) loud = loud || d.find("UNSANDBOXED") != std::string::npos;
  EXPECT_TRUE(loud);
  Harness plain(bash_options(homes));
  for (const auto& d : plain.rt->diagnostics()) EXPECT_EQ(d.find("UNSANDBOXED"), std::string::npos) << d;
}

}  // namespace
}  // namespace yoi::rt::test
