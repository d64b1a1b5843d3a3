// fs store figures, in one run (issue 3):
//  - the disk's raw fsync rate (a bare write + fdatasync loop),
//  - commits/s under `always` with one writer (target >= 0.8x raw),
//  - commits/s under `batch` with 16 concurrent writers (target >= 10x raw),
//  - restore time for a 1,000,000-event log (target <= 2 s) and RSS after it.
// Ratios to the raw rate are reported as the `x_raw` counter.
//
// Files go under $YOI_BENCH_DIR (default: the system temp directory); put it
// on the disk you want to measure.
//
//   build/bench/store_bench --benchmark_counters_tabular=true

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "yoi/store/fs_store.hpp"

namespace {

using namespace yoi;
using namespace yoi::store;
namespace fsys = std::filesystem;

double g_raw_rate = 0;  // fsyncs/s measured by BM_RawFsync

std::string bench_root() {
  const char* env = std::getenv("YOI_BENCH_DIR");
  fsys::path base = env && *env ? fsys::path(env) : fsys::temp_directory_path();
  std::string tmpl = (base / "yoi-store-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) std::abort();
  return tmpl;
}

struct Scratch {
  std::string path = bench_root();
  ~Scratch() {
    std::error_code ec;
    fsys::remove_all(path, ec);
  }
};

double rss_mib() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) / (1 << 20);
}

std::string event_json(std::uint64_t seq) {
  return fmt::format(R"({{"seq":{},"type":"text_delta","run_id":"run-1","delta":"some streamed text of a reply, about this long"}})", seq);
}

// Closed-loop writers: each keeps one commit of one event in flight.
struct Driver {
  boost::asio::io_context io;
  std::unique_ptr<FsStore> store;
  std::vector<std::string> ids;
  std::map<std::string, std::uint64_t> last;

  Driver(const std::string& dir, FsyncPolicy policy, int workers) {
    FsOptions o;
    o.dir = dir;
    o.fsync = policy;
    store = make_fs_store(io, o);
    if (!store->open()) std::abort();
    for (int i = 0; i < workers; ++i) ids.push_back(fmt::format("bench-{}", i));
    // Create every worker up front: creation has its own directory syncs.
    run(workers, workers, true);
  }

  void run(int writers, int total, bool distinct) {
    int issued = 0, completed = 0;
    std::function<void(int)> issue = [&](int w) {
      if (issued >= total) return;
      ++issued;
      const std::string& id = ids[distinct ? static_cast<std::size_t>(w) % ids.size() : 0];
      std::uint64_t seq = ++last[id];
      Commit c;
      c.worker_id = id;
      if (seq == 1) c.state = R"({"status":"idle"})";
      c.events.push_back(EventRecord{seq, event_json(seq)});
      store->commit(std::move(c), [&, w](Result<void> r) {
        if (!r) std::abort();
        ++completed;
        issue(w);
      });
    };
    for (int w = 0; w < writers; ++w) issue(w);
    while (completed < total) {
      if (io.stopped()) io.restart();
      io.run_one();
    }
  }
};

void commit_bench(benchmark::State& state, FsyncPolicy policy, int writers, bool distinct) {
  Scratch dir;
  Driver d(dir.path, policy, distinct ? writers : 1);
  constexpr int kBlock = 256;
  auto base = d.store->stats();
  for (auto _ : state) d.run(writers, kBlock, distinct);
  auto st = d.store->stats();
  double commits = static_cast<double>(state.iterations() * kBlock);
  state.SetItemsProcessed(static_cast<std::int64_t>(commits));
  state.counters["per_s"] = benchmark::Counter(commits, benchmark::Counter::kIsRate);
  state.counters["commits_per_group"] = commits / static_cast<double>(st.groups - base.groups);
  state.counters["file_syncs_per_commit"] =
      static_cast<double>(st.file_syncs - base.file_syncs) / commits;
  if (g_raw_rate > 0)
    state.counters["x_raw"] = benchmark::Counter(commits / g_raw_rate, benchmark::Counter::kIsRate);
}

// The baseline: the rate the later benchmarks' x_raw compares against.
void BM_RawFsync(benchmark::State& state) {
  Scratch dir;
  std::string path = dir.path + "/raw";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::string line = event_json(1) + "\n";
  auto t0 = std::chrono::steady_clock::now();
  std::int64_t n = 0;
  for (auto _ : state) {
    if (::write(fd, line.data(), line.size()) < 0 || ::fdatasync(fd) != 0) state.SkipWithError("io");
    ++n;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  g_raw_rate = static_cast<double>(n) / secs;
  state.counters["per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}

void BM_CommitAlways_1Writer(benchmark::State& s) { commit_bench(s, FsyncPolicy::always, 1, true); }
void BM_CommitAlways_16Writers_16Workers(benchmark::State& s) {
  commit_bench(s, FsyncPolicy::always, 16, true);
}
void BM_CommitBatch_16Writers_1Worker(benchmark::State& s) {
  commit_bench(s, FsyncPolicy::batch, 16, false);
}
void BM_CommitBatch_16Writers_16Workers(benchmark::State& s) {
  commit_bench(s, FsyncPolicy::batch, 16, true);
}
void BM_CommitNone_1Writer(benchmark::State& s) { commit_bench(s, FsyncPolicy::none, 1, true); }

void BM_Restore1M(benchmark::State& state) {
  constexpr std::uint64_t kEvents = 1'000'000, kPerCommit = 1000;
  Scratch dir;
  FsOptions o;
  o.dir = dir.path + "/store";
  o.fsync = FsyncPolicy::none;
  o.retention.max_events = 2'000'000;
  o.retention.max_bytes = std::size_t(1) << 32;
  {
    boost::asio::io_context io;
    auto s = make_fs_store(io, o);
    if (!s->open()) std::abort();
    int completed = 0;
    for (std::uint64_t last = 0; last < kEvents; last += kPerCommit) {
      Commit c;
      c.worker_id = "restore";
      if (last == 0) c.state = R"({"status":"idle"})";
      for (std::uint64_t i = 1; i <= kPerCommit; ++i)
        c.events.push_back(EventRecord{last + i, event_json(last + i)});
      s->commit(std::move(c), [&](Result<void> r) {
        if (!r) std::abort();
        ++completed;
      });
      while (completed + 8 < static_cast<int>(last / kPerCommit)) {
        if (io.stopped()) io.restart();
        io.run_one();
      }
    }
    bool flushed = false;
    s->flush([&](Result<void>) { flushed = true; });
    while (!flushed) {
      if (io.stopped()) io.restart();
      io.run_one();
    }
  }
  std::uintmax_t bytes = 0;
  for (auto& e : fsys::recursive_directory_iterator(o.dir))
    if (e.is_regular_file()) bytes += e.file_size();
  double rss = 0, rss_before = rss_mib();
  for (auto _ : state) {
    boost::asio::io_context io;
    auto s = make_fs_store(io, o);
    auto r = s->open();
    if (!r || r->workers.size() != 1 || r->workers[0].last_seq != kEvents) {
      state.SkipWithError("restore failed");
      break;
    }
    state.PauseTiming();
    rss = rss_mib();
    state.ResumeTiming();
  }
  state.counters["events"] = static_cast<double>(kEvents);
  state.counters["log_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["rss_MiB"] = rss;
  state.counters["rss_before_MiB"] = rss_before;
}

}  // namespace

BENCHMARK(BM_RawFsync)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_CommitAlways_1Writer)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_CommitAlways_16Writers_16Workers)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_CommitBatch_16Writers_1Worker)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_CommitBatch_16Writers_16Workers)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_CommitNone_1Writer)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Restore1M)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
