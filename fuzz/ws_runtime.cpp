// Fuzz target: WebSocket frame handling of yoi-runtime's observation route
// (GET /v1/workers/{id}/events/ws?cursor=, server/runtime_server.cpp on the
// net/ WebSocket server). The real RuntimeServer runs in-process on
// 127.0.0.1:0 (started once, on its own io thread); each input is one
// connection: handshake with a fuzz-chosen worker and cursor, then
// fuzz-chosen frames (or raw bytes). See ws_client.hpp for the layout and
// the checks (no crash, no sanitizer report, no session outliving its
// connection, still serving).

#include <future>
#include <memory>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "yoi/runtime/cursor.hpp"
#include "fuzz_check.hpp"
#include "ws_client.hpp"
#include "yoi/log.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime_server/runtime_server.hpp"
#include "yoi/store/store.hpp"

namespace {

using namespace yoi;
namespace asio = boost::asio;

template <class F>
auto on_io(asio::io_context& io, F fn) -> decltype(fn()) {
  std::promise<decltype(fn())> p;
  auto fut = p.get_future();
  asio::post(io, [&] {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      p.set_value();
    } else {
      p.set_value(fn());
    }
  });
  FUZZ_CHECK(fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return fut.get();
}

struct Server {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::unique_ptr<rt::Runtime> runtime;
  std::unique_ptr<runtime_server::RuntimeServer> server;
  fuzz::WsTarget target;
  std::string epoch;
  std::string history[2];  // w1, w2
  std::thread thread;

  Server() {
    rt::RuntimeOptions ro;
    ro.runtime_id = "fuzz";
    auto r = rt::Runtime::open(io, ro, store::make_memory_store(io, {}));
    FUZZ_CHECK(r.has_value());
    runtime = std::move(*r);
    runtime_server::ServerSettings ss;
    ss.port = 0;
    ss.heartbeat_interval = std::chrono::milliseconds(50);  // heartbeats happen while fuzzing
    ss.ws_max_message_bytes = 4096;                         // the limit is reachable
    server = std::make_unique<runtime_server::RuntimeServer>(io, *runtime, ss);
    FUZZ_CHECK(server->start().has_value());
    thread = std::thread([this] { io.run(); });

    // w1: idle with a history; w2: stopped.
    for (const char* id : {"w1", "w2"}) {
      std::promise<bool> done;
      auto f = done.get_future();
      asio::post(io, [&] {
        rt::CreateWorker c;
        c.worker_id = id;
        runtime->create(c, [&](Result<rt::WorkerDetail> d) { done.set_value(d.has_value()); });
      });
      FUZZ_CHECK(f.get());
    }
    std::promise<bool> fed;
    auto ff = fed.get_future();
    asio::post(io, [&] {
      runtime->input("w1", rt::Input{"hello fuzz", std::nullopt},
                     [&](Result<rt::InputAccepted> a) { fed.set_value(a.has_value()); });
      runtime->stop("w2", std::nullopt, [](Result<rt::WorkerDetail>) {});
    });
    FUZZ_CHECK(ff.get());

    epoch = on_io(io, [this] { return runtime->summary().epoch; });
    // A worker's cursors carry its history (runtime epoch + incarnation).
    for (int i = 0; i < 2; ++i)
      history[i] = on_io(io, [this, i] { return runtime->snapshot(i == 0 ? "w1" : "w2")->epoch; });
    target.port = server->port();
    target.paths[0] = "/v1/workers/w1/events/ws";
    target.paths[1] = "/v1/workers/w2/events/ws";
    target.paths[2] = "/v1/workers/missing/events/ws";
    target.paths[3] = "/v1/workers/bad%2Fid/events/ws";
    target.valid_cursor = [this](int path, std::uint64_t seq) {
      static const char* ids[] = {"w1", "w2", "missing", "bad/id"};
      return rt::encode_cursor(path < 2 ? history[path] : epoch, rt::worker_tag(ids[path]), seq);
    };
    target.open_sessions = [this] { return on_io(io, [this] { return server->open_streams(); }); };
  }
};

Server& instance() {
  // Never destroyed: the io thread runs until the process exits.
  static Server* s = new Server();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  yoi::log::init("error");  // one line per connection would dominate the run
  instance();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  yoi::fuzz::ws_exchange(instance().target, data, size);
  return 0;
}
