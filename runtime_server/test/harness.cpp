#include "harness.hpp"

#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime_server/runtime_server.hpp"
#include "yoi/store/fs_store.hpp"

namespace yoi::runtime_server::test {

namespace asio = boost::asio;

struct Harness::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(io)};
  std::unique_ptr<rt::Runtime> runtime;
  std::unique_ptr<RuntimeServer> server;
  std::thread thread;
};

Harness::Harness(HarnessOptions o) : impl_(std::make_unique<Impl>()), token_(o.token) {
  auto& im = *impl_;
  store::RetentionLimits ret{o.limits.retention_events, o.limits.retention_bytes};
  std::unique_ptr<store::Store> st;
  if (!o.fs_dir.empty()) {
    store::FsOptions fo;
    fo.dir = o.fs_dir;
    fo.fsync = store::FsyncPolicy::none;
    fo.retention = ret;
    st = store::make_fs_store(im.io, fo);
  } else {
    st = store::make_memory_store(im.io, ret);
  }
  rt::RuntimeOptions ro;
  ro.runtime_id = "rt-test";
  ro.display_name = "test runtime";
  ro.limits = o.limits;
  engines::ProfileConfig def;
  def.name = "runtime_default";
  def.echo_chunk_delay = o.echo_delay;
  def.echo_chunk_bytes = o.echo_chunk_bytes;
  engines::ProfileConfig slow = def;
  slow.name = "slow";
  slow.echo_chunk_delay = std::chrono::milliseconds(50);
  slow.echo_chunk_bytes = 1;
  ro.profiles = {def, slow};
  auto r = rt::Runtime::open(im.io, std::move(ro), std::move(st));
  if (!r) {
    ADD_FAILURE() << "Runtime::open: " << r.error().message;
    return;
  }
  im.runtime = std::move(*r);
  ServerSettings ss;
  ss.host = "127.0.0.1";
  ss.port = 0;
  ss.token = Secret(o.token);
  ss.heartbeat_interval = o.heartbeat;
  ss.max_body_bytes = o.max_body_bytes;
  im.server = std::make_unique<RuntimeServer>(im.io, *im.runtime, ss);
  auto ok = im.server->start();
  EXPECT_TRUE(ok.has_value()) << (ok ? "" : ok.error().message);
  im.thread = std::thread([&im] { im.io.run(); });
}

Harness::~Harness() {
  auto& im = *impl_;
  if (!im.thread.joinable()) return;
  on_io([&im] {
    im.server.reset();
    im.runtime.reset();
  });
  im.work.reset();
  im.io.stop();
  im.thread.join();
}

std::uint16_t Harness::port() const { return impl_->server ? impl_->server->port() : 0; }

void Harness::on_io(std::function<void()> fn) {
  std::promise<void> p;
  asio::post(impl_->io, [&] {
    fn();
    p.set_value();
  });
  ASSERT_EQ(p.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "io thread did not answer within 10 s";
}

std::size_t Harness::open_streams() {
  std::size_t n = 0;
  on_io([&] { n = impl_->server->open_streams(); });
  return n;
}

std::size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace yoi::runtime_server::test
