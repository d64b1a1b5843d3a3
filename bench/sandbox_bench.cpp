// The bash sandbox (issue 21, ARCHITECTURE §14).
//
// Start cost: `bash -c true` through the sandbox runner (bwrap, namespaces,
// mounts, the pidfd and pipes on an io_context) against plain posix_spawn +
// waitpid of `/bin/bash -c true`, in the same run; p50 of each (counter
// p50_ms) and the difference is the sandbox's added cost (target ≤ 20 ms).
//
// Output streaming: a command writing 100 MB (`head -c 100000000
// /dev/zero`). Runner: the bytes delivered to the output callback, the
// runner's subscriber (MB/s). Runtime: the same command as a bash tool call
// through the run loop (tool_output events coalesced and capped at
// max_tool_stream_bytes, a subscriber reading every event), with the
// process's RSS before and after (rss_growth_mb: flat means ~0).
#include <benchmark/benchmark.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "yoi/runtime/runtime.hpp"
#include "yoi/sandbox/sandbox.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
extern "C" char** environ;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double p50(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double rss_mb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, rss = 0;
  in >> pages >> rss;
  return static_cast<double>(rss) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1e6;
}

fs::path home() {
  static fs::path h = [] {
    auto p = fs::temp_directory_path() / "yoi-sandbox-bench-home";
    fs::create_directories(p);
    return p;
  }();
  return h;
}

void BM_PlainSpawnBashTrue(benchmark::State& state) {
  std::vector<double> samples;
  char* argv[] = {const_cast<char*>("/bin/bash"), const_cast<char*>("-c"), const_cast<char*>("true"), nullptr};
  for (auto _ : state) {
    auto t0 = Clock::now();
    pid_t pid = 0;
    if (::posix_spawn(&pid, "/bin/bash", nullptr, nullptr, argv, environ) != 0) state.SkipWithError("spawn");
    int st = 0;
    ::waitpid(pid, &st, 0);
    samples.push_back(ms(Clock::now() - t0));
  }
  state.counters["p50_ms"] = p50(samples);
}

yoi::sandbox::Outcome run_one(boost::asio::io_context& io, const std::string& command,
                              const yoi::sandbox::OnOutput& on_output) {
  yoi::sandbox::Command cmd;
  cmd.command = command;
  cmd.view.home_host_path = home().string();
  std::optional<yoi::sandbox::Outcome> out;
  auto h = yoi::sandbox::run(io, {}, cmd, on_output, [&](yoi::sandbox::Outcome o) { out = std::move(o); });
  io.restart();
  while (!out)
    if (io.run_one() == 0) io.restart();
  return std::move(*out);
}

void BM_SandboxBashTrue(benchmark::State& state) {
  boost::asio::io_context io;
  std::vector<double> samples;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto o = run_one(io, "true", {});
    samples.push_back(ms(Clock::now() - t0));
    if (o.exit_code != 0) state.SkipWithError("the sandboxed command failed");
  }
  state.counters["p50_ms"] = p50(samples);
}

constexpr std::uint64_t kStreamBytes = 100'000'000;

void BM_RunnerStream100MB(benchmark::State& state) {
  boost::asio::io_context io;
  std::uint64_t delivered = 0;
  double before = rss_mb();
  for (auto _ : state) {
    delivered = 0;
    auto o = run_one(io, "head -c " + std::to_string(kStreamBytes) + " /dev/zero",
                     [&](yoi::sandbox::Stream, std::string_view b) { delivered += b.size(); });
    if (delivered != kStreamBytes) state.SkipWithError("bytes lost");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kStreamBytes));
  state.counters["rss_growth_mb"] = rss_mb() - before;
}

void BM_RuntimeBash100MB(benchmark::State& state) {
  boost::asio::io_context io;
  yoi::rt::RuntimeOptions o;
  o.home_root = (home() / "homes").string();
  auto rt = yoi::rt::Runtime::open(io, std::move(o), yoi::store::make_memory_store(io, {}));
  if (!rt) return state.SkipWithError("open");
  auto& runtime = **rt;
  std::optional<yoi::Result<yoi::rt::WorkerDetail>> made;
  yoi::rt::CreateWorker req;
  req.worker_id = "bench";
  runtime.create(req, [&](auto r) { made = std::move(r); });
  while (!made)
    if (io.run_one() == 0) io.restart();
  std::uint64_t events = 0;
  std::string cursor;
  auto sub = runtime.subscribe("bench", [&] {
    for (;;) {
      auto page = runtime.read_after("bench", cursor, 1000);
      if (!page || page->events.empty()) return;
      events += page->events.size();
      cursor = page->cursor;
    }
  });
  double before = 0;
  int n = 0;
  for (auto _ : state) {
    auto status = [&] { return runtime.snapshot("bench")->detail.record.status; };
    std::optional<yoi::Result<yoi::rt::InputAccepted>> acc;
    runtime.input("bench", yoi::rt::Input{"/bash {\"command\": \"head -c " + std::to_string(kStreamBytes) +
                                              " /dev/zero | tr '\\\\0' a\"}", std::nullopt},
                  [&](auto r) { acc = std::move(r); });
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while ((!acc || status() != yoi::rt::WorkerStatus::idle) && Clock::now() < deadline)
      if (io.run_one_for(std::chrono::milliseconds(10)) == 0) io.restart();
    if (!acc || !*acc) return state.SkipWithError("input refused");
    if (status() != yoi::rt::WorkerStatus::idle) return state.SkipWithError("the run did not end within 60 s");
    if (++n == 1) before = rss_mb();  // after the first run: warm
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kStreamBytes));
  state.counters["rss_growth_mb"] = rss_mb() - before;
  state.counters["events"] = static_cast<double>(events);
}

BENCHMARK(BM_PlainSpawnBashTrue)->Unit(benchmark::kMillisecond)->Iterations(200);
BENCHMARK(BM_SandboxBashTrue)->Unit(benchmark::kMillisecond)->Iterations(200);
BENCHMARK(BM_RunnerStream100MB)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_RuntimeBash100MB)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
