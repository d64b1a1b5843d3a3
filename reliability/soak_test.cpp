// Soak: yoi-server with a remote yoi-runtime (fs store) under churn for
// YOI_SOAK_SECONDS (default 60, CI's minute; `--full` is 600 s):
//   - workers created, given input and stopped (one churn thread);
//   - WS clients on yoi-server's event stream connecting, reading for a
//     while and dropping (cleanly or abruptly), resuming with their cursor;
//   - the runtime SIGKILLed and restarted every N seconds (N = duration / 4,
//     clamped to [5 s, 60 s]: 3 restarts in the CI minute, one a minute in
//     the full mode).
// At the end it checks:
//   - every client's seq list per worker is gap-free and duplicate-free, or
//     broken only by typed resyncs (cursor_expired / cursor_unknown +
//     snapshot) — SeqChecker;
//   - yoi-server's RSS and open fds are flat: the final sample (under the
//     same churn) is within max(8 MiB, 25 %) and +16 fds of the sample taken
//     after warm-up (a fifth of the run); the runtime's, compared the same
//     way between its first and last incarnation (just before a kill);
//   - every error answer is typed ({"error":{"code"}}) with a known code;
//   - zero occurrences of the canaries (runtime token, access token, a
//     provider key in the runtime's environment, the runtime's URL) in both
//     processes' stderr, both /metrics outputs, every error body and every
//     frame the soak received.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "frames.hpp"
#include "stack.hpp"
#include "yoi/testing/sanitizers.hpp"

namespace yoi::reliability {
namespace {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;
using net::test::HttpClient;
using net::test::HttpResult;
using net::test::WsClient;

int g_seconds = 60;

long ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
}

// Counts occurrences of the canaries in everything the soak saw.
class CanaryScan {
 public:
  explicit CanaryScan(std::vector<std::string> needles) : needles_(std::move(needles)) {}
  void scan(std::string_view what, std::string_view text) {
    std::lock_guard lk(mu_);
    ++scanned_;
    bytes_ += text.size();
    for (const auto& n : needles_) {
      for (auto at = text.find(n); at != std::string_view::npos; at = text.find(n, at + 1)) {
        // "http://127.0.0.1:4242" must not match inside ":42424".
        auto end = at + n.size();
        if (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) continue;
        ++hits_;
        if (examples_.size() < 5) examples_.push_back(std::string(what) + ": ..." + std::string(text.substr(at > 40 ? at - 40 : 0, 100)));
      }
    }
  }
  std::uint64_t hits() const { return hits_; }
  std::uint64_t scanned() const { return scanned_; }
  std::uint64_t bytes() const { return bytes_; }
  const std::vector<std::string>& examples() const { return examples_; }

 private:
  std::vector<std::string> needles_;
  std::mutex mu_;
  std::uint64_t hits_ = 0, scanned_ = 0, bytes_ = 0;
  std::vector<std::string> examples_;
};

struct Sample {
  std::size_t rss = 0;
  int fds = -1;
};

// Workers the churn thread made, for the clients to watch.
struct Workers {
  std::mutex mu;
  std::vector<std::string> live;     // accepting input
  std::vector<std::string> stopped;  // recently stopped (still worth a watch)
  std::string pick(std::mt19937& rng) {
    std::lock_guard lk(mu);
    std::size_t n = live.size() + stopped.size();
    if (n == 0) return {};
    std::size_t i = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    return i < live.size() ? live[i] : stopped[i - live.size()];
  }
};

const std::set<std::string> kExpectedCodes = {
    "runtime_unreachable", "runtime_timeout", "runtime_error", "worker_busy", "worker_stopped",
    "worker_not_found",    "shutting_down",   "limit_exceeded"};

struct Tally {
  std::mutex mu;
  std::map<std::string, int> codes;  // status:code of every non-2xx answer
  std::vector<std::string> untyped;
  void add(const HttpResult& r, CanaryScan& scan) {
    if (r.status >= 200 && r.status < 300) return;
    scan.scan("error body", r.body);
    auto code = r.status == 0 ? std::string("transport:") + r.error : error_code(r.body);
    std::lock_guard lk(mu);
    ++codes[std::to_string(r.status) + " " + code];
    if (r.status != 0 && (code.empty() || !kExpectedCodes.count(code)) && untyped.size() < 5)
      untyped.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
  }
};

TEST(Soak, ChurnRestartsAndClientsKeepSeqsResourcesFlatAndSecretsOut) {
  const auto duration = std::chrono::seconds(g_seconds);
  const auto restart_every = std::clamp<std::chrono::seconds>(duration / 4, 5s, 60s);
  const auto warmup = duration / 5;

  StackOptions o;
  o.echo_chunk_delay_ms = 5;
  o.heartbeat_ms = 1000;
  Stack st(o);
  ASSERT_TRUE(st.start_runtime());
  ASSERT_TRUE(st.start_server());
  const auto& k = st.canaries();
  CanaryScan scan({k.runtime_token, k.access_token, k.provider_key, st.runtime_url()});
  Tally tally;
  Workers workers;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> inputs_ok{0}, created{0}, stopped_n{0}, connects{0}, frames{0};

  // ---- churn: create, input, stop
  std::thread churn([&] {
    std::mt19937 rng(1);
    HttpClient c("127.0.0.1", st.server_port());
    int next = 0;
    std::deque<std::string> mine;
    while (!stop) {
      if (mine.size() < 6) {
        auto id = "soak-" + std::to_string(next++);
        auto r = c.request("POST", "/api/runtimes/edge/workers", R"({"worker_id":")" + id + R"("})", st.auth(), 5s);
        tally.add(r, scan);
        if (r.status == 201 || (r.status == 409 && error_code(r.body) == "worker_exists")) {
          ++created;
          mine.push_back(id);
          std::lock_guard lk(workers.mu);
          workers.live.push_back(id);
        }
      }
      if (!mine.empty()) {
        auto& id = mine[std::uniform_int_distribution<std::size_t>(0, mine.size() - 1)(rng)];
        auto r = c.request("POST", "/api/runtimes/edge/workers/" + id + "/input",
                           R"({"content":"soak input )" + std::to_string(inputs_ok.load()) + R"("})", st.auth(), 5s);
        tally.add(r, scan);
        if (r.status == 202) ++inputs_ok;
      }
      if (mine.size() >= 4 && std::uniform_int_distribution<int>(0, 9)(rng) == 0) {
        auto id = mine.front();
        auto r = c.request("POST", "/api/runtimes/edge/workers/" + id + "/stop", "{}", st.auth(), 5s);
        tally.add(r, scan);
        if (r.status == 200) {
          ++stopped_n;
          mine.pop_front();
          std::lock_guard lk(workers.mu);
          std::erase(workers.live, id);
          workers.stopped.push_back(id);
          if (workers.stopped.size() > 4) workers.stopped.erase(workers.stopped.begin());
        }
      }
      // Reads too: lists across runtimes never fail.
      if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
        auto r = c.request("GET", "/api/workers", "", st.auth(), 5s);
        tally.add(r, scan);
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  // ---- clients: connect, read a while, drop, resume with the cursor
  constexpr int kClients = 4;
  struct ClientState {
    std::map<std::string, SeqChecker> seen;  // per worker
    std::set<std::string> finished;          // worker_stopped received
  };
  std::vector<ClientState> clients(kClients);
  std::vector<std::thread> client_threads;
  for (int i = 0; i < kClients; ++i) {
    client_threads.emplace_back([&, i] {
      std::mt19937 rng(100 + i);
      auto& me = clients[i];
      while (!stop) {
        auto wid = workers.pick(rng);
        if (wid.empty() || me.finished.count(wid)) {
          std::this_thread::sleep_for(100ms);
          continue;
        }
        auto& check = me.seen[wid];
        std::string target = "/api/runtimes/edge/workers/" + wid + "/events/ws";
        bool with_cursor = !check.cursor().empty();
        if (with_cursor) target += "?cursor=" + check.cursor();
        auto ws = std::make_unique<WsClient>("127.0.0.1", st.server_port());
        auto hs = ws->connect(target, st.auth(), 5s);
        if (!hs.ok) {
          scan.scan("refused upgrade", hs.body);
          std::this_thread::sleep_for(200ms);
          continue;
        }
        ++connects;
        check.connected(with_cursor);
        auto until = clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<int>(500, 3000)(rng));
        while (!stop && clock::now() < until) {
          auto text = ws->read(200ms);
          if (!text) {
            if (ws->closed()) break;
            continue;
          }
          ++frames;
          scan.scan("frame", *text);
          auto f = parse_frame(*text);
          check.on(f);
          if (f.type == "diagnostic" && f.code == "worker_stopped") me.finished.insert(wid);
        }
        // Drop: half cleanly, half by just going away.
        if (!ws->closed() && std::uniform_int_distribution<int>(0, 1)(rng) == 0) ws->close(1000, 1s);
        ws.reset();
      }
    });
  }

  // ---- the runtime dies and comes back; resources are sampled
  auto server_pid = st.server()->pid();
  Sample server_warm, server_final, rt_first, rt_last;
  int restarts = 0;
  std::vector<long> restart_ms;
  const auto t0 = clock::now();
  auto next_restart = t0 + restart_every;
  bool warm_taken = false, restart_failed = false;
  while (clock::now() - t0 < duration) {
    std::this_thread::sleep_for(250ms);
    if (!warm_taken && clock::now() - t0 >= warmup) {
      server_warm = {testing::rss_bytes(server_pid), testing::open_fds(server_pid)};
      warm_taken = true;
    }
    if (clock::now() >= next_restart && clock::now() - t0 + 3s < duration) {
      Sample before{st.runtime()->rss_bytes(), st.runtime()->open_fds()};
      if (restarts == 0) rt_first = before;
      rt_last = before;
      auto k0 = clock::now();
      st.kill_runtime();
      std::this_thread::sleep_for(300ms);
      if (!st.start_runtime()) {
        restart_failed = true;
        break;
      }
      restart_ms.push_back(ms_since(k0));
      ++restarts;
      next_restart = clock::now() + restart_every;
    }
  }
  server_final = {testing::rss_bytes(server_pid), testing::open_fds(server_pid)};
  stop = true;
  churn.join();
  for (auto& t : client_threads) t.join();
  ASSERT_FALSE(restart_failed) << "the runtime did not come back: " << st.logs().substr(0, 2000);

  // ---- scans: metrics, logs
  {
    HttpClient s("127.0.0.1", st.server_port()), r("127.0.0.1", st.runtime_port());
    auto m1 = s.request("GET", "/metrics", "", st.auth());
    auto m2 = r.request("GET", "/metrics", "", st.runtime_auth());
    EXPECT_EQ(m1.status, 200);
    EXPECT_EQ(m2.status, 200);
    scan.scan("yoi-server /metrics", m1.body);
    scan.scan("yoi-runtime /metrics", m2.body);
  }
  auto logs = st.logs();
  std::size_t log_lines = 0;
  for (std::size_t at = 0, nl; (nl = logs.find('\n', at)) != std::string::npos; at = nl + 1) {
    scan.scan("log line", std::string_view(logs).substr(at, nl - at));
    ++log_lines;
  }

  // ---- verdicts
  EXPECT_EQ(scan.hits(), 0u) << "canaries found, e.g. " << (scan.examples().empty() ? "" : scan.examples()[0]);
  EXPECT_TRUE(tally.untyped.empty()) << "untyped or unexpected error: " << tally.untyped.front();
  std::uint64_t events = 0, streams = 0;
  int resyncs = 0;
  std::vector<std::string> violations;
  for (auto& c : clients)
    for (auto& [wid, check] : c.seen) {
      ++streams;
      events += check.events();
      resyncs += check.resyncs();
      for (auto& v : check.violations()) violations.push_back(wid + ": " + v);
    }
  EXPECT_TRUE(violations.empty()) << violations.size() << " violations, first: " << violations.front();
  EXPECT_GE(restarts, 2);
  EXPECT_GT(events, 100u) << "the soak delivered almost nothing";
  EXPECT_GT(inputs_ok.load(), 10u);
  ASSERT_TRUE(warm_taken);
  auto flat = [](const char* who, Sample a, Sample b) {
    auto allowed = std::max<std::size_t>(8u << 20, a.rss / 4);
    if (yoi::testing::kRssMeaningful) {
      EXPECT_LE(b.rss, a.rss + allowed) << who << " RSS grew from " << a.rss << " to " << b.rss;
    }
    EXPECT_LE(b.fds, a.fds + 16) << who << " fds grew from " << a.fds << " to " << b.fds;
  };
  flat("yoi-server", server_warm, server_final);
  if (restarts >= 2) flat("yoi-runtime", rt_first, rt_last);

  std::string codes;
  for (auto& [c, n] : tally.codes) codes += (codes.empty() ? "" : ", ") + c + " ×" + std::to_string(n);
  std::string rms;
  for (auto v : restart_ms) rms += (rms.empty() ? "" : " ") + std::to_string(v);
  std::printf(
      "[figures] soak %d s: %d runtime restarts (every %lld s; kill→ready ms: %s); workers created %llu, stopped %llu; "
      "inputs accepted %llu; WS connects %llu, frames %llu, events checked %llu over %llu client×worker streams, "
      "resyncs %d, violations %zu\n"
      "[figures] yoi-server RSS %.1f → %.1f MiB, fds %d → %d (warm-up %lld s → end); yoi-runtime RSS %.1f → %.1f MiB, "
      "fds %d → %d (first → last incarnation, before its kill)\n"
      "[figures] errors seen: %s\n"
      "[figures] canary scan: %llu items (%llu bytes: %zu log lines, 2 /metrics, error bodies, frames), %llu hits\n",
      g_seconds, restarts, static_cast<long long>(restart_every.count()), rms.c_str(),
      static_cast<unsigned long long>(created.load()), static_cast<unsigned long long>(stopped_n.load()),
      static_cast<unsigned long long>(inputs_ok.load()), static_cast<unsigned long long>(connects.load()),
      static_cast<unsigned long long>(frames.load()), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(streams), resyncs, violations.size(), server_warm.rss / 1048576.0,
      server_final.rss / 1048576.0, server_warm.fds, server_final.fds, static_cast<long long>(warmup.count()),
      rt_first.rss / 1048576.0, rt_last.rss / 1048576.0, rt_first.fds, rt_last.fds, codes.c_str(),
      static_cast<unsigned long long>(scan.scanned()), static_cast<unsigned long long>(scan.bytes()), log_lines,
      static_cast<unsigned long long>(scan.hits()));
}

}  // namespace
}  // namespace yoi::reliability

// `reliability_soak_test [--full | --seconds N] [gtest flags]`;
// YOI_SOAK_SECONDS too (a flag wins). 60 s by default (CI); --full: 600 s.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (const char* s = std::getenv("YOI_SOAK_SECONDS"); s && std::atoi(s) > 0) yoi::reliability::g_seconds = std::atoi(s);
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--full") yoi::reliability::g_seconds = 600;
    if (a == "--seconds" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) yoi::reliability::g_seconds = std::atoi(argv[i + 1]);
  }
  return RUN_ALL_TESTS();
}
