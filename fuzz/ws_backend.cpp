// Fuzz target: WebSocket frame handling of yoi-server's observation proxy
// (GET /api/runtimes/{rid}/workers/{wid}/events/ws?cursor=, backend/src/
// observe.cpp on the net/ WebSocket server), with an embedded runtime. The
// backend (registry + ObservationHub + HttpServer) runs in-process on
// 127.0.0.1:0, started once on its own io thread; each input is one
// connection. See ws_client.hpp for the layout and the checks.

#include <future>
#include <memory>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "fuzz_check.hpp"
#include "ws_client.hpp"
#include "yoi/backend/cursor.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/observe.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/store.hpp"

namespace {

using namespace yoi;
using namespace yoi::backend;
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

struct Backend {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::unique_ptr<rt::Runtime> runtime;
  RuntimeRegistry registry{io};
  CursorCodec cursors{Secret(std::string("fuzz-backend-secret"))};
  std::unique_ptr<ObservationHub> hub;
  std::unique_ptr<net::HttpServer> server;
  fuzz::WsTarget target;
  std::string epoch;
  std::string history[2];  // w1, w2
  std::thread thread;

  Backend() {
    rt::RuntimeOptions ro;
    auto r = rt::Runtime::open(io, ro, store::make_memory_store(io, {}));
    FUZZ_CHECK(r.has_value());
    runtime = std::move(*r);
    FUZZ_CHECK(registry.add(make_embedded_source(io, *runtime, "local")).has_value());
    ObserveOptions opts;
    opts.heartbeat = std::chrono::milliseconds(50);
    opts.grace = std::chrono::milliseconds(20);  // upstreams come and go while fuzzing
    hub = std::make_unique<ObservationHub>(io, registry, cursors, opts);
    net::Router router;
    hub->add_routes(router);
    net::ServerOptions so;
    so.ws_max_message_bytes = 4096;
    server = std::make_unique<net::HttpServer>(io, std::move(router), so);
    FUZZ_CHECK(server->start().has_value());
    thread = std::thread([this] { io.run(); });

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
    // A worker's positions carry its history (runtime epoch + incarnation).
    for (int i = 0; i < 2; ++i)
      history[i] = on_io(io, [this, i] { return runtime->snapshot(i == 0 ? "w1" : "w2")->epoch; });

    target.port = server->port();
    target.paths[0] = "/api/runtimes/local/workers/w1/events/ws";
    target.paths[1] = "/api/runtimes/local/workers/w2/events/ws";
    target.paths[2] = "/api/runtimes/local/workers/missing/events/ws";
    target.paths[3] = "/api/runtimes/nope/workers/w1/events/ws";
    target.valid_cursor = [this](int path, std::uint64_t seq) {
      static const char* rids[] = {"local", "local", "local", "nope"};
      static const char* wids[] = {"w1", "w2", "missing", "w1"};
      return cursors.encode(rids[path], wids[path], Position{path < 2 ? history[path] : epoch, seq});
    };
    target.open_sessions = [this] { return on_io(io, [this] { return server->open_websockets(); }); };
  }
};

Backend& instance() {
  static Backend* b = new Backend();  // never destroyed: runs until exit
  return *b;
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
