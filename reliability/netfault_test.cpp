// Network faults between real hosts: yoi-runtime (fs store) in one network
// namespace, yoi-server with it as a remote runtime in another, the test's
// clients in the root namespace. Mid-stream the server↔runtime link is cut
// (`ip link set` the runtime's veth end down, with static neighbour entries
// so the cut is pure silence — see NetLab::pin_neighbours) or blackholed
// (permanent neighbour entries with a MAC nobody has, both ways: frames
// leave and are dropped by the peer — no RST, no ICMP, no local error, the
// links stay up). Then:
//   - commands through yoi-server fail with 504 runtime_timeout within the
//     configured timeout (2 s) ±20 %;
//   - the event stream reports runtime_unavailable (action wait);
//   - once the link is back, the stream continues: every seq, no gap, no
//     duplicate, up to the end of the run that went on during the fault.
// Skips only where namespaces are forbidden (not root / EPERM).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "frames.hpp"
#include "netlab.hpp"
#include "stack.hpp"

namespace yoi::reliability {
namespace {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;
using net::test::HttpClient;
using net::test::WsClient;

constexpr int kTimeoutMs = 2000;

enum class Fault { link_down, blackhole };

struct Figures {
  std::vector<long> command_ms;
  long unavailable_after_ms = -1;  // from the fault to runtime_unavailable
  long recovered_after_ms = -1;    // from the repair to runtime_recovered
  std::size_t events = 0;
};

void run_fault(Fault fault, Figures& fig) {
  NetLab lab;
  if (lab.forbidden()) GTEST_SKIP() << "network namespaces are not available here: " << lab.error();
  ASSERT_TRUE(lab.error().empty()) << lab.error();

  StackOptions o;
  o.runtime_host = lab.runtime_ip();
  o.server_host = lab.server_ip();
  o.runtime_prefix = lab.in_runtime({});
  o.server_prefix = lab.in_server({});
  o.timeout_ms = kTimeoutMs;
  o.connect_timeout_ms = kTimeoutMs;
  o.echo_chunk_delay_ms = 20;  // a 300-byte reply streams for ~6 s
  Stack st(o);
  ASSERT_TRUE(st.start_runtime());
  ASSERT_TRUE(st.start_server());

  HttpClient http(lab.server_ip(), st.server_port());
  auto created = http.request("POST", "/api/runtimes/edge/workers", R"({"worker_id":"w1"})", st.auth());
  ASSERT_EQ(created.status, 201) << created.body << created.error;

  WsClient ws(lab.server_ip(), st.server_port());
  auto hs = ws.connect("/api/runtimes/edge/workers/w1/events/ws", st.auth());
  ASSERT_TRUE(hs.ok) << hs.status << " " << hs.body << hs.error;
  SeqChecker check;
  check.connected(false);
  bool unavailable = false, recovered = false, finished = false;
  clock::time_point fault_at{}, repair_at{};
  // Reads one frame into the checker; false on close / deadline.
  auto pump = [&](std::chrono::milliseconds timeout) {
    auto text = ws.read(timeout);
    if (!text) return false;
    auto f = parse_frame(*text);
    check.on(f);
    if (f.type == "diagnostic" && f.code == "runtime_unavailable") {
      EXPECT_EQ(f.action, "wait");
      if (!unavailable) fig.unavailable_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - fault_at).count();
      unavailable = true;
    }
    if (f.type == "diagnostic" && f.code == "runtime_recovered") {
      if (!recovered && repair_at != clock::time_point{})
        fig.recovered_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - repair_at).count();
      recovered = true;
    }
    if (f.type == "event" && f.event_type == "run_finished") finished = true;
    return true;
  };
  ASSERT_TRUE(pump(10s)) << "no snapshot";
  ASSERT_TRUE(check.position()) << "the first frame was not a snapshot";

  auto input = http.request("POST", "/api/runtimes/edge/workers/w1/input",
                            R"({"content":")" + std::string(300, 'x') + R"("})", st.auth());
  ASSERT_EQ(input.status, 202) << input.body;
  // Mid-stream: some text deltas are through.
  auto until = clock::now() + 15s;
  while (check.events() < 30 && clock::now() < until) ASSERT_TRUE(pump(5s)) << "stream ended early";
  ASSERT_GE(check.events(), 30u);

  if (fault == Fault::link_down) {
    ASSERT_TRUE(lab.pin_neighbours()) << lab.last_error();
  }
  fault_at = clock::now();
  ASSERT_TRUE(fault == Fault::link_down ? lab.link_down() : lab.blackhole_on()) << lab.last_error();

  // The stream says the runtime is gone (and stays open).
  until = clock::now() + 45s;
  while (!unavailable && clock::now() < until)
    if (!pump(1s) && ws.closed()) break;
  ASSERT_TRUE(unavailable) << "no runtime_unavailable on the stream (closed: " << ws.closed() << ")";
  EXPECT_FALSE(ws.closed());
  // The upstream notices silence after the runtime's timeout (pings at half).
  EXPECT_LE(fig.unavailable_after_ms, 3 * kTimeoutMs) << "the stream noticed the fault late";

  // Commands: each one is given the whole timeout and must end with it.
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"GET", "/api/runtimes/edge/workers/w1"},
      {"POST", "/api/runtimes/edge/workers/w1/cancel"},
      {"GET", "/api/runtimes/edge/workers"},
  };
  for (const auto& [method, target] : commands) {
    auto t0 = clock::now();
    auto r = http.request(method, target, method == "POST" ? "{}" : "", st.auth(), 10s);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
    fig.command_ms.push_back(ms);
    EXPECT_EQ(r.status, 504) << method << " " << target << ": " << r.body << r.error;
    EXPECT_EQ(error_code(r.body), "runtime_timeout") << r.body;
    EXPECT_GE(ms, kTimeoutMs * 8 / 10) << method << " " << target;
    EXPECT_LE(ms, kTimeoutMs * 12 / 10) << method << " " << target;
  }

  repair_at = clock::now();
  ASSERT_TRUE(fault == Fault::link_down ? lab.link_up() : lab.blackhole_off()) << lab.last_error();

  // The run went on at the runtime during the fault; the stream resumes
  // where it stopped and reaches its end.
  until = clock::now() + 60s;
  while (!finished && clock::now() < until)
    if (!pump(1s) && ws.closed()) break;
  EXPECT_TRUE(recovered) << "no runtime_recovered";
  EXPECT_TRUE(finished) << "the run's end never arrived; last seq " << (check.position() ? *check.position() : 0);
  EXPECT_TRUE(check.violations().empty()) << check.violations().front();
  EXPECT_EQ(check.resyncs(), 0);
  fig.events = check.events();

  // Commands work again.
  auto after = http.request("GET", "/api/runtimes/edge/workers/w1", "", st.auth(), 10s);
  EXPECT_EQ(after.status, 200) << after.body;

  // Nothing secret in what the clients saw or the processes logged.
  auto logs = st.logs();
  for (const auto& c : {st.canaries().runtime_token, st.canaries().access_token, st.canaries().provider_key})
    EXPECT_EQ(logs.find(c), std::string::npos) << "a canary reached a log";
}

void report(const char* name, const Figures& f) {
  std::string cmds;
  for (auto ms : f.command_ms) cmds += (cmds.empty() ? "" : ", ") + std::to_string(ms);
  std::printf("[figures] %s: commands 504 after [%s] ms (timeout %d ms); runtime_unavailable %ld ms after the fault; "
              "runtime_recovered %ld ms after the repair; %zu events, no gap, no duplicate\n",
              name, cmds.c_str(), kTimeoutMs, f.unavailable_after_ms, f.recovered_after_ms, f.events);
}

TEST(NetworkFault, LinkDownMidStream) {
  Figures f;
  run_fault(Fault::link_down, f);
  if (!HasFatalFailure() && !IsSkipped()) report("link down", f);
}

TEST(NetworkFault, BlackholeMidStream) {
  Figures f;
  run_fault(Fault::blackhole, f);
  if (!HasFatalFailure() && !IsSkipped()) report("blackhole", f);
}

}  // namespace
}  // namespace yoi::reliability
