// Runtime core benchmarks (issue 2): event append and read-after
// throughput against a bare vector<string> push of the same payload, worker
// creation cost, and memory per idle worker.

#include <fstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "yoi/runtime/runtime.hpp"
#include "yoi/store/store.hpp"

namespace {

using namespace yoi;

// A typical text_delta event as the core serialises it.
const std::string kPayload =
    R"({"type":"text_delta","seq":123456,"time":1700000000000,"run_id":"run-12","delta":"some streamed text"})";

void BM_BaselineVectorPush(benchmark::State& state) {
  std::vector<std::string> v;
  for (auto _ : state) {
    v.push_back(kPayload);
    if (v.size() == 100'000) {
      state.PauseTiming();
      v.clear();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineVectorPush);

// An event appended the way the core appends a text_delta (after
// serialising it): the worker's Log resolved once, append + commit (no
// per-commit callback), durability told to the one listener by the store's
// drain, which runs once per io turn. `drain_every` is how many commits an
// io turn covers: 64 models a busy runtime (many workers' deltas per turn),
// 1 a single stream whose every delta is its own turn (the worst case).
void store_append(benchmark::State& state, std::uint64_t drain_every) {
  boost::asio::io_context io;
  auto st = store::make_memory_store(io, {100'000, 1u << 30});  // same footprint as the baseline
  std::uint64_t durable = 0;
  st->set_durable_listener([&](store::Log&, const Result<std::uint64_t>& r) { durable = *r; });
  store::Log& log = *st->log("w").value();
  std::uint64_t seq = 0;
  for (auto _ : state) {
    log.append(++seq, kPayload);
    log.commit();
    if (seq % drain_every == 0) {
      io.restart();  // poll() stops the io_context whenever it runs out of work
      io.poll();
    }
  }
  io.restart();
  io.poll();
  if (durable != seq) state.SkipWithError("durable watermark did not reach the last append");
  state.SetItemsProcessed(state.iterations());
}
void BM_StoreAppend(benchmark::State& state) { store_append(state, 64); }
BENCHMARK(BM_StoreAppend);
void BM_StoreAppendDrainEach(benchmark::State& state) { store_append(state, 1); }
BENCHMARK(BM_StoreAppendDrainEach);

struct RuntimeFixture {
  boost::asio::io_context io;
  std::unique_ptr<rt::Runtime> rt;
  explicit RuntimeFixture(rt::RuntimeOptions o = {}) {
    auto store = store::make_memory_store(io, {o.limits.retention_events, o.limits.retention_bytes});
    rt = std::move(rt::Runtime::open(io, std::move(o), std::move(store)).value());
  }
  void drain() {
    io.restart();
    io.poll();
  }
  // A runtime whose default echo profile streams `chunk` bytes per delta,
  // with one worker "w".
  static std::unique_ptr<RuntimeFixture> with_worker(std::size_t chunk) {
    rt::RuntimeOptions o;
    engines::ProfileConfig p;
    p.echo_chunk_bytes = chunk;
    o.profiles.push_back(p);
    auto f = std::make_unique<RuntimeFixture>(o);
    rt::CreateWorker req;
    req.worker_id = "w";
    f->rt->create(req, [](auto) {});
    f->drain();
    return f;
  }
  void run_until_idle(const std::string& id) {
    while (rt->detail(id)->record.status != rt::WorkerStatus::idle) {
      io.restart();
      io.run_one();
    }
  }
};

// A whole run through the core: input -> streamed deltas -> finish, with
// the events appended and published. Reports events/s.
void BM_RuntimeRunEvents(benchmark::State& state) {
  auto fixture = RuntimeFixture::with_worker(4);
  auto& f = *fixture;
  const std::string content(400, 'a');  // ~100 deltas per run
  std::uint64_t before = f.rt->stats().events_appended;
  for (auto _ : state) {
    f.rt->input("w", rt::Input{content, std::nullopt}, [](auto) {});
    f.run_until_idle("w");
    f.drain();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(f.rt->stats().events_appended - before));
}
BENCHMARK(BM_RuntimeRunEvents)->Unit(benchmark::kMicrosecond);

// The same runs without the harness's per-handler detail() poll (which
// copies the worker record twice per event): the io_context simply runs
// until the run is over and nothing is left to do. This is the core's own
// event production.
void BM_RuntimeRunEventsOnly(benchmark::State& state) {
  auto fixture = RuntimeFixture::with_worker(4);
  auto& f = *fixture;
  const std::string content(400, 'a');
  std::uint64_t before = f.rt->stats().events_appended;
  for (auto _ : state) {
    f.rt->input("w", rt::Input{content, std::nullopt}, [](auto) {});
    f.io.restart();
    f.io.run();
  }
  if (f.rt->detail("w")->record.status != rt::WorkerStatus::idle) state.SkipWithError("run did not finish");
  state.SetItemsProcessed(static_cast<std::int64_t>(f.rt->stats().events_appended - before));
}
BENCHMARK(BM_RuntimeRunEventsOnly)->Unit(benchmark::kMicrosecond);

void BM_ReadAfter(benchmark::State& state) {
  auto fixture = RuntimeFixture::with_worker(1);
  auto& f = *fixture;
  for (int i = 0; i < 20; ++i) {
    f.rt->input("w", rt::Input{std::string(500, 'b'), std::nullopt}, [](auto) {});
    f.run_until_idle("w");
    f.drain();
  }
  std::size_t page = static_cast<std::size_t>(state.range(0));
  std::int64_t items = 0;
  for (auto _ : state) {
    auto r = f.rt->read_after("w", f.rt->cursor_for("w", 1000), page);
    items += static_cast<std::int64_t>(r->events.size());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_ReadAfter)->Arg(100)->Arg(1000);

void BM_CreateWorker(benchmark::State& state) {
  RuntimeFixture f;
  std::uint64_t i = 0;
  for (auto _ : state) {
    rt::CreateWorker req;
    req.worker_id = fmt::format("w{}", ++i);
    f.rt->create(std::move(req), [](auto) {});
    if (i % 256 == 0) f.drain();
  }
  f.drain();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CreateWorker);

long rss_kib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4;
}

// Memory per idle worker: RSS growth over 50,000 created (never-used)
// workers, divided by their number. Reported as a counter, bytes/worker.
void BM_IdleWorkerMemory(benchmark::State& state) {
  for (auto _ : state) {
    RuntimeFixture f;
    long before = rss_kib();
    const int n = 50'000;
    for (int i = 0; i < n; ++i) {
      rt::CreateWorker req;
      req.worker_id = fmt::format("idle-worker-{}", i);
      f.rt->create(std::move(req), [](auto) {});
      if (i % 256 == 0) f.drain();
    }
    f.drain();
    long after = rss_kib();
    state.counters["bytes_per_idle_worker"] = static_cast<double>(after - before) * 1024.0 / n;
  }
}
BENCHMARK(BM_IdleWorkerMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
