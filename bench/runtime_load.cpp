// runtime_load: load figures for yoi-runtime, measured against the real
// binary (spawned with a memory store on 127.0.0.1:0), from a client on its
// own thread and io_context in this process.
//
//   REST  GET /v1/workers/{id} and POST /v1/workers/{id}/input with
//         keep-alive connections: req/s, p50, p99
//   WS    events/s to 1 and to 100 subscribers of one streaming worker
//   mem   server RSS per idle subscriber (1000 idle WebSockets)
//
// Usage: runtime_load [--seconds N] [--connections C] [--binary PATH]
// Both the server and this client share the machine's cores: figures are a
// floor, comparable between runs on the same box.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "child.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kToken = "bench-token";

struct Stats {
  std::vector<double> lat_us;
  std::map<int, std::uint64_t> status;
};

void report_rest(const char* name, Stats& s, double secs) {
  std::sort(s.lat_us.begin(), s.lat_us.end());
  auto pct = [&](double p) { return s.lat_us.empty() ? 0.0 : s.lat_us[static_cast<std::size_t>(p * (s.lat_us.size() - 1))]; };
  std::printf("%-28s %9.0f req/s   p50 %7.0f us   p99 %7.0f us   (%zu requests;", name, s.lat_us.size() / secs,
              pct(0.5), pct(0.99), s.lat_us.size());
  for (auto& [k, v] : s.status) std::printf(" %d:%llu", k, static_cast<unsigned long long>(v));
  std::printf(")\n");
}

awaitable<void> rest_client(tcp::endpoint ep, std::function<http::request<http::string_body>()> make, Stats& st,
                            Clock::time_point until) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await s.async_connect(ep, use_awaitable);
  s.socket().set_option(tcp::no_delay(true));
  beast::flat_buffer b;
  while (Clock::now() < until) {
    auto req = make();
    auto t0 = Clock::now();
    co_await http::async_write(s, req, use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(s, b, res, use_awaitable);
    st.lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ++st.status[res.result_int()];
  }
}

http::request<http::string_body> request(http::verb v, std::string target, std::string body = {}) {
  http::request<http::string_body> r{v, target, 11};
  r.set(http::field::host, "127.0.0.1");
  r.set(http::field::authorization, "Bearer " + kToken);
  if (!body.empty()) r.set(http::field::content_type, "application/json");
  r.body() = std::move(body);
  r.keep_alive(true);
  r.prepare_payload();
  return r;
}

// One synchronous request (setup).
int sync_request(tcp::endpoint ep, http::verb v, const std::string& target, const std::string& body = {}) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.connect(ep);
  auto req = request(v, target, body);
  http::write(s, req);
  beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res);
  return res.result_int();
}

struct Sub {
  std::uint64_t events = 0;
  bool done = false;
  Clock::time_point done_at;
};

awaitable<void> ws_subscriber(tcp::endpoint ep, std::string target, Sub& sub, std::atomic<int>& ready) {
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  co_await beast::get_lowest_layer(ws).async_connect(ep, use_awaitable);
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& r) { r.set(http::field::authorization, "Bearer " + kToken); }));
  co_await ws.async_handshake("127.0.0.1", target, use_awaitable);
  ++ready;
  beast::flat_buffer b;
  for (;;) {
    co_await ws.async_read(b, use_awaitable);
    auto data = b.data();
    std::string_view m(static_cast<const char*>(data.data()), data.size());
    if (m.starts_with("{\"type\":\"event\"")) ++sub.events;
    bool fin = m.find("\"run_finished\"") != std::string_view::npos;
    b.consume(b.size());
    if (fin) {
      sub.done = true;
      sub.done_at = Clock::now();
      co_return;
    }
  }
}

// Opens `n` subscribers to worker `id` that read until run_finished; then
// one input of `content_bytes` (1-byte chunks → ~content_bytes events).
void ws_fanout(tcp::endpoint ep, int n, std::size_t content_bytes, const std::string& id) {
  sync_request(ep, http::verb::post, "/v1/workers", "{\"worker_id\":\"" + id + "\",\"profile\":\"fine\"}");
  asio::io_context io;
  std::vector<Sub> subs(static_cast<std::size_t>(n));
  std::atomic<int> ready{0};
  for (auto& s : subs)
    asio::co_spawn(io, ws_subscriber(ep, "/v1/workers/" + id + "/events/ws", s, ready), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::printf("  subscriber failed: %s\n", x.what());
      }
    });
  while (ready < n) io.run_one_for(std::chrono::milliseconds(100));
  // Drain the snapshots.
  io.run_for(std::chrono::milliseconds(100));
  for (auto& s : subs) s.events = 0;
  std::thread poster([&] {
    sync_request(ep, http::verb::post, "/v1/workers/" + id + "/input",
                 "{\"content\":\"" + std::string(content_bytes, 'x') + "\"}");
  });
  auto t0 = Clock::now();
  auto until = t0 + std::chrono::seconds(120);
  while (Clock::now() < until && std::any_of(subs.begin(), subs.end(), [](auto& s) { return !s.done; }))
    io.run_one_for(std::chrono::milliseconds(100));
  poster.join();
  Clock::time_point last = t0;
  std::uint64_t total = 0;
  int finished = 0;
  for (auto& s : subs) finished += s.done ? 1 : 0;
  if (finished != n)
    std::printf("  (only %d of %d subscribers saw run_finished after %.1f s)\n", finished, n,
                std::chrono::duration<double>(Clock::now() - t0).count());
  for (auto& s : subs) {
    last = std::max(last, s.done_at);
    total += s.events;
  }
  double secs = std::chrono::duration<double>(last - t0).count();
  std::printf("WS fan-out to %3d subscriber%s %9.0f events/s delivered (%llu events each, %.2f s, %.0f deliveries/s)\n",
              n, n == 1 ? ": " : "s:", (total / static_cast<double>(n)) / secs,
              static_cast<unsigned long long>(total / static_cast<std::uint64_t>(n)), secs, total / secs);
}

void idle_memory(tcp::endpoint ep, yoi::runtime_server::test::Child& child, int n) {
  sync_request(ep, http::verb::post, "/v1/workers", "{\"worker_id\":\"idle\"}");
  asio::io_context io;
  std::vector<Sub> subs(static_cast<std::size_t>(n));
  std::atomic<int> ready{0};
  // Warm up allocator arenas with a few first.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto rss0 = child.rss_bytes();
  for (auto& s : subs)
    asio::co_spawn(io, ws_subscriber(ep, "/v1/workers/idle/events/ws", s, ready), asio::detached);
  while (ready < n) io.run_one_for(std::chrono::milliseconds(100));
  io.run_for(std::chrono::milliseconds(500));
  auto rss1 = child.rss_bytes();
  std::printf("idle subscribers: %d open, server RSS %zu KiB -> %zu KiB = %.1f KiB per idle subscriber\n", n,
              rss0 / 1024, rss1 / 1024, (rss1 - rss0) / 1024.0 / n);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5;
  int connections = 8;
  std::string binary = yoi::runtime_server::test::runtime_binary();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--connections")) connections = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--binary")) binary = argv[i + 1];
  }
  char dir[] = "/tmp/yoi-load-XXXXXX";
  std::string cfg = std::string(mkdtemp(dir)) + "/rt.toml";
  std::FILE* f = std::fopen(cfg.c_str(), "w");
  std::fputs("[limits]\nmax_content_bytes = 200000\nmax_workers = 1000000\n"
             "[profiles.runtime_default]\nengine = \"echo\"\n"
             "[profiles.fine]\nengine = \"echo\"\necho_chunk_bytes = 1\n",
             f);
  std::fclose(f);
  yoi::runtime_server::test::Child child({binary, "--listen", "127.0.0.1:0", "--config", cfg, "--log-level", "warn"},
                                 {{"YOI_RUNTIME_TOKEN", kToken}});
  auto port = child.wait_listening();
  if (!port) {
    std::cerr << "yoi-runtime did not start: " << child.stderr_text();
    return 1;
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  std::printf("yoi-runtime load (memory store, %d keep-alive connections, %d s per REST run)\n", connections, seconds);

  // ---- REST: GET worker ----
  sync_request(ep, http::verb::post, "/v1/workers", "{\"worker_id\":\"g1\"}");
  {
    asio::io_context io;
    std::vector<Stats> st(static_cast<std::size_t>(connections));
    auto until = Clock::now() + std::chrono::seconds(seconds);
    for (auto& s : st)
      asio::co_spawn(io, rest_client(ep, [] { return request(http::verb::get, "/v1/workers/g1"); }, s, until),
                     asio::detached);
    io.run();
    Stats all;
    for (auto& s : st) {
      all.lat_us.insert(all.lat_us.end(), s.lat_us.begin(), s.lat_us.end());
      for (auto& [k, v] : s.status) all.status[k] += v;
    }
    report_rest("GET /v1/workers/{id}", all, seconds);
  }

  // ---- REST: POST input (round-robin over many workers so each is idle again) ----
  {
    for (int c = 0; c < connections; ++c)
      for (int i = 0; i < 64; ++i)
        sync_request(ep, http::verb::post, "/v1/workers", "{\"worker_id\":\"p" + std::to_string(c) + "-" + std::to_string(i) + "\"}");
    asio::io_context io;
    std::vector<Stats> st(static_cast<std::size_t>(connections));
    std::vector<int> next(static_cast<std::size_t>(connections), 0);
    auto until = Clock::now() + std::chrono::seconds(seconds);
    for (int c = 0; c < connections; ++c) {
      auto* n = &next[static_cast<std::size_t>(c)];
      asio::co_spawn(io,
                     rest_client(ep,
                                 [c, n] {
                                   int i = (*n)++ % 64;
                                   return request(http::verb::post,
                                                  "/v1/workers/p" + std::to_string(c) + "-" + std::to_string(i) + "/input",
                                                  "{\"content\":\"hello\"}");
                                 },
                                 st[static_cast<std::size_t>(c)], until),
                     asio::detached);
    }
    io.run();
    Stats all;
    for (auto& s : st) {
      all.lat_us.insert(all.lat_us.end(), s.lat_us.begin(), s.lat_us.end());
      for (auto& [k, v] : s.status) all.status[k] += v;
    }
    report_rest("POST /v1/workers/{id}/input", all, seconds);
  }

  // ---- WS fan-out ----
  ws_fanout(ep, 1, 100'000, "fan1");
  ws_fanout(ep, 100, 5'000, "fan100");

  // ---- memory per idle subscriber ----
  idle_memory(ep, child, 1000);

  child.signal(SIGTERM);
  auto code = child.wait_exit();
  std::printf("yoi-runtime exited with %d\n", code.value_or(-1));
  return 0;
}
