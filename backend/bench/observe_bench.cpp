// The observation proxy (issue 6): events relayed from one remote worker
// through yoi-server to 1 and to 100 WebSocket clients, and yoi-server's
// memory per idle client. Real processes (built binaries), loopback.
//
// Counters: items_per_second = events delivered to clients per second (summed
// over clients); events_per_s_per_client; rss_kib_per_idle_client.
//
//   build-<you>/backend/backend_observe_bench [--benchmark_min_time=2]

#include <benchmark/benchmark.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "support.hpp"
#include "test_client.hpp"
#include "yoi/runtime/wire.hpp"

using namespace yoi::backend::test;
using yoi::net::test::HttpClient;
using yoi::net::test::WsClient;

namespace {

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  return -1;
}

struct World {
  RuntimeProc rt;
  TmpDir dir;
  std::unique_ptr<Proc> server;
  std::uint16_t port = 0;
  int worker = 0;

  bool start() {
    rt.token = "bench-token";
    rt.chunk_delay_ms = 0;
    if (!rt.start()) return false;
    auto tok = dir.file("rt.token", rt.token);
    auto cfg = dir.file("server.toml", "[embedded]\nenabled = false\n[[runtimes]]\nid = \"gpu\"\nbase_url = \"" +
                                           rt.base_url() + "\"\ntoken_file = \"" + tok + "\"\n");
    server = std::make_unique<Proc>(std::vector<std::string>{server_binary(), "--listen", "127.0.0.1:0", "--config",
                                                             cfg, "--data-dir", (dir.path / "data").string(),
                                                             "--log-level", "warn"});
    port = server->wait_ready("yoi-server listening on ");
    return port != 0;
  }
  std::string create() {
    std::string wid = "w" + std::to_string(++worker);
    HttpClient c("127.0.0.1", rt.port);
    c.request("POST", "/v1/workers", "{\"worker_id\":\"" + wid + "\"}", {{"Authorization", "Bearer " + rt.token}});
    return wid;
  }
  void input(const std::string& wid, std::size_t n) {
    HttpClient c("127.0.0.1", rt.port);
    c.request("POST", "/v1/workers/" + wid + "/input", "{\"content\":\"" + std::string(n, 'x') + "\"}",
              {{"Authorization", "Bearer " + rt.token}});
  }
};

World& world() {
  static World w;
  static bool ok = w.start();
  if (!ok) std::abort();
  return w;
}

// Reads until a run_finished event; returns the events seen (0 on timeout).
std::size_t drain_run(WsClient& ws) {
  std::size_t n = 0;
  while (auto t = ws.read(30s)) {
    auto frame = yoi::rt::wire::scan_event_frame(*t);
    if (!frame) continue;
    ++n;
    if (yoi::rt::wire::event_type_of(frame->event) == yoi::rt::wire::EventType::run_finished) return n;
  }
  return 0;
}

void BM_Relay(benchmark::State& state) {
  auto& w = world();
  const auto clients = static_cast<std::size_t>(state.range(0));
  const std::size_t run_chars = 100'000;  // one text_delta per char
  auto wid = w.create();
  std::vector<WsClient> ws;
  for (std::size_t i = 0; i < clients; ++i) {
    ws.emplace_back("127.0.0.1", w.port);
    if (!ws.back().connect("/api/runtimes/gpu/workers/" + wid + "/events/ws").ok) {
      state.SkipWithError("connect failed");
      return;
    }
    ws.back().read(10s);  // snapshot
  }
  std::size_t delivered = 0;
  for (auto _ : state) {
    w.input(wid, run_chars);
    std::atomic<std::size_t> total{0};
    std::vector<std::thread> readers;
    for (auto& c : ws) readers.emplace_back([&total, &c] { total += drain_run(c); });
    for (auto& t : readers) t.join();
    delivered += total;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
  state.counters["events_per_s_per_client"] =
      benchmark::Counter(static_cast<double>(delivered) / static_cast<double>(clients), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Relay)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_IdleClientMemory(benchmark::State& state) {
  auto& w = world();
  auto wid = w.create();
  const std::size_t n = 500;
  for (auto _ : state) {
    std::vector<WsClient> ws;
    // A first client opens the upstream; the rest are what we measure.
    ws.emplace_back("127.0.0.1", w.port);
    ws.back().connect("/api/runtimes/gpu/workers/" + wid + "/events/ws");
    ws.back().read(10s);
    std::this_thread::sleep_for(200ms);
    long before = rss_kib(w.server->pid());
    for (std::size_t i = 0; i < n; ++i) {
      ws.emplace_back("127.0.0.1", w.port);
      ws.back().connect("/api/runtimes/gpu/workers/" + wid + "/events/ws");
      ws.back().read(10s);
    }
    std::this_thread::sleep_for(200ms);
    long after = rss_kib(w.server->pid());
    state.counters["rss_kib_per_idle_client"] = static_cast<double>(after - before) / static_cast<double>(n);
  }
}
BENCHMARK(BM_IdleClientMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
