// tool_loop_load: the run loop's own overhead per tool step (issue 20),
// measured end to end through the real yoi-runtime (memory store, spawned on
// 127.0.0.1:0) from a blocking client on one keep-alive connection and one
// WebSocket per worker.
//
// Each sample is one run: POST /input, then read the worker's stream until
// its run_finished. Two kinds alternate, so both see the same load:
//   tool   `/read {"path": "/workspaces/bench/small.txt"}` (the echo
//          driver): step 1 calls read on a 10-line file, step 2 is the
//          engine's one-line summary — one tool step, then a text step;
//   plain  `hello`: one text step, the same engine, no tool.
// tool − plain (at p50) is the tool step: the tool_call commit, the hop to
// the pool, the read, the hop back, the tool_result commit (event, tool
// item, state document) and the next engine turn. (The gap between the
// tool_call and tool_result frames is not reported: the stream often
// delivers both in one read, so it says nothing about the step.)
//
// Allocation growth: the server's RSS after a warm-up and after --steps
// tool steps more. Workers are deleted every 100 runs (their transcripts and
// logs are stored data, not the loop's), so growth would be the loop's own.
//
// Usage: tool_loop_load [--steps N] [--binary PATH]   (N defaults to 10,000)

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "child.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kToken = "bench-token";
constexpr int kRunsPerWorker = 100;

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Series {
  std::vector<double> v;
  double pct(double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
  }
};

class Client {
 public:
  explicit Client(tcp::endpoint ep) : ep_(ep), http_(io_) {
    http_.connect(ep_);
    http_.socket().set_option(tcp::no_delay(true));
  }

  int request(http::verb v, const std::string& target, const std::string& body = {}) {
    http::request<http::string_body> r{v, target, 11};
    r.set(http::field::host, "127.0.0.1");
    r.set(http::field::authorization, "Bearer " + kToken);
    if (!body.empty()) r.set(http::field::content_type, "application/json");
    r.body() = body;
    r.keep_alive(true);
    r.prepare_payload();
    http::write(http_, r);
    http::response<http::string_body> res;
    http::read(http_, buf_, res);
    return res.result_int();
  }

  // Opens the worker's stream (its snapshot read).
  void watch(const std::string& id) {
    ws_ = std::make_unique<websocket::stream<beast::tcp_stream>>(io_);
    beast::get_lowest_layer(*ws_).connect(ep_);
    beast::get_lowest_layer(*ws_).socket().set_option(tcp::no_delay(true));
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::request_type& r) { r.set(http::field::authorization, "Bearer " + kToken); }));
    ws_->handshake("127.0.0.1", "/v1/workers/" + id + "/events/ws");
    read_frame();  // the snapshot
  }
  void unwatch() {
    beast::error_code ec;
    ws_->close(websocket::close_code::normal, ec);
    ws_.reset();
  }

  // One run: POST input, frames until run_finished; the run's time.
  Clock::duration run(const std::string& id, const std::string& content) {
    auto t0 = Clock::now();
    int s = request(http::verb::post, "/v1/workers/" + id + "/input", content);
    if (s != 202) fail("input answered " + std::to_string(s));
    for (;;) {
      auto m = read_frame();
      if (m.find("\"type\":\"tool_result\"") != std::string::npos && m.find("\"ok\":true") == std::string::npos)
        fail("the read failed: " + m);
      if (m.find("\"type\":\"run_finished\"") != std::string::npos) {
        if (m.find("\"result\":\"completed\"") == std::string::npos) fail("the run did not complete: " + m);
        return Clock::now() - t0;
      }
    }
  }

  [[noreturn]] static void fail(const std::string& why) {
    std::cerr << "tool_loop_load: " << why << "\n";
    std::exit(1);
  }

 private:
  std::string read_frame() {
    ws_buf_.consume(ws_buf_.size());
    ws_->read(ws_buf_);
    return beast::buffers_to_string(ws_buf_.data());
  }

  tcp::endpoint ep_;
  asio::io_context io_;
  beast::tcp_stream http_;
  beast::flat_buffer buf_, ws_buf_;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws_;
};

}  // namespace

int main(int argc, char** argv) {
  long steps = 10'000;
  std::string binary = yoi::runtime_server::test::runtime_binary();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps")) steps = std::atol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--binary")) binary = argv[i + 1];
  }
  char tmpl[] = "/tmp/yoi-toolloop-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    std::ofstream small(dir + "/small.txt");
    for (int i = 1; i <= 10; ++i) small << "line " << i << " of a small file\n";
    std::ofstream(dir + "/rt.toml") << "[workspaces.bench]\npath = \"" << dir << "\"\naccess = \"read\"\n";
  }
  yoi::runtime_server::test::Child child(
      {binary, "--listen", "127.0.0.1:0", "--config", dir + "/rt.toml", "--log-level", "warn"},
      {{"YOI_RUNTIME_TOKEN", kToken}});
  auto port = child.wait_listening();
  if (!port) Client::fail("yoi-runtime did not start: " + child.stderr_text());
  Client c(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));

  const std::string tool = R"({"content":"/read {\"path\": \"/workspaces/bench/small.txt\"}"})";
  const std::string plain = R"({"content":"hello"})";
  int worker_serial = 0;
  // `n` tool runs and `n` plain runs, alternating, on workers recycled every
  // kRunsPerWorker runs.
  auto phase = [&](long n, Series* tool_run, Series* plain_run) {
    long done = 0;
    while (done < n) {
      std::string id = "b" + std::to_string(worker_serial++);
      if (c.request(http::verb::post, "/v1/workers",
                    R"({"worker_id":")" + id + R"(","workspace_refs":[{"name":"bench","access":"read"}]})") != 201)
        Client::fail("create failed");
      c.watch(id);
      for (int i = 0; i < kRunsPerWorker / 2 && done < n; ++i, ++done) {
        auto t = c.run(id, tool);
        auto p = c.run(id, plain);
        if (tool_run) tool_run->v.push_back(us(t));
        if (plain_run) plain_run->v.push_back(us(p));
      }
      c.unwatch();
      if (c.request(http::verb::post, "/v1/workers/" + id + "/stop", "{}") != 200) Client::fail("stop failed");
      if (c.request(http::verb::delete_, "/v1/workers/" + id) != 204) Client::fail("delete failed");
    }
  };

  phase(std::min(steps, 1000L), nullptr, nullptr);  // warm-up: allocator arenas, caches
  auto rss0 = child.rss_bytes();
  Series tool_run, plain_run;
  auto t0 = Clock::now();
  phase(steps, &tool_run, &plain_run);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  auto rss1 = child.rss_bytes();

  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf("tool loop through yoi-runtime (memory store, echo driver): %ld tool steps + %ld plain runs in %.1f s, "
              "load average %.2f\n", steps, steps, secs, load[0]);
  std::printf("  run with one tool step (read) + a text step  p50 %7.0f us  p99 %7.0f us\n", tool_run.pct(0.5),
              tool_run.pct(0.99));
  std::printf("  run with one text step (no tool)             p50 %7.0f us  p99 %7.0f us\n", plain_run.pct(0.5),
              plain_run.pct(0.99));
  std::printf("  the tool step (difference of p50s)           %7.0f us\n", tool_run.pct(0.5) - plain_run.pct(0.5));
  std::printf("  server RSS after warm-up %zu KiB, after %ld more tool steps %zu KiB (%+.1f KiB)\n", rss0 / 1024,
              steps, rss1 / 1024, (static_cast<double>(rss1) - static_cast<double>(rss0)) / 1024.0);
  child.signal(SIGTERM);
  auto code = child.wait_exit();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return code.value_or(-1) == 0 ? 0 : 1;
}
