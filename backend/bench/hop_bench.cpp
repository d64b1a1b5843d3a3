// The cost of the backend hop (issue 5): the same worker read directly from a
// yoi-runtime and through yoi-server's remote source, over loopback, one
// keep-alive connection, sequential requests; then the same measurement
// through yoi-server while 100 requests hang on a second, SIGSTOPped runtime.
//
// Real processes (built binaries), real sockets. Counters: p50_us, p99_us
// (per request), and req/s (items_per_second).
//
//   build-<you>/backend/backend_hop_bench [--benchmark_min_time=2]

#include <benchmark/benchmark.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "support.hpp"
#include "test_client.hpp"

using namespace yoi::backend::test;
using yoi::net::test::HttpClient;

namespace {

struct World {
  RuntimeProc fast, stalled;
  TmpDir dir;
  std::unique_ptr<Proc> server;
  std::uint16_t server_port = 0;
  std::vector<std::thread> hung;
  std::atomic<int> hung_done{0};

  bool up() {
    fast.token = "bench-token";
    stalled.token = "bench-token";
    fast.chunk_delay_ms = stalled.chunk_delay_ms = 0;
    if (!fast.start() || !stalled.start()) return false;
    auto tok = dir.file("tok", "bench-token");
    auto cfg = dir.file("s.toml",
                        "[embedded]\nenabled = false\n"
                        "[[runtimes]]\nid = \"fast\"\nbase_url = \"" + fast.base_url() + "\"\ntoken_file = \"" + tok +
                            "\"\ntimeout_ms = 5000\n"
                        "[[runtimes]]\nid = \"stalled\"\nbase_url = \"" + stalled.base_url() + "\"\ntoken_file = \"" +
                            tok + "\"\ntimeout_ms = 60000\n");
    server = std::make_unique<Proc>(std::vector<std::string>{server_binary(), "--listen", "127.0.0.1:0", "--config",
                                                             cfg, "--data-dir", (dir.path / "d").string(),
                                                             "--log-level", "warn"});
    server_port = server->wait_ready("yoi-server listening on ");
    if (!server_port) return false;
    HttpClient rt("127.0.0.1", fast.port);
    auto r = rt.request("POST", "/v1/workers", R"({"worker_id":"w1"})", auth());
    HttpClient st("127.0.0.1", stalled.port);
    st.request("POST", "/v1/workers", R"({"worker_id":"h1"})", auth());
    return r.status == 201;
  }
  static yoi::net::test::Fields auth() { return {{"Authorization", "Bearer bench-token"}}; }

  void stall_with_hung_requests(int n) {
    if (!hung.empty()) return;
    HttpClient warm("127.0.0.1", server_port);
    warm.request("GET", "/api/runtimes/stalled/workers/h1");
    stalled.proc->signal(SIGSTOP);
    for (int i = 0; i < n; ++i)
      hung.emplace_back([this] {
        HttpClient c("127.0.0.1", server_port);
        c.request("GET", "/api/runtimes/stalled/workers/h1", {}, {}, std::chrono::seconds(120));
        ++hung_done;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all 100 are in flight upstream
  }
  ~World() {
    if (stalled.proc) stalled.proc->signal(SIGCONT);
    for (auto& t : hung) t.join();
  }
};

World& world() {
  static World w;
  static bool ok = w.up();
  if (!ok) {
    fprintf(stderr, "hop_bench: could not start yoi-runtime / yoi-server\n");
    std::exit(1);
  }
  return w;
}

void measure(benchmark::State& state, std::uint16_t port, const std::string& target, yoi::net::test::Fields headers) {
  HttpClient c("127.0.0.1", port);
  std::vector<double> us;
  us.reserve(200000);
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.request("GET", target, {}, headers);
    auto t1 = std::chrono::steady_clock::now();
    if (r.status != 200) {
      state.SkipWithError(("status " + std::to_string(r.status) + " " + r.body).c_str());
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  state.SetItemsProcessed(static_cast<std::int64_t>(us.size()));
}

void BM_Direct_Runtime(benchmark::State& state) {
  auto& w = world();
  measure(state, w.fast.port, "/v1/workers/w1", World::auth());
}
void BM_Through_Server(benchmark::State& state) {
  auto& w = world();
  measure(state, w.server_port, "/api/runtimes/fast/workers/w1", {});
}
void BM_Through_Server_With_100_Hung_On_Stalled_Runtime(benchmark::State& state) {
  auto& w = world();
  w.stall_with_hung_requests(100);
  measure(state, w.server_port, "/api/runtimes/fast/workers/w1", {});
  state.counters["hung_finished"] = w.hung_done.load();
}

}  // namespace

BENCHMARK(BM_Direct_Runtime)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Through_Server)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Through_Server_With_100_Hung_On_Stalled_Runtime)->UseRealTime()->MinTime(2.0);
BENCHMARK_MAIN();
