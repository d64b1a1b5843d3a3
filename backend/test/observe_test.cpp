// The observation proxy (issue 6) over real sockets and real processes:
// yoi-server's /api/.../events/ws for embedded and remote runtimes.
//
// The backend under test runs on its own io thread (in-process fixture) or as
// the real yoi-server binary; clients are the blocking test WsClient with a
// deadline on every read.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <future>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "support.hpp"
#include "test_certs.hpp"  // engines/test: a private CA and a localhost leaf
#include "test_client.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/observe.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/store.hpp"
#include "yoi/testing/sanitizers.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;
namespace asio = boost::asio;
using net::test::HttpClient;
using net::test::WsClient;

// ---------------------------------------------------------------- helpers

struct Frame {
  std::string type;
  std::uint64_t seq = 0;
  std::string cursor;
  std::string code;
  std::string action;
  std::string event_type;
  bj::object obj;
};

std::optional<Frame> parse_frame(const std::string& text) {
  auto v = json::parse(text, 1 << 24);
  if (!v || !v->is_object()) return std::nullopt;
  Frame f;
  f.obj = v->as_object();
  f.type = json::str_or_empty(f.obj, "type");
  if (auto* s = f.obj.if_contains("seq"); s && s->is_number()) f.seq = s->to_number<std::uint64_t>();
  f.cursor = json::str_or_empty(f.obj, "cursor");
  f.code = json::str_or_empty(f.obj, "code");
  f.action = json::str_or_empty(f.obj, "action");
  if (auto* e = f.obj.if_contains("event"); e && e->is_object())
    f.event_type = json::str_or_empty(e->as_object(), "type");
  return f;
}

// Reads frames until `pred` holds (returns that frame) or the deadline.
// Every frame read is appended to `seen`.
std::optional<Frame> read_until(WsClient& ws, const std::function<bool(const Frame&)>& pred,
                                std::chrono::milliseconds deadline, std::vector<Frame>* seen = nullptr) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    auto text = ws.read(std::max(left, std::chrono::milliseconds(1)));
    if (!text) {
      if (ws.closed()) return std::nullopt;
      continue;
    }
    auto f = parse_frame(*text);
    if (!f) {
      ADD_FAILURE() << "undecodable frame: " << *text;
      return std::nullopt;
    }
    if (seen) seen->push_back(*f);
    if (pred(*f)) return f;
  }
  return std::nullopt;
}

bool is_run_finished(const Frame& f) { return f.type == "event" && f.event_type == "run_finished"; }

std::string events_ws(const std::string& rid, const std::string& wid, const std::string& cursor = {}) {
  std::string t = "/api/runtimes/" + rid + "/workers/" + wid + "/events/ws";
  if (!cursor.empty()) t += "?cursor=" + cursor;
  return t;
}

// Event seqs of a frame list.
std::vector<std::uint64_t> event_seqs(const std::vector<Frame>& fs) {
  std::vector<std::uint64_t> out;
  for (const auto& f : fs)
    if (f.type == "event") out.push_back(f.seq);
  return out;
}

// Strictly consecutive from first to last.
void expect_contiguous(const std::vector<std::uint64_t>& seqs, std::uint64_t first) {
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i] != first + i) {
      ADD_FAILURE() << "gap or duplicate at index " << i << ": expected seq " << first + i << ", got " << seqs[i];
      return;
    }
}

// A yoi-runtime process with either store; restartable on the same port and
// data dir.
struct RtProc {
  TmpDir dir;
  std::unique_ptr<Proc> proc;
  std::uint16_t port = 0;
  std::string token = "rt-token";
  std::string store = "fs";
  int chunk_delay_ms = 5;
  int heartbeat_ms = 0;  // 0: the runtime's default
  bool start() {
    std::string hb = heartbeat_ms ? "heartbeat_interval_ms = " + std::to_string(heartbeat_ms) + "\n" : "";
    auto cfg = dir.file("rt.toml", "[runtime]\nid = \"upstream\"\nfsync = \"always\"\n" + hb +
                                   "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                                   "echo_chunk_delay_ms = " + std::to_string(chunk_delay_ms) + "\n");
    auto tok = dir.file("token", token);
    std::vector<std::string> argv{runtime_binary(), "--listen", "127.0.0.1:" + std::to_string(port), "--config",
                                  cfg, "--token-file", tok, "--store", store, "--log-level", "warn"};
    if (store == "fs") {
      argv.push_back("--data-dir");
      argv.push_back((dir.path / "data").string());
    }
    proc = std::make_unique<Proc>(argv);
    port = proc->wait_ready("yoi-runtime listening on ");
    if (!port) ADD_FAILURE() << "yoi-runtime did not start: " << proc->stderr_text();
    return port != 0;
  }
  void kill() {
    if (!proc) return;
    proc->signal(SIGKILL);
    proc->wait_exit(10s);
    proc.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  net::test::Fields auth() const { return {{"Authorization", "Bearer " + token}}; }
  // Starts a run on `wid` directly at the runtime.
  void input(const std::string& wid, const std::string& content) {
    HttpClient c("127.0.0.1", port);
    auto r = c.request("POST", "/v1/workers/" + wid + "/input", "{\"content\":\"" + content + "\"}", auth());
    EXPECT_EQ(r.status, 202) << r.body;
  }
  void create(const std::string& wid) {
    HttpClient c("127.0.0.1", port);
    auto r = c.request("POST", "/v1/workers", "{\"worker_id\":\"" + wid + "\"}", auth());
    EXPECT_EQ(r.status, 201) << r.body;
  }
  // The runtime's open observation streams (its /metrics gauge).
  int open_streams() {
    HttpClient c("127.0.0.1", port);
    auto r = c.request("GET", "/metrics", {}, auth());
    auto at = r.body.find("\nyoi_runtime_streams_open ");
    if (at == std::string::npos) return -1;
    return std::atoi(r.body.c_str() + at + std::strlen("\nyoi_runtime_streams_open "));
  }
};

class DenyStreams final : public Policy {
 public:
  Result<void> check(const PolicyRequest& r) const override {
    if (r.op == ApiOp::stream) return fail(Code::unauthorized, "streams are denied by policy");
    return {};
  }
  std::optional<std::string> filter_event(std::string_view, std::string_view, std::string json) const override {
    return json;
  }
};

// A real source passed through: decorators override what they change.
class ForwardingSource : public Source {
 public:
  explicit ForwardingSource(std::unique_ptr<Source> s) : s_(std::move(s)) {}

  const std::string& id() const override { return s_->id(); }
  std::string_view kind() const override { return s_->kind(); }
  void info(bool refresh, std::function<void(RuntimeInfo)> done) override { s_->info(refresh, std::move(done)); }
  std::optional<rt::Limits> limits() const override { return s_->limits(); }
  void create(rt::CreateWorker r, Callback<rt::WorkerDetail> done) override { s_->create(std::move(r), std::move(done)); }
  void list(rt::ListWorkers r, Callback<rt::WorkerPage> done) override { s_->list(std::move(r), std::move(done)); }
  void detail(std::string w, Callback<rt::WorkerDetail> done) override { s_->detail(std::move(w), std::move(done)); }
  void input(std::string w, rt::Input r, Callback<rt::InputAccepted> done) override {
    s_->input(std::move(w), std::move(r), std::move(done));
  }
  void cancel(std::string w, std::optional<std::string> why, Callback<rt::CancelResult> done) override {
    s_->cancel(std::move(w), std::move(why), std::move(done));
  }
  void stop(std::string w, std::optional<std::string> why, Callback<rt::WorkerDetail> done) override {
    s_->stop(std::move(w), std::move(why), std::move(done));
  }
  void remove(std::string w, Callback<void> done) override { s_->remove(std::move(w), std::move(done)); }
  void put_bundle(std::string d, boost::json::object b, Callback<rt::BundlePut> done) override {
    s_->put_bundle(std::move(d), std::move(b), std::move(done));
  }
  void bundles(Callback<std::vector<rt::BundleInfo>> done) override { s_->bundles(std::move(done)); }
  void approve(std::string w, std::string call, rt::ApprovalDecision d, Callback<rt::ApprovalOutcome> done) override {
    s_->approve(std::move(w), std::move(call), std::move(d), std::move(done));
  }
  void transcript(std::string w, std::uint64_t start, std::size_t limit, Callback<rt::TranscriptPage> done) override {
    s_->transcript(std::move(w), start, limit, std::move(done));
  }
  void events(std::string w, std::optional<Position> after, std::size_t limit,
              Callback<SourceEventPage> done) override {
    s_->events(std::move(w), std::move(after), limit, std::move(done));
  }
  std::unique_ptr<EventStream> event_stream(std::string w, const StreamOptions& o) override {
    return s_->event_stream(std::move(w), o);
  }
  void close() override { s_->close(); }

 protected:
  std::unique_ptr<Source> s_;
};

// A real source whose event streams fail their first one-shot snapshot, as a
// remote one does while its runtime is away for a moment; counts them.
class FirstSnapshotFails final : public ForwardingSource {
 public:
  using ForwardingSource::ForwardingSource;
  std::atomic<int> snapshots{0};

  std::unique_ptr<EventStream> event_stream(std::string w, const StreamOptions& o) override {
    return std::make_unique<Stream>(s_->event_stream(std::move(w), o), *this);
  }

 private:
  struct Stream final : EventStream {
    Stream(std::unique_ptr<EventStream> u, FirstSnapshotFails& s) : up(std::move(u)), src(s) {}
    void connect(std::optional<Position> after, StreamHandlers h) override { up->connect(std::move(after), std::move(h)); }
    void disconnect() override { up->disconnect(); }
    void snapshot(std::function<void(Result<StreamSnapshot>)> done) override {
      if (src.snapshots++ > 0) return up->snapshot(std::move(done));
      up->snapshot([done = std::move(done)](Result<StreamSnapshot>) {
        done(fail(Code::runtime_unavailable, "the runtime is away"));
      });
    }
    std::unique_ptr<EventStream> up;
    FirstSnapshotFails& src;
  };
};

// A real source whose polling pages are held until the test lets them go
// (allow(), on the io thread), whenever the source answers.
class GatedPages final : public ForwardingSource {
 public:
  using ForwardingSource::ForwardingSource;
  std::atomic<int> asked{0};

  void events(std::string w, std::optional<Position> after, std::size_t limit,
              Callback<SourceEventPage> done) override {
    ++asked;
    s_->events(std::move(w), std::move(after), limit, [this, done = std::move(done)](Result<SourceEventPage> p) {
      held_.push_back([done, p = std::move(p)]() mutable { done(std::move(p)); });
      flush();
    });
  }
  // Lets `n` more pages through (those held first).
  void allow(std::size_t n) {
    allowed_ = n > SIZE_MAX - allowed_ ? SIZE_MAX : allowed_ + n;
    flush();
  }

 private:
  void flush() {
    while (allowed_ > 0 && !held_.empty()) {
      auto answer = std::move(held_.front());
      held_.pop_front();
      --allowed_;
      answer();
    }
  }
  std::size_t allowed_ = 0;
  std::deque<std::function<void()>> held_;
};

// An in-process backend (registry + hub + HTTP server) on its own io thread.
struct Backend {
  asio::io_context io;
  std::unique_ptr<rt::Runtime> runtime;  // outlives the registry and the hub
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  RuntimeRegistry registry{io};
  CursorCodec cursors;
  ObserveOptions opts;
  std::unique_ptr<ObservationHub> hub;
  std::unique_ptr<net::HttpServer> server;
  std::thread thread;
  std::uint16_t port = 0;

  explicit Backend(std::string key = "backend-secret-one") : cursors(Secret(std::move(key))) {
    opts.heartbeat = 300ms;
    opts.grace = 300ms;
    opts.backoff.initial = 50ms;
    opts.backoff.max = 400ms;
  }

  // `wrap`: a decorator around the embedded source (fault injection).
  void add_embedded(int chunk_delay_ms = 2, std::size_t chunk_bytes = 1,
                    std::function<std::unique_ptr<Source>(std::unique_ptr<Source>)> wrap = {}) {
    rt::RuntimeOptions ro;
    engines::ProfileConfig p;
    p.echo_chunk_bytes = chunk_bytes;
    p.echo_chunk_delay = std::chrono::milliseconds(chunk_delay_ms);
    ro.profiles.push_back(p);
    auto r = rt::Runtime::open(io, ro, store::make_memory_store(io, {}));
    ASSERT_TRUE(r) << r.error().message;
    runtime = std::move(*r);
    auto source = make_embedded_source(io, *runtime, "local");
    if (wrap) source = wrap(std::move(source));
    ASSERT_TRUE(registry.add(std::move(source)));
  }
  void add_remote(const std::string& id, const RtProc& rp, std::optional<std::string> url = std::nullopt,
                  std::string ca_file = {}) {
    RemoteConfig rc;
    rc.id = id;
    rc.base_url = Secret(url.value_or(rp.url()));
    rc.token = Secret(rp.token);
    rc.ca_file = std::move(ca_file);
    rc.timeout = 2s;
    rc.connect_timeout = 1s;
    rc.probe_interval = 0ms;
    auto s = make_remote_source(io, std::move(rc));
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(registry.add(std::move(*s)));
  }

  // The hub streams every runtime of the registry: nothing to register.
  void start() {
    hub = std::make_unique<ObservationHub>(io, registry, cursors, opts);
    net::Router router;
    hub->add_routes(router);
    net::ServerOptions so;
    server = std::make_unique<net::HttpServer>(io, std::move(router), so);
    ASSERT_TRUE(server->start());
    port = server->port();
    guard.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
  }

  // Runs `fn` on the io thread and waits (deadline 10 s).
  template <class F>
  auto call(F fn) -> decltype(fn()) {
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
    if (fut.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "io thread did not answer within 10 s";
      std::abort();
    }
    return fut.get();
  }

  void create_local(const std::string& wid) {
    std::promise<bool> p;
    auto fut = p.get_future();
    asio::post(io, [&] {
      rt::CreateWorker c;
      c.worker_id = wid;
      runtime->create(c, [&](Result<rt::WorkerDetail> d) { p.set_value(static_cast<bool>(d)); });
    });
    ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(fut.get());
  }
  void input_local(const std::string& wid, const std::string& content) {
    asio::post(io, [this, wid, content] {
      runtime->input(wid, rt::Input{content, std::nullopt}, [](Result<rt::InputAccepted> a) {
        if (!a) ADD_FAILURE() << "input failed: " << a.error().message;
      });
    });
  }
  void stop_local(const std::string& wid) {
    asio::post(io, [this, wid] { runtime->stop(wid, std::nullopt, [](Result<rt::WorkerDetail>) {}); });
  }
  ObserveStats stats() {
    return call([this] { return hub->stats(); });
  }
  WsClient client() { return WsClient("127.0.0.1", port); }

  // Streams first, then the server (its `done` says every connection is
  // gone), then the sources, then the io thread.
  ~Backend() {
    if (thread.joinable()) {
      auto server_gone = std::make_shared<std::promise<void>>();
      auto gone = server_gone->get_future();
      call([&] {
        hub->close();
        server->shutdown(200ms, [server_gone] { server_gone->set_value(); });
      });
      if (gone.wait_for(10s) != std::future_status::ready) ADD_FAILURE() << "the server did not shut down within 10 s";
      call([this] { registry.close(); });
      guard.reset();
      io.stop();
      thread.join();
    }
  }
};

// `be` started with an embedded runtime, worker `wid` created there and a
// client watching it, past its first frame, the snapshot (`snap`; empty
// when it did not come).
struct Watch {
  WsClient ws;
  std::optional<Frame> snap;
};
Watch start_watching(Backend& be, const std::string& wid) {
  be.add_embedded(0);
  be.start();
  be.create_local(wid);
  Watch w{be.client(), std::nullopt};
  if (!w.ws.connect(events_ws("local", wid)).ok) return w;
  w.snap = read_until(w.ws, [](const Frame& f) { return f.type == "snapshot"; }, 5s);
  return w;
}

// Two clients watching embedded worker `wid`, past their snapshots: `fast`
// reads at once; `slow` has a 2 KB receive buffer, so its position falls
// behind the ring once the kernel's buffers are full. `snap`: the slow one's
// snapshot (empty when a step failed).
struct FastAndSlow {
  WsClient fast;
  WsClient slow;
  std::optional<Frame> snap;
};
// Starts `be` (its embedded runtime added) and creates `wid` first.
FastAndSlow watch_fast_and_slow(Backend& be, const std::string& wid) {
  be.start();
  be.create_local(wid);
  auto is_snapshot = [](const Frame& f) { return f.type == "snapshot"; };
  FastAndSlow w{be.client(), be.client(), std::nullopt};
  if (!w.fast.connect(events_ws("local", wid)).ok || !read_until(w.fast, is_snapshot, 5s)) return w;
  w.slow.set_receive_buffer(2048);
  if (!w.slow.connect(events_ws("local", wid)).ok) return w;
  w.snap = read_until(w.slow, is_snapshot, 5s);
  return w;
}

std::string content(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

// ---------------------------------------------------------------- unit

TEST(ObserveCursor, ForeignAndOtherWorkerCursorsDoNotDecode) {
  CursorCodec a(Secret("secret-a")), b(Secret("secret-b"));
  auto c = a.encode("local", "w1", Position{"ep", 7});
  EXPECT_TRUE(a.decode("local", "w1", c));
  EXPECT_FALSE(b.decode("local", "w1", c));
  EXPECT_FALSE(a.decode("local", "w2", c));
}

// ---------------------------------------------------------------- embedded

TEST(ObserveEmbedded, SnapshotFirstThenEventsThenResumeStrictlyAfter) {
  Backend be;
  be.add_embedded();
  be.start();
  be.create_local("w1");
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("local", "w1")).ok);
  auto snap = read_until(ws, [](const Frame& f) { return true; }, 5s);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->type, "snapshot");
  EXPECT_EQ(json::str_or_empty(snap->obj, "runtime_id"), "local");
  EXPECT_TRUE(snap->cursor.starts_with("b1.")) << "backend cursor expected: " << snap->cursor;

  be.input_local("w1", "hello");
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s, &seen)) << "no run_finished";
  auto seqs = event_seqs(seen);
  ASSERT_FALSE(seqs.empty());
  expect_contiguous(seqs, snap->seq + 1);
  // Each event's cursor is its own position's, whether the relay wrote its
  // frame's head when the event came or ahead of it (Feed::prepare_next_frame).
  const auto epoch = be.call([&] { return be.runtime->snapshot("w1")->epoch; });
  for (const auto& f : seen) {
    if (f.type == "event") {
      EXPECT_EQ(f.cursor, be.cursors.encode("local", "w1", Position{epoch, f.seq})) << "seq " << f.seq;
    }
  }
  ws.close();

  // Resume from the middle: strictly after it, no snapshot.
  const Frame* mid = nullptr;
  for (const auto& f : seen)
    if (f.type == "event" && f.seq == seqs[seqs.size() / 2]) mid = &f;
  ASSERT_TRUE(mid);
  auto ws2 = be.client();
  ASSERT_TRUE(ws2.connect(events_ws("local", "w1", mid->cursor)).ok);
  std::vector<Frame> seen2;
  ASSERT_TRUE(read_until(ws2, is_run_finished, 10s, &seen2));
  ASSERT_EQ(seen2.front().type, "event");
  EXPECT_EQ(seen2.front().seq, mid->seq + 1);
  expect_contiguous(event_seqs(seen2), mid->seq + 1);

  // Idle: a heartbeat carries the current backend cursor (that of the last
  // event, e.g. the status change after run_finished).
  auto hb = read_until(ws2, [](const Frame& f) { return f.type == "heartbeat"; }, 5s, &seen2);
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->seq, event_seqs(seen2).back());
  EXPECT_EQ(hb->cursor, be.cursors.encode("local", "w1", Position{be.call([&] { return be.runtime->snapshot("w1")->epoch; }),
                                                                   event_seqs(seen2).back()}));
  EXPECT_TRUE(hb->cursor.starts_with("b1."));
}

TEST(ObserveEmbedded, TamperedForeignAndOtherWorkerCursorsAreInvalid) {
  Backend be;
  be.add_embedded();
  be.start();
  be.create_local("w1");
  be.create_local("w2");
  CursorCodec foreign(Secret("another-secret"));
  auto good = be.cursors.encode("local", "w1", Position{be.call([&] { return be.runtime->snapshot("w1")->epoch; }), 1});
  std::string tampered = good;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  std::vector<std::string> bad{tampered, foreign.encode("local", "w1", Position{"x", 1}),
                               be.cursors.encode("local", "w2", Position{"x", 1}), "r1.garbage"};
  for (const auto& c : bad) {
    auto ws = be.client();
    ASSERT_TRUE(ws.connect(events_ws("local", "w1", c)).ok);
    auto d = read_until(ws, [](const Frame&) { return true; }, 5s);
    ASSERT_TRUE(d) << c;
    EXPECT_EQ(d->type, "diagnostic");
    EXPECT_EQ(d->code, "cursor_invalid") << c;
    EXPECT_EQ(d->action, "resync");
    auto s = read_until(ws, [](const Frame&) { return true; }, 5s);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->type, "snapshot");
  }
  // The good one resumes without a snapshot.
  be.input_local("w1", "hi");
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("local", "w1", good)).ok);
  auto first = read_until(ws, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, "event");
  EXPECT_EQ(first->seq, 2u);
}

TEST(ObserveEmbedded, ClientDataIsObservationOnlyAndDenyPolicyBlocksTheStream) {
  Backend be;
  be.add_embedded();
  be.start();
  be.create_local("w1");
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("local", "w1")).ok);
  ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 5s));
  ASSERT_TRUE(ws.send("hello?"));
  auto d = read_until(ws, [](const Frame& f) { return f.type == "diagnostic"; }, 5s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->code, "observation_only");
  read_until(ws, [](const Frame&) { return false; }, 2s);
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1008);

  be.call([&] { be.registry.set_policy(std::make_shared<DenyStreams>()); });
  auto ws2 = be.client();
  auto hs = ws2.connect(events_ws("local", "w1"));
  EXPECT_FALSE(hs.ok);
  EXPECT_EQ(hs.status, 401);
  EXPECT_NE(hs.body.find("denied by policy"), std::string::npos) << hs.body;

  // Unknown runtime and bad ids are refused before any stream exists.
  be.call([&] { be.registry.set_policy(pass_through_policy()); });
  auto ws3 = be.client();
  EXPECT_EQ(ws3.connect(events_ws("nope", "w1")).status, 404);
}

TEST(ObserveEmbedded, StoppedWorkerEndsTheStreamAfterTheFinalEvents) {
  Backend be;
  be.add_embedded();
  be.start();
  be.create_local("w1");
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("local", "w1")).ok);
  ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 5s));
  be.stop_local("w1");
  std::vector<Frame> seen;
  auto d = read_until(ws, [](const Frame& f) { return f.type == "diagnostic"; }, 5s, &seen);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->code, "worker_stopped");
  bool saw_stop_event = false;
  for (const auto& f : seen) saw_stop_event |= f.event_type == "worker_stopped";
  EXPECT_TRUE(saw_stop_event);
  read_until(ws, [](const Frame&) { return false; }, 2s);
  EXPECT_TRUE(ws.closed());
}

TEST(ObserveEmbedded, ManyClientsShareOneFeedAndTheFeedIsDroppedAfterGrace) {
  Backend be;
  be.add_embedded();
  be.start();
  be.create_local("w1");
  std::vector<WsClient> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(be.client());
    ASSERT_TRUE(clients.back().connect(events_ws("local", "w1")).ok);
  }
  for (auto& c : clients) ASSERT_TRUE(read_until(c, [](const Frame& f) { return f.type == "snapshot"; }, 5s));
  auto s = be.stats();
  EXPECT_EQ(s.feeds, 1u);
  EXPECT_EQ(s.clients, 20u);
  EXPECT_EQ(s.upstream_connects, 1u);
  be.input_local("w1", "abc");
  for (auto& c : clients) ASSERT_TRUE(read_until(c, is_run_finished, 10s));
  for (auto& c : clients) c.close();
  auto end = std::chrono::steady_clock::now() + 5s;
  while (be.stats().feeds != 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(be.stats().feeds, 0u) << "the upstream was not dropped after the grace period";
}

TEST(ObserveEmbedded, ClientBehindTheRingIsCaughtUpByPolling) {
  Backend be;
  be.opts.ring_events = 8;
  // A watcher keeps the feed (and its small ring) alive.
  auto [watcher, snap] = start_watching(be, "w1");
  ASSERT_TRUE(snap);
  be.input_local("w1", content(100));
  std::vector<Frame> all;
  ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &all));
  // A late client resumes from the first event: far behind the ring.
  auto late = be.client();
  ASSERT_TRUE(late.connect(events_ws("local", "w1", snap->cursor)).ok);
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(late, is_run_finished, 10s, &seen));
  EXPECT_EQ(event_seqs(seen), event_seqs(all));
  EXPECT_GT(be.stats().catchup_pages, 0u);
}

// Every event's frame is larger than the ring's byte bound: the ring keeps
// the newest one whatever its size (the rest of a burst is caught up by
// polling), and a watching client gets every event in order.
TEST(ObserveEmbedded, EventsLargerThanTheRingsByteBoundStillReachTheClient) {
  Backend be;
  be.opts.ring_bytes = 64;
  auto [watcher, snap] = start_watching(be, "w1");
  ASSERT_TRUE(snap);
  be.input_local("w1", content(300));
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &seen));
  auto seqs = event_seqs(seen);
  ASSERT_FALSE(seqs.empty());
  expect_contiguous(seqs, snap->seq + 1);
}

TEST(ObserveEmbedded, LateClientWithoutCursorGetsAFreshSnapshotWhenTheRingMovedOn) {
  Backend be;
  be.opts.ring_events = 8;
  auto [watcher, first] = start_watching(be, "w1");
  ASSERT_TRUE(first);
  be.input_local("w1", content(50));
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &seen));
  read_until(watcher, [](const Frame& f) { return f.type == "heartbeat"; }, 5s, &seen);
  auto head = event_seqs(seen).back();
  auto late = be.client();
  ASSERT_TRUE(late.connect(events_ws("local", "w1")).ok);
  auto snap = read_until(late, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->type, "snapshot");
  EXPECT_EQ(snap->seq, head) << "the first snapshot (seq " << first->seq << ") is older than the ring";
  auto* tail = snap->obj.if_contains("transcript_tail");
  ASSERT_TRUE(tail && tail->is_array());
  EXPECT_EQ(tail->as_array().size(), 2u);  // the input and the reply
}

// A client that reads far slower than the worker produces: once the socket
// buffers are full its position falls behind the ring, catch-up pages do not
// gain on the head, and it gets subscriber_lagged. Big frames (200 KB runs in
// 8 KB deltas) so the kernel's buffers hold few of them.
TEST(ObserveEmbedded, SlowClientGetsSubscriberLaggedOthersUnaffected) {
  Backend be;
  be.opts.ring_events = 16;
  be.opts.catchup_page = 4;
  be.opts.lag_timeout = 1s;
  be.add_embedded(2, 8192);
  auto w = watch_fast_and_slow(be, "w1");
  ASSERT_TRUE(w.snap);

  // Producer: back-to-back runs, each observed complete by the fast client.
  std::atomic<bool> stop{false};
  std::atomic<int> runs{0};
  std::atomic<bool> fast_ok{true};
  std::thread producer([&] {
    while (!stop) {
      be.input_local("w1", content(200 * 1024));
      std::vector<Frame> seen;
      if (!read_until(w.fast, is_run_finished, 20s, &seen)) {
        fast_ok = false;
        return;
      }
      auto seqs = event_seqs(seen);
      for (std::size_t i = 1; i < seqs.size(); ++i)
        if (seqs[i] != seqs[i - 1] + 1) fast_ok = false;
      ++runs;
    }
  });
  std::optional<Frame> lagged;
  std::string last_cursor = w.snap->cursor;
  auto end = std::chrono::steady_clock::now() + 60s;
  while (!lagged && std::chrono::steady_clock::now() < end) {
    auto t = w.slow.read(5s);
    if (!t) break;
    auto f = parse_frame(*t);
    ASSERT_TRUE(f);
    if (f->type == "diagnostic" && f->code == "subscriber_lagged") {
      lagged = f;
    } else if (!f->cursor.empty()) {
      last_cursor = f->cursor;
    }
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  producer.join();
  ASSERT_TRUE(lagged) << "no subscriber_lagged after " << runs << " runs";
  EXPECT_EQ(lagged->action, "retry");
  read_until(w.slow, [](const Frame&) { return false; }, 3s);
  EXPECT_TRUE(w.slow.closed());
  EXPECT_EQ(w.slow.close_code(), 1008);
  EXPECT_TRUE(fast_ok) << "the fast client was disturbed";
  EXPECT_GE(be.stats().lagged, 1u);
  // The lagged one resumes with its last cursor: events strictly after it.
  auto again = be.client();
  ASSERT_TRUE(again.connect(events_ws("local", "w1", last_cursor)).ok);
  auto first = read_until(again, [](const Frame&) { return true; }, 10s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, "event");
}

// A burst faster than the client is not lag. Sixteen back-to-back runs of
// 100 deltas of 2 KB at ~1,000 events/s (~1.7 s), a client reading ~300
// frames/s: past what the socket buffers hold it falls behind the 16-event
// ring, and its catch-up pages (4 events) do not gain on the head while the
// burst lasts (~100 pages), then gain once it is over. It gets every event,
// in order, as from the runtime directly. A count of pages without gain
// (the rule before: 64) closed such a client mid-burst with
// subscriber_lagged. The lag timeout is the default.
TEST(ObserveEmbedded, BurstFasterThanTheClientIsCaughtUpWhole) {
  Backend be;
  be.opts.ring_events = 16;
  be.opts.catchup_page = 4;
  be.add_embedded(1, 2048);
  auto w = watch_fast_and_slow(be, "w1");
  ASSERT_TRUE(w.snap);

  constexpr int kRuns = 16;
  std::atomic<bool> produced{true};
  std::thread producer([&] {
    for (int i = 0; i < kRuns && produced; ++i) {
      be.input_local("w1", content(200 * 1024));
      if (!read_until(w.fast, is_run_finished, 20s)) produced = false;
    }
  });
  int finished = 0;
  auto slow_reader = [&finished](const Frame& f) {
    std::this_thread::sleep_for(3ms);
    if (is_run_finished(f)) ++finished;
    return finished == kRuns || f.type == "diagnostic";
  };
  std::vector<Frame> seen;
  auto last = read_until(w.slow, slow_reader, 60s, &seen);
  producer.join();
  ASSERT_TRUE(produced) << "the fast client did not see the runs";
  ASSERT_TRUE(last) << "the stream ended after " << seen.size() << " frames";
  ASSERT_EQ(last->type, "event") << last->code << ": " << json::str_or_empty(last->obj, "message");
  auto seqs = event_seqs(seen);
  ASSERT_GE(seqs.size(), kRuns * 100u);
  expect_contiguous(seqs, w.snap->seq + 1);
  auto s = be.stats();
  EXPECT_GT(s.catchup_pages, 50u) << "the client never fell far behind the ring: the test did not test";
  EXPECT_EQ(s.lagged, 0u);
}

// A client behind the ring by far more than two pages of `chunk_bytes`
// events (64 a page, a 16-event ring), which stops reading once its first
// page is asked: that page cannot drain into its socket. Then the first page
// is let through, and the test looks whether the next was asked ahead
// (`ahead`: within 5 s; else it must not be within 1 s). Then everything
// flows, and the client gets every event in order.
void catch_up_far_behind(std::size_t chunk_bytes, int runs, bool ahead) {
  Backend be;
  be.opts.ring_events = 16;
  be.opts.catchup_page = 64;
  GatedPages* gate = nullptr;
  be.add_embedded(0, chunk_bytes, [&gate](std::unique_ptr<Source> s) {
    auto g = std::make_unique<GatedPages>(std::move(s));
    gate = g.get();
    return g;
  });
  auto w = watch_fast_and_slow(be, "w1");
  ASSERT_TRUE(w.snap);
  // Runs of 200 KB (8 MB or more in all, twice the most the kernel buffers
  // a socket with) while the slow client does not read.
  for (int i = 0; i < runs; ++i) {
    be.input_local("w1", content(200 * 1024));
    ASSERT_TRUE(read_until(w.fast, is_run_finished, 20s)) << "run " << i;
  }
  // Reading frees room: the writer pulls, finds the client behind the ring,
  // and asks for a page.
  std::vector<Frame> seen;
  auto asked_at = std::chrono::steady_clock::now() + 10s;
  while (gate->asked == 0 && std::chrono::steady_clock::now() < asked_at)
    read_until(w.slow, [](const Frame&) { return true; }, 100ms, &seen);
  ASSERT_EQ(gate->asked, 1) << "the client never asked for a catch-up page";
  be.call([&] { gate->allow(1); });
  auto until = std::chrono::steady_clock::now() + (ahead ? 5s : 1s);
  while (gate->asked < 2 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(gate->asked, ahead ? 2 : 1) << (ahead ? "the next page was not asked while the first drained"
                                                  : "a page bigger than the ring had the next asked ahead");

  be.call([&] { gate->allow(SIZE_MAX); });
  int finished = 0;
  for (const auto& f : seen) finished += is_run_finished(f);
  if (finished < runs) {
    ASSERT_TRUE(read_until(w.slow, [&](const Frame& f) { return is_run_finished(f) && ++finished == runs; }, 30s,
                           &seen))
        << finished << " runs seen";
  }
  expect_contiguous(event_seqs(seen), w.snap->seq + 1);
}

// While a client drains a catch-up page, the next one is already asked, so
// the runtime's round trip overlaps the client's writes: a page of 64 events
// (8 KB deltas and two 200 KB replies, 1.2 MB).
TEST(ObserveEmbedded, TheNextCatchupPageIsAskedWhileOneDrains) { catch_up_far_behind(8192, 40, true); }

// ... but not after a page of more bytes than the ring may hold (4 MiB; 64
// events, a third of them 200 KB): a client behind the ring holds two pages
// at most, and the first of them no bigger than the ring.
TEST(ObserveEmbedded, APageBiggerThanTheRingDoesNotAskTheNextAhead) { catch_up_far_behind(256 * 1024, 40, false); }

TEST(ObserveEmbedded, NeverReadingClientDoesNotDelayOthers) {
  Backend be;
  be.add_embedded(0);
  be.start();
  be.create_local("w1");
  auto stalled = be.client();
  stalled.set_receive_buffer(4096);
  ASSERT_TRUE(stalled.connect(events_ws("local", "w1")).ok);
  auto reader = be.client();
  ASSERT_TRUE(reader.connect(events_ws("local", "w1")).ok);
  ASSERT_TRUE(read_until(reader, [](const Frame& f) { return f.type == "snapshot"; }, 5s));
  for (int i = 0; i < 10; ++i) {
    be.input_local("w1", content(1000));
    std::vector<Frame> seen;
    ASSERT_TRUE(read_until(reader, is_run_finished, 15s, &seen)) << "run " << i;
  }
  // The stalled client holds nothing but a position: the ring is bounded.
  auto s = be.stats();
  EXPECT_EQ(s.clients, 2u);
  EXPECT_EQ(s.lagged, 0u);
}

// A client connecting after the worker stopped: its snapshot is the state
// now (seq `head`, stopped, 3 runs), then worker_stopped with no events the
// snapshot already covers. `first_seq`: the feed's first snapshot, for the message.
void expect_late_client_sees_the_stopped_worker(Backend& be, const std::string& rid, std::uint64_t head,
                                                std::uint64_t first_seq) {
  auto late = be.client();
  ASSERT_TRUE(late.connect(events_ws(rid, "w1")).ok);
  std::vector<Frame> after;
  auto snap = read_until(late, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->type, "snapshot");
  EXPECT_EQ(snap->seq, head) << "the feed's first snapshot was seq " << first_seq;
  auto* w = snap->obj.if_contains("worker");
  ASSERT_TRUE(w && w->is_object());
  EXPECT_EQ(json::str_or_empty(w->as_object(), "status"), "stopped");
  EXPECT_EQ(w->as_object().at("run_count").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(json::str_or_empty(snap->obj, "runtime_id"), rid);
  auto end = read_until(late, [](const Frame& f) { return f.type == "diagnostic"; }, 5s, &after);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->code, "worker_stopped");
  EXPECT_TRUE(event_seqs(after).empty()) << "events the snapshot already covers were replayed";
}

// Issue 18: right after a stop, a new client got the snapshot the feed took
// when its upstream opened (seq 1, run_count 0, "idle") whenever the feed
// was still alive (another client, or within the grace period), then the
// whole ring replayed. A snapshot is as of the moment the client connects.
TEST(ObserveEmbedded, AttachAfterStopGetsTheCurrentSnapshotNotTheFeedsFirst) {
  Backend be;
  be.opts.grace = 10s;  // the feed outlives its only watcher, as in yoi-server
  be.add_embedded(0);
  be.start();
  be.create_local("w1");
  auto watcher = be.client();
  ASSERT_TRUE(watcher.connect(events_ws("local", "w1")).ok);
  auto first = read_until(watcher, [](const Frame& f) { return f.type == "snapshot"; }, 5s);
  ASSERT_TRUE(first);
  std::vector<Frame> seen;
  for (int i = 0; i < 3; ++i) {
    be.input_local("w1", "run" + std::to_string(i));
    ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &seen));
  }
  be.stop_local("w1");
  auto d = read_until(watcher, [](const Frame& f) { return f.type == "diagnostic"; }, 5s, &seen);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->code, "worker_stopped");
  auto head = event_seqs(seen).back();
  ASSERT_GT(head, first->seq);
  expect_late_client_sees_the_stopped_worker(be, "local", head, first->seq);
}

// Issue 18 (c): a failed one-shot snapshot left the feed not asking again
// until the upstream said something new, so a new client of an idle worker
// got neither a snapshot nor a heartbeat. It is asked again.
TEST(ObserveEmbedded, AttachAfterAFailedOneShotSnapshotStillGetsOne) {
  Backend be;
  be.opts.ring_events = 8;  // the feed's first snapshot is behind the ring: a one-shot is needed
  FirstSnapshotFails* source = nullptr;
  be.add_embedded(0, 1, [&](std::unique_ptr<Source> s) {
    auto w = std::make_unique<FirstSnapshotFails>(std::move(s));
    source = w.get();
    return w;
  });
  be.start();
  be.create_local("w1");
  auto watcher = be.client();
  ASSERT_TRUE(watcher.connect(events_ws("local", "w1")).ok);
  ASSERT_TRUE(read_until(watcher, [](const Frame& f) { return f.type == "snapshot"; }, 5s));
  be.input_local("w1", content(50));
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &seen));
  read_until(watcher, [](const Frame& f) { return f.type == "heartbeat"; }, 5s, &seen);
  auto head = event_seqs(seen).back();
  auto late = be.client();
  ASSERT_TRUE(late.connect(events_ws("local", "w1")).ok);
  auto snap = read_until(late, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(snap) << "no frame after a failed one-shot snapshot";
  EXPECT_EQ(snap->type, "snapshot");
  EXPECT_EQ(snap->seq, head);
  EXPECT_EQ(source->snapshots.load(), 2);
  EXPECT_EQ(be.stats().upstream_connects, 1u);
}

// ---------------------------------------------------------------- remote

TEST(ObserveRemote, SnapshotEventsAndOneUpstreamForManyClients) {
  RtProc rp;
  rp.store = "memory";
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  Backend be;
  be.add_remote("gpu", rp);
  be.start();
  std::vector<WsClient> clients;
  for (int i = 0; i < 200; ++i) {
    clients.push_back(be.client());
    ASSERT_TRUE(clients.back().connect(events_ws("gpu", "w1")).ok);
  }
  for (auto& c : clients) {
    auto s = read_until(c, [](const Frame& f) { return f.type == "snapshot"; }, 10s);
    ASSERT_TRUE(s);
    EXPECT_EQ(json::str_or_empty(s->obj, "runtime_id"), "gpu");
    EXPECT_TRUE(s->cursor.starts_with("b1.")) << "a runtime cursor reached a client";
  }
  EXPECT_EQ(rp.open_streams(), 1) << "clients of one worker must share one upstream";
  rp.input("w1", "hello");
  for (auto& c : clients) {
    std::vector<Frame> seen;
    ASSERT_TRUE(read_until(c, is_run_finished, 10s, &seen));
    expect_contiguous(event_seqs(seen), event_seqs(seen).front());
    for (const auto& f : seen) EXPECT_TRUE(f.cursor.starts_with("b1.")) << f.cursor;
  }
  EXPECT_EQ(rp.open_streams(), 1);
  for (auto& c : clients) c.close();
  auto end = std::chrono::steady_clock::now() + 5s;
  while (rp.open_streams() != 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rp.open_streams(), 0) << "upstream not dropped after the grace period";
}

// Issue 18 against a yoi-runtime: the same, with the one-shot snapshot a
// short upstream WebSocket.
// The upstream's idle check counts socket reads instead of re-arming a
// timer per read (issue 22). A runtime that says nothing for many idle
// timeouts but answers the pings keeps its one upstream: no reconnect, no
// runtime_unavailable, and its events still flow. (A runtime that answers
// nothing is lost: reliability's NetworkFault tests.)
TEST(ObserveRemote, QuietRuntimeThatAnswersPingsKeepsItsUpstream) {
  RtProc rp;
  rp.store = "memory";
  rp.heartbeat_ms = 60'000;  // silent for the whole test
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  Backend be;
  be.opts.upstream_idle_timeout = 400ms;
  be.add_remote("gpu", rp);
  be.start();
  auto c = be.client();
  ASSERT_TRUE(c.connect(events_ws("gpu", "w1")).ok);
  ASSERT_TRUE(read_until(c, [](const Frame& f) { return f.type == "snapshot"; }, 10s));
  std::vector<Frame> seen;
  read_until(c, [](const Frame&) { return false; }, 3s, &seen);  // ~7 idle timeouts of silence
  for (const auto& f : seen) EXPECT_NE(f.type, "diagnostic") << f.code;
  EXPECT_EQ(be.stats().upstream_connects, 1u) << "the quiet upstream was dropped";
  rp.input("w1", "hello");
  ASSERT_TRUE(read_until(c, is_run_finished, 10s));
  EXPECT_EQ(be.stats().upstream_connects, 1u);
}

// A runtime that accepts the upstream and then sends a frame yoi-server will
// not read (its snapshot, over max_upstream_frame) is retried with backoff:
// the backoff starts again once a connection delivered a snapshot or events, not at its
// handshake. It was every ~100 ms, each time runtime_unavailable and
// runtime_recovered to every client (found with 14 MB snapshots, session 9).
// Backend's backoff here: 50 ms doubling to 400 ms, so ~8 connections in 2 s
// (each delay drawn in [d/2, d]); reset at every handshake, ~50.
TEST(ObserveRemote, AnUpstreamFrameTooBigToReadIsRetriedWithBackoff) {
  RtProc rp;
  rp.store = "memory";
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  rp.input("w1", content(3000));  // the snapshot's transcript tail holds it: over 2 KB
  Backend be;
  be.opts.max_upstream_frame = 2048;
  be.add_remote("gpu", rp);
  be.start();
  auto c = be.client();
  ASSERT_TRUE(c.connect(events_ws("gpu", "w1")).ok);
  std::vector<Frame> seen;
  read_until(c, [](const Frame&) { return false; }, 2s, &seen);
  auto connects = be.stats().upstream_connects;
  EXPECT_GE(connects, 2u) << "the upstream was not retried";
  EXPECT_LE(connects, 15u) << "reconnected without backoff";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().code, "runtime_unavailable");
  for (const auto& f : seen) EXPECT_NE(f.type, "snapshot");
}

TEST(ObserveRemote, AttachAfterStopGetsTheCurrentSnapshotNotTheFeedsFirst) {
  RtProc rp;
  rp.store = "memory";
  rp.chunk_delay_ms = 0;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  Backend be;
  be.opts.grace = 10s;
  be.add_remote("gpu", rp);
  be.start();
  auto watcher = be.client();
  ASSERT_TRUE(watcher.connect(events_ws("gpu", "w1")).ok);
  auto first = read_until(watcher, [](const Frame& f) { return f.type == "snapshot"; }, 5s);
  ASSERT_TRUE(first);
  std::vector<Frame> seen;
  for (int i = 0; i < 3; ++i) {
    rp.input("w1", "run" + std::to_string(i));
    ASSERT_TRUE(read_until(watcher, is_run_finished, 10s, &seen));
  }
  {
    HttpClient c("127.0.0.1", rp.port);
    auto r = c.request("POST", "/v1/workers/w1/stop", "{}", rp.auth());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto d = read_until(watcher, [](const Frame& f) { return f.type == "diagnostic"; }, 5s, &seen);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->code, "worker_stopped");
  auto head = event_seqs(seen).back();
  expect_late_client_sees_the_stopped_worker(be, "gpu", head, first->seq);
}

TEST(ObserveRemote, KilledAndRestartedFsRuntimeResumesWithoutGapOrDuplicate) {
  RtProc rp;
  rp.store = "fs";
  rp.chunk_delay_ms = 10;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  Backend be;
  be.add_remote("gpu", rp);
  be.start();
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("gpu", "w1")).ok);
  auto snap = read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 10s);
  ASSERT_TRUE(snap);
  rp.input("w1", content(100));
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.event_type == "text_delta"; }, 10s, &seen));
  rp.kill();  // mid-run
  auto down = read_until(ws, [](const Frame& f) { return f.type == "diagnostic"; }, 10s, &seen);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->code, "runtime_unavailable");
  EXPECT_EQ(down->action, "wait");
  EXPECT_FALSE(ws.closed());
  std::this_thread::sleep_for(500ms);  // a few reconnect attempts fail
  ASSERT_TRUE(rp.start());             // same port, same data dir
  auto up = read_until(ws, [](const Frame& f) { return f.type == "diagnostic"; }, 15s, &seen);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->code, "runtime_recovered");
  // The interrupted run is closed by the runtime (run_finished failed), and a
  // new run streams through the same socket.
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s, &seen));
  rp.input("w1", "again");
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s, &seen));
  auto seqs = event_seqs(seen);
  expect_contiguous(seqs, snap->seq + 1);
  EXPECT_EQ(std::set<std::uint64_t>(seqs.begin(), seqs.end()).size(), seqs.size()) << "duplicates";
  EXPECT_EQ(rp.open_streams(), 1);
}

TEST(ObserveRemote, MemoryRuntimeRestartIsCursorUnknownAndASnapshot) {
  RtProc rp;
  rp.store = "memory";
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  Backend be;
  // Reconnect no sooner than 1 s, so the worker exists again in the new
  // history when the feed asks (else the runtime rightly says worker_not_found).
  be.opts.backoff.initial = 2000ms;
  be.opts.backoff.max = 2000ms;
  be.add_remote("gpu", rp);
  be.start();
  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("gpu", "w1")).ok);
  ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 10s));
  rp.input("w1", "abc");
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s));
  rp.kill();
  ASSERT_TRUE(rp.start());
  rp.create("w1");  // the worker again, in a new history
  std::vector<Frame> seen;
  auto d = read_until(ws, [](const Frame& f) { return f.code == "cursor_unknown"; }, 15s, &seen);
  ASSERT_TRUE(d) << "no cursor_unknown";
  EXPECT_EQ(d->action, "resync");
  auto s = read_until(ws, [](const Frame& f) { return f.type != "diagnostic"; }, 10s, &seen);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "snapshot");
  rp.input("w1", "new");
  std::vector<Frame> after;
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s, &after));
  expect_contiguous(event_seqs(after), s->seq + 1);
}

// An https runtime: nginx terminates TLS (a localhost certificate from a
// private CA) in front of a real yoi-runtime; yoi-server's upstream must do
// TLS with SNI and verification, then stream as over plain http.
struct TlsProxy {
  TmpDir dir;
  std::unique_ptr<Proc> proc;
  std::uint16_t port = 0;

  static std::string binary() {
    for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx"})
      if (::access(p, X_OK) == 0) return p;
    return {};
  }
  static std::uint16_t free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
  }
  bool start(std::uint16_t upstream_port) {
    auto bin = binary();
    if (bin.empty()) {
      ADD_FAILURE() << "nginx is not installed (scripts/setup installs it)";
      return false;
    }
    port = free_port();
    auto crt = dir.file("leaf.crt", engines::test::kLeafCertPem);
    auto key = dir.file("leaf.key", engines::test::kLeafKeyPem);
    auto conf = dir.file("nginx.conf", fmt::format(R"(
worker_processes 1;
error_log {0}/error.log warn;
pid {0}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {0}/body; proxy_temp_path {0}/proxy;
  fastcgi_temp_path {0}/fcgi; uwsgi_temp_path {0}/uwsgi; scgi_temp_path {0}/scgi;
  server {{
    listen 127.0.0.1:{1} ssl;
    ssl_certificate {2};
    ssl_certificate_key {3};
    location / {{
      proxy_pass http://127.0.0.1:{4};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3600s;
    }}
  }}
}}
)", dir.path.string(), port, crt, key, upstream_port));
    proc = std::make_unique<Proc>(std::vector<std::string>{bin, "-p", dir.path.string(), "-c", conf, "-g", "daemon off;"});
    // Ready when it accepts connections.
    auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      asio::io_context io;
      asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
      if (!ec) return true;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "nginx did not start: " << proc->stderr_text();
    return false;
  }
  ~TlsProxy() {
    if (proc) {
      proc->signal(SIGQUIT);
      if (!proc->wait_exit(5s)) proc->signal(SIGKILL);
    }
  }
};

TEST(ObserveRemote, HttpsRuntimeStreamsOverTlsWithVerification) {
  RtProc rp;
  rp.store = "memory";
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  TlsProxy tls;
  ASSERT_TRUE(tls.start(rp.port));
  TmpDir certs;
  auto ca = certs.file("ca.pem", engines::test::kTestCaPem);
  Backend be;
  be.add_remote("gpu", rp, "https://localhost:" + std::to_string(tls.port), ca);
  // The same runtime without the private CA: its certificate cannot verify.
  be.add_remote("untrusted", rp, "https://localhost:" + std::to_string(tls.port));
  be.start();

  auto ws = be.client();
  ASSERT_TRUE(ws.connect(events_ws("gpu", "w1")).ok);
  auto snap = read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 10s);
  ASSERT_TRUE(snap) << "no snapshot over the TLS upstream";
  EXPECT_TRUE(snap->cursor.starts_with("b1."));
  EXPECT_EQ(rp.open_streams(), 1) << "the upstream did not reach the runtime through the TLS proxy";
  rp.input("w1", "over tls");
  std::vector<Frame> seen;
  ASSERT_TRUE(read_until(ws, is_run_finished, 10s, &seen));
  expect_contiguous(event_seqs(seen), snap->seq + 1);

  auto bad = be.client();
  ASSERT_TRUE(bad.connect(events_ws("untrusted", "w1")).ok);
  auto d = read_until(bad, [](const Frame& f) { return f.type == "diagnostic"; }, 10s);
  ASSERT_TRUE(d) << "an unverifiable runtime certificate must not be accepted silently";
  EXPECT_EQ(d->code, "runtime_unavailable");
  EXPECT_EQ(d->action, "wait");
}

// The real yoi-server: restart it mid-stream; the client resumes with its
// last cursor on the new process (same data dir: same cursor secret).
TEST(ObserveProcess, RestartedServerResumesFromTheLastCursorWithoutGap) {
  RtProc rp;
  rp.store = "fs";
  rp.chunk_delay_ms = 5;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  TmpDir dir;
  auto tok = dir.file("rt.token", rp.token);
  auto cfg = dir.file("server.toml", "[embedded]\nenabled = false\n[[runtimes]]\nid = \"gpu\"\nbase_url = \"" +
                                         rp.url() + "\"\ntoken_file = \"" + tok + "\"\n");
  auto data = (dir.path / "data").string();
  auto start_server = [&] {
    auto p = std::make_unique<Proc>(std::vector<std::string>{server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config",
                                                             cfg, "--data-dir", data, "--log-level", "warn"});
    return p;
  };
  auto srv = start_server();
  auto port = srv->wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << srv->stderr_text();
  WsClient ws("127.0.0.1", port);
  ASSERT_TRUE(ws.connect(events_ws("gpu", "w1")).ok);
  auto snap = read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 10s);
  ASSERT_TRUE(snap);
  rp.input("w1", content(200));
  std::vector<Frame> seen;
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "event"; }, 10s, &seen));
  std::string last = seen.back().cursor;
  srv->signal(SIGKILL);
  srv->wait_exit(10s);
  srv = start_server();
  port = srv->wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << srv->stderr_text();
  WsClient ws2("127.0.0.1", port);
  ASSERT_TRUE(ws2.connect(events_ws("gpu", "w1", last)).ok);
  std::vector<Frame> rest;
  ASSERT_TRUE(read_until(ws2, is_run_finished, 15s, &rest));
  ASSERT_EQ(rest.front().type, "event") << "resume must not resync";
  EXPECT_EQ(rest.front().seq, seen.back().seq + 1);
  expect_contiguous(event_seqs(rest), seen.back().seq + 1);
}

// Two yoi-server processes sharing the cursor secret (same data dir key): a
// client moves from one to the other with its last cursor, without a gap.
// The second also needs a browser access token, given as the subprotocol.
TEST(ObserveProcess, TwoServersSharingASecretHandAClientOverWithoutGap) {
  RtProc rp;
  rp.store = "memory";
  rp.chunk_delay_ms = 5;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  TmpDir dir;
  auto tok = dir.file("rt.token", rp.token);
  auto access = dir.file("access.token", "browser-token-1");
  // Separate data dirs; the shared secret is the config's cursor key file.
  auto key = dir.file("cursor.key", "a-cursor-key-shared-by-both-servers");
  auto cfg = dir.file("server.toml", "[embedded]\nenabled = false\n[[runtimes]]\nid = \"gpu\"\nbase_url = \"" +
                                         rp.url() + "\"\ntoken_file = \"" + tok + "\"\n"
                                         "[observe]\ncursor_key_file = \"" + key + "\"\n");
  Proc a(std::vector<std::string>{server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
                                  (dir.path / "data-a").string(), "--log-level", "warn"});
  auto pa = a.wait_ready("yoi-server listening on ");
  ASSERT_NE(pa, 0) << a.stderr_text();
  Proc b(std::vector<std::string>{server_binary(), "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
                                  (dir.path / "data-b").string(), "--access-token-file", access, "--log-level", "warn"});
  auto pb = b.wait_ready("yoi-server listening on ");
  ASSERT_NE(pb, 0) << b.stderr_text();

  WsClient ws("127.0.0.1", pa);
  ASSERT_TRUE(ws.connect(events_ws("gpu", "w1")).ok);
  ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "snapshot"; }, 10s));
  rp.input("w1", content(100));
  std::vector<Frame> seen;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(read_until(ws, [](const Frame& f) { return f.type == "event"; }, 10s, &seen));
  {
    HttpClient http("127.0.0.1", pa);
    auto m = http.request("GET", "/metrics");
    EXPECT_NE(m.body.find("yoi_backend_stream_upstreams 1"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("yoi_backend_streams_open 1"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("yoi_backend_stream_catchup_pages "), std::string::npos) << m.body;
  }
  ws.close();

  // Without the token: refused. With it as the subprotocol: accepted.
  WsClient refused("127.0.0.1", pb);
  EXPECT_EQ(refused.connect(events_ws("gpu", "w1", seen.back().cursor)).status, 401);
  WsClient ws2("127.0.0.1", pb);
  auto hs = ws2.connect(events_ws("gpu", "w1", seen.back().cursor),
                        {{"Sec-WebSocket-Protocol", "yoi.v1, yoi-token.browser-token-1"}});
  ASSERT_TRUE(hs.ok) << hs.status << " " << hs.body << " " << hs.error;
  std::vector<Frame> rest;
  ASSERT_TRUE(read_until(ws2, is_run_finished, 15s, &rest));
  ASSERT_EQ(rest.front().type, "event") << "the other server must resume, not resync";
  expect_contiguous(event_seqs(rest), seen.back().seq + 1);
}

// RSS of yoi-server while a never-reading client watches a worker that
// streams many events: bounded.
long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  return -1;
}

TEST(ObserveProcess, NeverReadingClientCostsBoundedMemory) {
  RtProc rp;
  rp.store = "memory";
  rp.chunk_delay_ms = 0;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  TmpDir dir;
  auto tok = dir.file("rt.token", rp.token);
  auto cfg = dir.file("server.toml", "[embedded]\nenabled = false\n[[runtimes]]\nid = \"gpu\"\nbase_url = \"" +
                                         rp.url() + "\"\ntoken_file = \"" + tok + "\"\n");
  Proc srv(std::vector<std::string>{server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
                                    (dir.path / "data").string(), "--log-level", "warn"});
  auto port = srv.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << srv.stderr_text();
  WsClient stalled("127.0.0.1", port);
  stalled.set_receive_buffer(4096);
  ASSERT_TRUE(stalled.connect(events_ws("gpu", "w1")).ok);
  WsClient reader("127.0.0.1", port);
  ASSERT_TRUE(reader.connect(events_ws("gpu", "w1")).ok);
  ASSERT_TRUE(read_until(reader, [](const Frame& f) { return f.type == "snapshot"; }, 10s));
  rp.input("w1", content(2000));
  ASSERT_TRUE(read_until(reader, is_run_finished, 30s));
  long base = rss_kb(srv.pid());
  for (int i = 0; i < 10; ++i) {
    rp.input("w1", content(5000));
    ASSERT_TRUE(read_until(reader, is_run_finished, 60s)) << "run " << i;
  }
  long after = rss_kb(srv.pid());
  // 50k events (~5 MB of frames) passed; the stalled client may not hold them.
  if (yoi::testing::kRssMeaningful) {
    EXPECT_LT(after - base, 16 * 1024) << "RSS grew from " << base << " kB to " << after << " kB";
  }
}


// ---------------------------------------------------------------- deleting workers

// A registry operation run on the backend's io thread, awaited (10 s).
template <class T, class F>
Result<T> on_io(Backend& be, F start) {
  std::promise<Result<T>> p;
  auto fut = p.get_future();
  asio::post(be.io, [&] { start([&p](Result<T> r) { p.set_value(std::move(r)); }); });
  if (fut.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "registry operation did not answer within 10 s";
    std::abort();
  }
  return fut.get();
}

std::uint64_t run_count_of(const Frame& snap) {
  auto* w = snap.obj.if_contains("worker");
  auto* n = w && w->is_object() ? w->as_object().if_contains("run_count") : nullptr;
  return n ? n->to_number<std::uint64_t>() : 0;
}

std::string status_of(const Frame& snap) {
  auto* w = snap.obj.if_contains("worker");
  return w && w->is_object() ? std::string(json::str_or_empty(w->as_object(), "status")) : std::string();
}

// Worker w1 is watched until it stops, deleted through the registry and
// created again. Nothing of the old worker may reach a client of the new
// one: not the hub's stopped snapshot (its feed is still in its grace
// period), not its ring, and an old backend cursor answers cursor_unknown.
void expect_deleted_worker_never_serves_the_new_one(Backend& be, const std::string& rid) {
  auto create = [&] {
    rt::CreateWorker c;
    c.worker_id = "w1";
    return on_io<rt::WorkerDetail>(be, [&](auto cb) { be.registry.create(rid, c, cb); });
  };
  ASSERT_TRUE(create());
  // One run first, so the old worker's snapshots (run_count 1) cannot pass
  // for the new worker's (run_count 0).
  ASSERT_TRUE(on_io<rt::InputAccepted>(be, [&](auto cb) {
    be.registry.input(rid, "w1", rt::Input{"the old life", std::nullopt}, cb);
  }));
  auto watcher = be.client();
  ASSERT_TRUE(watcher.connect(events_ws(rid, "w1")).ok);
  auto first = read_until(watcher, [](const Frame& f) { return f.type == "snapshot"; }, 5s);
  ASSERT_TRUE(first);
  if (run_count_of(*first) == 1 && status_of(*first) == "running") {
    ASSERT_TRUE(read_until(watcher, is_run_finished, 10s));
  }
  ASSERT_TRUE(on_io<rt::WorkerDetail>(be, [&](auto cb) { be.registry.stop(rid, "w1", std::nullopt, cb); }));
  std::vector<Frame> seen;
  auto stopped = read_until(watcher, [](const Frame& f) { return f.type == "diagnostic"; }, 5s, &seen);
  ASSERT_TRUE(stopped);
  ASSERT_EQ(stopped->code, "worker_stopped");
  std::string old_event_cursor;
  for (const auto& f : seen)
    if (f.type == "event") old_event_cursor = f.cursor;
  ASSERT_FALSE(old_event_cursor.empty());

  auto removed = on_io<void>(be, [&](auto cb) { be.registry.remove(rid, "w1", cb); });
  ASSERT_TRUE(removed) << removed.error().message;
  ASSERT_TRUE(create());

  auto fresh = be.client();
  ASSERT_TRUE(fresh.connect(events_ws(rid, "w1")).ok);
  auto snap = read_until(fresh, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->type, "snapshot");
  EXPECT_EQ(status_of(*snap), "idle") << "a client of the new worker got the deleted worker's snapshot";
  EXPECT_EQ(run_count_of(*snap), 0u) << "a client of the new worker got the deleted worker's snapshot";
  EXPECT_NE(snap->cursor, first->cursor);
  EXPECT_EQ(snap->seq, 1u);

  for (const auto& old : {first->cursor, old_event_cursor}) {
    auto ws = be.client();
    ASSERT_TRUE(ws.connect(events_ws(rid, "w1", old)).ok);
    auto d = read_until(ws, [](const Frame&) { return true; }, 5s);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->type, "diagnostic");
    EXPECT_EQ(d->code, "cursor_unknown") << "an old cursor must never resume in the new worker's log";
    EXPECT_EQ(d->action, "resync");
    auto s2 = read_until(ws, [](const Frame&) { return true; }, 5s);
    ASSERT_TRUE(s2);
    EXPECT_EQ(s2->type, "snapshot");
    EXPECT_EQ(status_of(*s2), "idle");
    EXPECT_EQ(run_count_of(*s2), 0u);
  }

  // The new worker streams as its own: events from seq 2 on.
  ASSERT_TRUE(on_io<rt::InputAccepted>(be, [&](auto cb) {
    be.registry.input(rid, "w1", rt::Input{"hello again", std::nullopt}, cb);
  }));
  std::vector<Frame> after;
  ASSERT_TRUE(read_until(fresh, is_run_finished, 10s, &after));
  expect_contiguous(event_seqs(after), 2);
}

TEST(DeleteWorker, OldCursorNeverYieldsNewWorkersEventsEmbedded) {
  Backend be;
  be.opts.grace = 10s;  // the old worker's feed outlives its watcher
  be.add_embedded(0);
  be.start();
  expect_deleted_worker_never_serves_the_new_one(be, "local");
}

// The same, deleted behind the backend's back (straight on a yoi-runtime, as
// another backend would). The hub never heard of it, and the old feed's
// upstream ended with the worker's stop, so nothing would tell it: a new
// client still gets the new worker, because an ended stopped feed is not reused.
TEST(DeleteWorker, DeletedBehindTheBackendsBackNewClientsGetTheNewWorker) {
  RtProc rp;
  rp.store = "memory";
  rp.chunk_delay_ms = 0;
  ASSERT_TRUE(rp.start());
  rp.create("w1");
  rp.input("w1", "the old life");
  Backend be;
  be.opts.grace = 10s;  // the old feed outlives its watcher
  be.add_remote("gpu", rp);
  be.start();
  HttpClient direct("127.0.0.1", rp.port);
  auto until = std::chrono::steady_clock::now() + 10s;
  while (json::str_or_empty(json::parse(direct.request("GET", "/v1/workers/w1", {}, rp.auth()).body, 1 << 20)->as_object(),
                            "status") != "idle")
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the first run did not finish";
  auto watcher = be.client();
  ASSERT_TRUE(watcher.connect(events_ws("gpu", "w1")).ok);
  auto first = read_until(watcher, [](const Frame& f) { return f.type == "snapshot"; }, 5s);
  ASSERT_TRUE(first);
  ASSERT_EQ(run_count_of(*first), 1u);
  ASSERT_EQ(direct.request("POST", "/v1/workers/w1/stop", "{}", rp.auth()).status, 200);
  auto stopped = read_until(watcher, [](const Frame& f) { return f.type == "diagnostic"; }, 5s);
  ASSERT_TRUE(stopped);
  ASSERT_EQ(stopped->code, "worker_stopped");
  ASSERT_EQ(direct.request("DELETE", "/v1/workers/w1", {}, rp.auth()).status, 204);
  rp.create("w1");

  auto fresh = be.client();
  ASSERT_TRUE(fresh.connect(events_ws("gpu", "w1")).ok);
  auto snap = read_until(fresh, [](const Frame&) { return true; }, 5s);
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->type, "snapshot");
  EXPECT_EQ(run_count_of(*snap), 0u) << "the old worker's feed served its snapshot";
  EXPECT_EQ(status_of(*snap), "idle");
  EXPECT_EQ(snap->seq, 1u);
}

TEST(DeleteWorker, OldCursorNeverYieldsNewWorkersEventsRemote) {
  RtProc rp;
  rp.store = "memory";
  rp.chunk_delay_ms = 0;
  ASSERT_TRUE(rp.start());
  Backend be;
  be.opts.grace = 10s;
  be.add_remote("gpu", rp);
  be.start();
  expect_deleted_worker_never_serves_the_new_one(be, "gpu");
}

}  // namespace
}  // namespace yoi::backend::test
