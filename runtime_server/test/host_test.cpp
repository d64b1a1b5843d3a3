// Hosting a Runtime in a process (host.cpp): what both binaries share.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime_server/host.hpp"
#include "yoi/store/store.hpp"

namespace yoi::runtime_server {
namespace {

using namespace std::chrono_literals;

// A memory store whose final flush fails, as a full disk would make it.
class FlushFails : public store::Store {
 public:
  FlushFails(boost::asio::io_context& io) : io_(io), inner_(store::make_memory_store(io, {})) {}
  Result<store::Log*> log(std::string_view id) override { return inner_->log(id); }
  void set_durable_listener(store::DurableListener l) override { inner_->set_durable_listener(std::move(l)); }
  Result<store::Restored> open() override { return inner_->open(); }
  Result<store::EventRange> read_events(std::string_view id, std::uint64_t after, std::size_t limit) override {
    return inner_->read_events(id, after, limit);
  }
  Result<std::vector<store::TranscriptRecord>> read_transcript(std::string_view id, std::uint64_t start,
                                                               std::size_t limit) override {
    return inner_->read_transcript(id, start, limit);
  }
  void flush(store::Done done) override {
    defer([done] { done(fail(Code::store_io, "no space left on the device")); });
  }
  void remove(std::string_view id, store::Done done) override { inner_->remove(id, std::move(done)); }
  std::string_view kind() const override { return "memory"; }

 protected:
  void defer(std::function<void()> fn) override { boost::asio::post(io_, std::move(fn)); }

 private:
  boost::asio::io_context& io_;
  std::unique_ptr<store::Store> inner_;
};

// Runs the stop sequence with `runtime`; returns the exit code and the grace
// the drain was given. The io_context must stop by itself (deadline: 5 s).
std::pair<int, std::chrono::milliseconds> stop_with(boost::asio::io_context& io, rt::Runtime* runtime) {
  std::chrono::milliseconds given{-1};
  GracefulStop stop(
      io, "test", 1234ms,
      [&](std::chrono::milliseconds grace, std::function<void()> done) {
        given = grace;
        boost::asio::post(io, std::move(done));
      },
      runtime);
  stop.stop();
  io.run_for(5s);
  EXPECT_TRUE(io.stopped()) << "the stop sequence did not stop the io_context";
  return {stop.exit_code(), given};
}

// Regression (issue 17): a failed flush at shutdown exited 0 in yoi-server
// (and 1 in yoi-runtime). Both now stop through GracefulStop.
TEST(GracefulStop, AFailedFlushMakesTheExitCodeOne) {
  boost::asio::io_context io;
  auto runtime = rt::Runtime::open(io, {}, std::make_unique<FlushFails>(io));
  ASSERT_TRUE(runtime) << runtime.error().message;
  auto [code, grace] = stop_with(io, runtime->get());
  EXPECT_EQ(code, 1);
  EXPECT_EQ(grace, 1234ms);
}

TEST(GracefulStop, ACleanFlushOrNoRuntimeIsExitCodeZero) {
  {
    boost::asio::io_context io;
    auto runtime = rt::Runtime::open(io, {}, store::make_memory_store(io, {}));
    ASSERT_TRUE(runtime);
    EXPECT_EQ(stop_with(io, runtime->get()).first, 0);
  }
  boost::asio::io_context io;
  EXPECT_EQ(stop_with(io, nullptr).first, 0);
}

// The text_delta events of one run of "abcdefghi" on a runtime opened from `cfg`.
std::vector<std::string> deltas_of_one_run(const RuntimeConfig& cfg) {
  boost::asio::io_context io;
  auto r = open_runtime(io, cfg, "test", [](const char*) { return nullptr; });
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return {};
  auto& rt = **r;
  auto profiles = rt.summary().profiles;
  EXPECT_EQ(std::count(profiles.begin(), profiles.end(), "runtime_default"), 1);
  rt::CreateWorker create;
  create.worker_id = "w";
  rt.create(create, [](Result<rt::WorkerDetail> d) { EXPECT_TRUE(d); });
  io.run_for(1s);
  io.restart();
  rt::Input input;
  input.content = "abcdefghi";
  rt.input("w", input, [](Result<rt::InputAccepted> a) { EXPECT_TRUE(a); });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (rt.detail("w")->record.status != rt::WorkerStatus::idle && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
  EXPECT_EQ(rt.detail("w")->record.status, rt::WorkerStatus::idle) << "the run did not end within 5 s";
  std::vector<std::string> deltas;
  auto page = rt.read_after("w", "", 1000);
  EXPECT_TRUE(page);
  for (const auto& e : page->events) {
    auto o = boost::json::parse(e.json).as_object();
    if (o.at("type") == "text_delta") deltas.push_back(boost::json::value_to<std::string>(o.at("delta")));
  }
  return deltas;
}

// Regression (issue 17): runtime_default was added in two places (the core
// and yoi-server's main). Only Runtime::open adds it now, from the config's
// default_profile, and a configured runtime_default wins.
TEST(OpenRuntime, AddsTheDefaultProfileOnlyWhenTheConfigLacksOne) {
  RuntimeConfig cfg;
  cfg.default_profile.echo_chunk_bytes = 3;  // "echo: abcdefghi" in 3-byte chunks
  auto deltas = deltas_of_one_run(cfg);
  ASSERT_FALSE(deltas.empty());
  for (const auto& d : deltas) EXPECT_LE(d.size(), 3u) << d;
  EXPECT_GE(deltas.size(), 5u);

  engines::ProfileConfig own;  // named runtime_default
  own.echo_chunk_bytes = 100;
  cfg.profiles = {own};
  EXPECT_EQ(deltas_of_one_run(cfg).size(), 1u);
}

TEST(OpenRuntime, AnUnsetApiKeyVariableIsAConfigError) {
  boost::asio::io_context io;
  RuntimeConfig cfg;
  engines::ProfileConfig p;
  p.name = "gpt";
  p.engine = "openai";
  p.base_url = Secret("http://127.0.0.1:9/v1");
  p.model = "m";
  p.api_key_env = "YOI_TEST_UNSET";
  cfg.profiles = {p};
  auto r = open_runtime(io, cfg, "test", [](const char*) { return nullptr; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::config_invalid);
  EXPECT_NE(r.error().message.find("YOI_TEST_UNSET"), std::string::npos);
}

TEST(ListeningLine, BracketsIpv6Hosts) {
  EXPECT_EQ(listening_line("yoi-runtime", "127.0.0.1", 8790), "yoi-runtime listening on http://127.0.0.1:8790");
  EXPECT_EQ(listening_line("yoi-server", "::1", 1), "yoi-server listening on http://[::1]:1");
}

}  // namespace
}  // namespace yoi::runtime_server
