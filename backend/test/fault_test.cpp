// Faults with real processes (ARCHITECTURE §7): a killed, stopped, restarted
// or misconfigured yoi-runtime, and a fake runtime (real HTTP on the net/
// server) for capabilities and malformed answers.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string_view>

#include <boost/json.hpp>

#include "support.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/store/store.hpp"
#include "yoi/testing/thread_server.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;

struct Fixture {
  boost::asio::io_context io;
  RuntimeRegistry registry{io};

  void add_remote(std::string id, std::string url, std::string token,
                  std::chrono::milliseconds timeout = 2s,
                  const std::function<void(RemoteConfig&)>& tweak = {}) {
    RemoteConfig rc;
    rc.id = std::move(id);
    rc.base_url = Secret(std::move(url));
    rc.token = Secret(std::move(token));
    rc.timeout = timeout;
    rc.connect_timeout = 1s;
    rc.probe_interval = 0ms;
    if (tweak) tweak(rc);
    auto s = make_remote_source(io, std::move(rc));
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(registry.add(std::move(*s)));
  }
  Result<rt::WorkerDetail> create(const std::string& rid, std::string wid) {
    rt::CreateWorker c;
    c.worker_id = std::move(wid);
    return await<rt::WorkerDetail>(io, [&](auto cb) { registry.create(rid, c, cb); });
  }
  Result<rt::WorkerDetail> detail(const std::string& rid, const std::string& wid) {
    return await<rt::WorkerDetail>(io, [&](auto cb) { registry.detail(rid, wid, cb); });
  }
  Result<rt::InputAccepted> input(const std::string& rid, const std::string& wid, std::string text) {
    rt::Input in;
    in.content = std::move(text);
    return await<rt::InputAccepted>(io, [&](auto cb) { registry.input(rid, wid, in, cb); });
  }
  Result<rt::CancelResult> cancel(const std::string& rid, const std::string& wid) {
    return await<rt::CancelResult>(io, [&](auto cb) { registry.cancel(rid, wid, std::nullopt, cb); });
  }
  std::vector<RuntimeInfo> runtimes() {
    auto r = await<std::vector<RuntimeInfo>>(io, [&](auto cb) { registry.list_runtimes(cb); });
    return r ? *r : std::vector<RuntimeInfo>{};
  }
  ~Fixture() {
    registry.close();
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
};

TEST(Faults, KilledRuntimeIsUnreachableAndListsStillAnswer) {
  Fixture f;
  // An embedded runtime beside the remote one: lists must keep answering.
  rt::RuntimeOptions o;
  auto local = rt::Runtime::open(f.io, o, store::make_memory_store(f.io, {}));
  ASSERT_TRUE(local);
  ASSERT_TRUE(f.registry.add(make_embedded_source(f.io, **local, "local")));

  RuntimeProc rp;
  rp.token = "t0k";
  ASSERT_TRUE(rp.start());
  f.add_remote("remote", rp.base_url(), rp.token);
  ASSERT_TRUE(f.create("remote", "w1"));
  ASSERT_TRUE(f.create("local", "l1"));

  rp.kill();
  auto d = f.detail("remote", "w1");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::runtime_unreachable);
  EXPECT_EQ(http_status(d.error().code), 502);

  auto infos = f.runtimes();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].health, Health::ready);
  EXPECT_EQ(infos[1].runtime_id, "remote");
  EXPECT_EQ(infos[1].health, Health::unreachable);
  ASSERT_TRUE(infos[1].diagnostic);
  EXPECT_EQ(infos[1].diagnostic->code, Code::runtime_unreachable);
  EXPECT_TRUE(infos[1].summary);  // last seen summary kept
  EXPECT_TRUE(infos[1].last_seen_ms);

  auto all = await<AllWorkers>(f.io, [&](auto cb) { f.registry.list_all_workers(100, cb); });
  ASSERT_TRUE(all);
  ASSERT_EQ(all->workers.size(), 1u);
  EXPECT_EQ(all->workers[0].record.worker_id, "l1");
  ASSERT_EQ(all->runtimes.size(), 2u);
  EXPECT_FALSE(all->runtimes[0].error);
  ASSERT_TRUE(all->runtimes[1].error);
  EXPECT_EQ(all->runtimes[1].error->code, Code::runtime_unreachable);
  f.registry.close();
  f.io.restart();
  f.io.run_for(std::chrono::milliseconds(20));
}

TEST(Faults, StoppedRuntimeTimesOutWithinTheDeadline) {
  Fixture f;
  RuntimeProc rp;
  rp.token = "t0k";
  ASSERT_TRUE(rp.start());
  const auto timeout = 1000ms;
  f.add_remote("remote", rp.base_url(), rp.token, timeout);
  ASSERT_TRUE(f.create("remote", "w1"));  // a pooled keep-alive connection exists now

  rp.proc->signal(SIGSTOP);
  for (int round = 0; round < 2; ++round) {  // pooled connection, then a fresh one
    auto t0 = std::chrono::steady_clock::now();
    auto d = f.detail("remote", "w1");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, Code::runtime_timeout);
    EXPECT_EQ(http_status(d.error().code), 504);
    EXPECT_GE(ms.count(), 800) << "round " << round;
    EXPECT_LE(ms.count(), 1200) << "round " << round;
  }
  auto infos = f.runtimes();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].health, Health::timeout);
  rp.proc->signal(SIGCONT);
  auto back = f.detail("remote", "w1");
  EXPECT_TRUE(back) << back.error().message;
}

TEST(Faults, RestartedRuntimeWorksAgainWithoutRestartingTheBackend) {
  Fixture f;
  RuntimeProc rp;
  rp.token = "t0k";
  ASSERT_TRUE(rp.start());
  const auto port = rp.port;
  f.add_remote("remote", rp.base_url(), rp.token);
  ASSERT_TRUE(f.create("remote", "w1"));
  rp.kill();
  auto down = f.detail("remote", "w1");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Code::runtime_unreachable);

  RuntimeProc again;
  again.token = "t0k";
  ASSERT_TRUE(again.start(port));
  ASSERT_EQ(again.port, port);
  // A memory store: the old worker is gone, the runtime itself answers.
  auto gone = f.detail("remote", "w1");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::worker_not_found);
  EXPECT_TRUE(f.create("remote", "w2"));
  auto infos = f.runtimes();
  EXPECT_EQ(infos[0].health, Health::ready);
}

// ---- self-healing after a restart (issue 22; the web_e2e flake: "the first
// input after a restart answers runtime_unreachable"). The backend has a
// pooled keep-alive connection to the runtime; the runtime is killed and
// started again on its port, which closes that connection from its side; the
// next request of each kind must reach the new runtime. A second backend
// (its own pool) makes the worker on the new runtime, so the first backend's
// next request is the one that meets the stale connection.
struct RestartedRuntime {
  Fixture f;
  Fixture other;
  RuntimeProc rp;
  RestartedRuntime() {
    rp.token = "t0k";
    EXPECT_TRUE(rp.start());
    f.add_remote("remote", rp.base_url(), rp.token);
    EXPECT_TRUE(f.create("remote", "before"));  // a pooled connection now
    const auto port = rp.port;
    rp.kill();
    EXPECT_TRUE(rp.start(port));
    EXPECT_EQ(rp.port, port);
    other.add_remote("remote", rp.base_url(), rp.token);
  }
  void worker_on_the_new_runtime(std::string wid) { ASSERT_TRUE(other.create("remote", std::move(wid))); }
};

TEST(SelfHealing, TheFirstGetAfterARuntimeRestartAnswers) {
  RestartedRuntime r;
  r.worker_on_the_new_runtime("w1");
  auto d = r.f.detail("remote", "w1");
  ASSERT_TRUE(d) << code_name(d.error().code) << ": " << d.error().message;
  EXPECT_EQ(d->record.worker_id, "w1");
}

TEST(SelfHealing, TheFirstInputAfterARuntimeRestartAnswers) {
  RestartedRuntime r;
  r.worker_on_the_new_runtime("w1");
  auto a = r.f.input("remote", "w1", "hello again");
  ASSERT_TRUE(a) << code_name(a.error().code) << ": " << a.error().message;
  EXPECT_FALSE(a->duplicate);
  // The backend gave the input a client_message_id (the client gave none):
  // what makes it safe to send twice.
  ASSERT_TRUE(a->client_message_id);
  EXPECT_FALSE(a->client_message_id->empty());
}

TEST(SelfHealing, TheFirstCreateAfterARuntimeRestartAnswers) {
  RestartedRuntime r;
  rt::CreateWorker c;  // no worker_id: the backend picks one
  auto d = await<rt::WorkerDetail>(r.f.io, [&](auto cb) { r.f.registry.create("remote", c, cb); });
  ASSERT_TRUE(d) << code_name(d.error().code) << ": " << d.error().message;
  EXPECT_TRUE(is_valid_id(d->record.worker_id));
  EXPECT_EQ(d->record.worker_id.rfind("w-", 0), 0u) << d->record.worker_id;
}

// A TCP relay in front of a real runtime that loses one reply, as a network
// or a runtime dying at the wrong moment does. Once armed, the next request
// whose head starts with `lose` on a connection that already carried a
// request (a pooled one, so the client may send it again) reaches the
// runtime, which acts on it; its reply is swallowed and the connection
// closed before a byte of it is passed on.
class LossyRelay {
 public:
  LossyRelay(std::uint16_t upstream, std::string lose) : upstream_(upstream), lose_(std::move(lose)) {}
  std::string url() const { return server_.url(); }
  void arm() { armed_ = true; }
  int lost() const { return lost_; }

 private:
  void relay(int client) {
    int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = yoi::testing::ThreadServer::loopback(upstream_);
    if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(up);
      ::close(client);
      return;
    }
    int requests = 0;  // request heads seen on this connection
    bool losing = false;
    char buf[16384];
    while (!server_.stopping()) {
      pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      if (p[0].revents) {
        auto n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0) break;
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        if (armed_ && requests > 0 && chunk.starts_with(lose_)) {
          armed_ = false;
          losing = true;
        }
        for (auto at = chunk.find(" HTTP/1.1\r\n"); at != std::string_view::npos;
             at = chunk.find(" HTTP/1.1\r\n", at + 1))
          ++requests;
        if (::send(up, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      if (p[1].revents) {
        auto n = ::recv(up, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (losing) {
          ++lost_;
          break;
        }
        if (::send(client, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
      }
    }
    ::close(up);
    ::close(client);
  }

  std::uint16_t upstream_;
  std::string lose_;
  std::atomic<bool> armed_{false};
  std::atomic<int> lost_{0};
  yoi::testing::ThreadServer server_{[this](int c) { relay(c); }};  // last: stopped first
};

struct LostCreateReply {
  Fixture f;
  RuntimeProc rp;
  std::unique_ptr<LossyRelay> relay;
  LostCreateReply() {
    rp.token = "t0k";
    EXPECT_TRUE(rp.start());
    relay = std::make_unique<LossyRelay>(rp.port, "POST /v1/workers ");
    f.add_remote("remote", relay->url(), rp.token);
    EXPECT_TRUE(f.create("remote", "before"));  // a pooled connection now
    relay->arm();
  }
  std::vector<std::string> worker_ids() {
    auto page = await<rt::WorkerPage>(f.io, [&](auto cb) { f.registry.list("remote", rt::ListWorkers{}, cb); });
    std::vector<std::string> ids;
    if (page)
      for (const auto& w : page->workers) ids.push_back(w.record.worker_id);
    return ids;
  }
};

// The create went out, the runtime made the worker, the reply was lost with
// the pooled connection; the pool sent it again on a fresh one and the
// runtime said worker_exists. The id is the backend's, so that worker is
// this create's: the answer is its detail, and there is exactly one.
TEST(SelfHealing, ACreateWhoseReplyWasLostAnswersTheWorkerItMade) {
  LostCreateReply r;
  rt::CreateWorker c;  // no worker_id: the backend picks one
  auto d = await<rt::WorkerDetail>(r.f.io, [&](auto cb) { r.f.registry.create("remote", c, cb); });
  ASSERT_EQ(r.relay->lost(), 1) << "the relay lost no reply: the test tests nothing";
  ASSERT_TRUE(d) << code_name(d.error().code) << ": " << d.error().message;
  EXPECT_EQ(d->record.worker_id.rfind("w-", 0), 0u) << d->record.worker_id;
  auto ids = r.worker_ids();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"before", d->record.worker_id}));
}

// The same loss with an id the client chose: that id may name a worker made
// long before, so the conflict is not explained away.
TEST(SelfHealing, ACreateWithTheClientsIdWhoseReplyWasLostStaysAConflict) {
  LostCreateReply r;
  auto d = r.f.create("remote", "mine");
  ASSERT_EQ(r.relay->lost(), 1) << "the relay lost no reply: the test tests nothing";
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::worker_exists);
  auto ids = r.worker_ids();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"before", "mine"}));
}

// A cancel is never sent twice, so it must not meet the stale connection at
// all: the pool checks a connection before it sends on it.
TEST(SelfHealing, TheFirstCancelAfterARuntimeRestartAnswers) {
  RestartedRuntime r;
  r.worker_on_the_new_runtime("w1");
  auto c = r.f.cancel("remote", "w1");
  ASSERT_TRUE(c) << code_name(c.error().code) << ": " << c.error().message;
}

// The queue bound (issue 22) against a real, hung (SIGSTOPped) runtime: one
// connection, one waiting request; the third is runtime_busy at once, the
// other two time out at their deadline.
TEST(SelfHealing, RequestsOverTheQueueBoundAreRuntimeBusyAtOnce) {
  Fixture f;
  RuntimeProc rp;
  rp.token = "t0k";
  ASSERT_TRUE(rp.start());
  f.add_remote("remote", rp.base_url(), rp.token, 1000ms, [](RemoteConfig& rc) {
    rc.max_connections = 1;
    rc.max_queued = 1;
  });
  ASSERT_TRUE(f.create("remote", "w1"));
  rp.proc->signal(SIGSTOP);
  std::vector<std::optional<Result<rt::WorkerDetail>>> outs(3);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < outs.size(); ++i)
    f.registry.detail("remote", "w1", [&outs, i](Result<rt::WorkerDetail> d) { outs[i] = std::move(d); });
  ASSERT_TRUE(yoi::testing::run_until(f.io, [&] { return outs[2].has_value(); }, 5s));
  auto busy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_FALSE(*outs[2]);
  EXPECT_EQ(outs[2]->error().code, Code::runtime_busy);
  EXPECT_EQ(http_status(outs[2]->error().code), 503);
  EXPECT_LT(busy_ms.count(), 500) << "busy is said at once, not at the deadline";
  ASSERT_TRUE(yoi::testing::run_until(f.io, [&] { return outs[0] && outs[1]; }, 5s));
  for (int i : {0, 1}) {
    ASSERT_FALSE(*outs[i]) << i;
    EXPECT_EQ(outs[i]->error().code, Code::runtime_timeout) << i;
  }
  rp.proc->signal(SIGCONT);
}

TEST(Faults, WrongTokenIsRuntimeAuthFailed) {
  Fixture f;
  RuntimeProc rp;
  rp.token = "right-token";
  ASSERT_TRUE(rp.start());
  f.add_remote("remote", rp.base_url(), "wrong-token");
  auto c = f.create("remote", "w1");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::runtime_auth_failed);
  EXPECT_EQ(http_status(c.error().code), 401);
  auto infos = f.runtimes();
  EXPECT_EQ(infos[0].health, Health::auth_failed);
}

TEST(Faults, UnresolvableHostIsUnreachable) {
  Fixture f;
  f.add_remote("remote", "http://no-such-host.invalid:8790", "t");
  auto d = f.detail("remote", "w1");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::runtime_unreachable);
  EXPECT_EQ(d.error().message.find("invalid"), std::string::npos);
}

// A fake yoi-runtime on the real net/ server: it lists only some
// capabilities and answers some routes badly on purpose.
struct FakeRuntime {
  boost::asio::io_context& io;
  std::vector<std::string> caps;
  int cancel_calls = 0;
  int detail_calls = 0;
  int delete_calls = 0;
  int approve_calls = 0;
  int create_calls = 0;
  int bundle_calls = 0;
  std::vector<std::string> input_bodies{};  // as received
  std::string input_reply{};                // the last reply to an input, as sent
  std::unique_ptr<net::HttpServer> server{};  // made by start()

  void start() {
    net::Router r;
    r.add("GET", "/v1/runtime", [this](const net::Request&, net::Respond respond) {
      rt::RuntimeSummary s;
      s.runtime_id = "fake";
      s.epoch = "00aa";
      s.capabilities = caps;
      respond(net::Response::json(200, rt::wire::to_json(s)));
    });
    r.add("POST", "/v1/workers/{id}/cancel", [this](const net::Request&, net::Respond respond) {
      ++cancel_calls;
      respond(net::Response::json(200, bj::object{{"cancelled", false}, {"status", "idle"}}));
    });
    r.add("POST", "/v1/workers/{id}/approvals/{call_id}", [this](const net::Request&, net::Respond respond) {
      ++approve_calls;
      respond(net::Response::error(Error{Code::not_found, "no such route"}));
    });
    // An input's acceptance, plain or off the contract, by worker id.
    r.add("POST", "/v1/workers/{id}/input", [this](const net::Request& req, net::Respond respond) {
      input_bodies.push_back(req.body);
      auto id = req.param("id");
      auto body = json::parse(req.body, 1u << 20);
      std::string cmid = body && body->is_object() ? std::string(json::str_or_empty(body->as_object(), "client_message_id")) : "";
      // Plain, in another key order than the wire's encoder: passed on, it stays so.
      bj::object o{{"seq", 5}, {"run_id", "r-1"}, {"accepted", true}, {"duplicate", false}, {"client_message_id", cmid}};
      if (id == "extra") o = bj::object{{"duplicate", false}, {"internal", "x"}, {"seq", 5}, {"run_id", "r-1"},
                                        {"accepted", true}, {"client_message_id", cmid}};
      if (id == "noseq") o.erase("seq");
      input_reply = json::serialize(o);
      auto res = net::Response::text(202, input_reply);
      res.content_type = "application/json";
      respond(std::move(res));
    });
    r.add("POST", "/v1/workers", [this](const net::Request&, net::Respond respond) {
      ++create_calls;
      respond(net::Response::error(Error{Code::invalid_request, "not in this fake"}));
    });
    r.add("PUT", "/v1/bundles/{digest}", [this](const net::Request&, net::Respond respond) {
      ++bundle_calls;
      respond(net::Response::error(Error{Code::not_found, "no such route"}));
    });
    r.add("DELETE", "/v1/workers/{id}", [this](const net::Request&, net::Respond respond) {
      ++delete_calls;
      respond(net::Response::error(Error{Code::not_found, "no such route"}));
    });
    r.add("GET", "/v1/workers/{id}", [this](const net::Request& req, net::Respond respond) {
      ++detail_calls;
      auto id = req.param("id");
      if (id == "boom") return respond(net::Response::text(500, "stack trace at /srv/secret/path"));
      if (id == "garbage") return respond(net::Response::text(200, "<html>not json</html>"));
      if (id == "shape") return respond(net::Response::json(200, bj::object{{"hello", 1}}));
      if (id == "busy") return respond(net::Response::error(Error{Code::worker_busy, "worker is busy"}));
      if (id == "forbidden") return respond(net::Response::text(403, "nope"));
      respond(net::Response::error(Error{Code::worker_not_found, "no worker at /var/lib/x"}));
    });
    net::ServerOptions so;
    server = std::make_unique<net::HttpServer>(io, std::move(r), so);
    ASSERT_TRUE(server->start());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

TEST(Faults, MissingCapabilityIsUnsupportedWithoutCallingTheRuntime) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.detail", "workers.transcript"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto c = await<rt::CancelResult>(f.io, [&](auto cb) { f.registry.cancel("fake", "w1", std::nullopt, cb); });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::unsupported);
  EXPECT_EQ(http_status(c.error().code), 501);
  EXPECT_EQ(fake.cancel_calls, 0);
  // Listed but not served: a 404 for a route the runtime lacks.
  auto t = await<rt::TranscriptPage>(f.io, [&](auto cb) { f.registry.transcript("fake", "w1", 0, 10, cb); });
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Code::runtime_bad_response);
}

TEST(Faults, UpstreamAnswersMapToTypedErrors) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.detail"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  struct Case {
    std::string wid;
    Code code;
  };
  for (const auto& c : std::vector<Case>{{"boom", Code::runtime_error},
                                         {"garbage", Code::runtime_bad_response},
                                         {"shape", Code::runtime_bad_response},
                                         {"busy", Code::worker_busy},
                                         {"forbidden", Code::runtime_auth_failed},
                                         {"other", Code::worker_not_found}}) {
    auto d = f.detail("fake", c.wid);
    ASSERT_FALSE(d) << c.wid;
    EXPECT_EQ(d.error().code, c.code) << c.wid << ": " << d.error().message;
    EXPECT_EQ(d.error().message.find("/srv"), std::string::npos);
    EXPECT_EQ(d.error().message.find("/var"), std::string::npos);
  }
  EXPECT_EQ(fake.detail_calls, 6);  // one call per operation, no lookups around it
}

// The proxied input (issue 22): its body is made without a DOM and a plain
// acceptance passes on as the runtime sent it.
Result<std::string> input_text(Fixture& f, const std::string& wid, std::string content,
                               std::optional<std::string> cmid = std::nullopt) {
  rt::Input in{std::move(content), std::move(cmid)};
  return await<std::string>(f.io, [&](auto cb) { f.registry.input_text("fake", wid, in, cb); });
}

std::size_t count_of(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string_view::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(InputHop, TheRuntimeGetsExactlyOneClientMessageIdTheClientsOwnWhenGiven) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  const std::string content = "say \"hi\"\n\u00e9\t</script>";
  ASSERT_TRUE(input_text(f, "w1", content, "m-1"));
  ASSERT_TRUE(input_text(f, "w1", content));
  ASSERT_TRUE(input_text(f, "w1", content));
  ASSERT_EQ(fake.input_bodies.size(), 3u);
  std::vector<std::string> ids;
  for (const auto& body : fake.input_bodies) {
    EXPECT_EQ(count_of(body, "client_message_id"), 1u) << body;
    auto v = json::parse(body, 1u << 20);
    ASSERT_TRUE(v && v->is_object()) << body;
    auto in = rt::wire::input_from_json(v->as_object(), rt::Limits{});
    ASSERT_TRUE(in) << body;
    EXPECT_EQ(in->content, content);
    ASSERT_TRUE(in->client_message_id) << body;
    ids.push_back(*in->client_message_id);
  }
  EXPECT_EQ(ids[0], "m-1");
  for (const auto& id : {ids[1], ids[2]}) {
    EXPECT_EQ(id.rfind("srv-", 0), 0u) << id;
    EXPECT_EQ(id.size(), 4u + 16u) << id;
  }
  EXPECT_NE(ids[1], ids[2]);
}

TEST(InputHop, TheBodyIsWhatEncodingTheInputWouldSend) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  const std::vector<std::string> contents = {
      "hi", "a/b \x7f \u00e9\u4e16 <>&'", "quote \" backslash \\ end", "\x01\x1f\b\f\n\r\t", std::string(5000, 'x')};
  for (std::size_t i = 0; i < contents.size(); ++i)
    ASSERT_TRUE(input_text(f, "w1", contents[i], "m-" + std::to_string(i)));
  ASSERT_EQ(fake.input_bodies.size(), contents.size());
  for (std::size_t i = 0; i < contents.size(); ++i)
    EXPECT_EQ(fake.input_bodies[i],
              json::serialize(rt::wire::to_json(rt::Input{contents[i], "m-" + std::to_string(i)})));
}

TEST(InputHop, APlainAcceptancePassesOnAsTheRuntimeSentIt) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto text = input_text(f, "w1", "hi", "m-2");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, fake.input_reply);
  EXPECT_EQ(count_of(*text, "\"m-2\""), 1u);
}

TEST(InputHop, AReplyWithFieldsOffTheContractIsDecodedAndEncodedWithoutThem) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto text = input_text(f, "extra", "hi", "m-3");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, R"({"accepted":true,"run_id":"r-1","seq":5,"client_message_id":"m-3","duplicate":false})");
  EXPECT_EQ(text->find("internal"), std::string::npos);
}

TEST(InputHop, AReplyLackingItsSeqIsRuntimeBadResponse) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto text = input_text(f, "noseq", "hi");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, Code::runtime_bad_response);
  // The struct path says the same.
  auto a = f.input("fake", "noseq", "hi");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Code::runtime_bad_response);
}

TEST(DeleteWorker, RuntimeWithoutTheCapabilityIs501Unsupported) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.detail", "workers.stop"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto r = await<void>(f.io, [&](auto cb) { f.registry.remove("fake", "w1", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::unsupported);
  EXPECT_EQ(http_status(r.error().code), 501);
  EXPECT_EQ(fake.delete_calls, 0) << "an unlisted operation is never called";
}

// Approvals (ARCHITECTURE §15) through a runtime that does not list
// workers.approve: 501 unsupported, and the runtime is never called.
TEST(Approvals, RuntimeWithoutTheCapabilityIs501Unsupported) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.detail", "workers.input"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  auto r = await<rt::ApprovalOutcome>(f.io, [&](auto cb) {
    f.registry.approve("fake", "w1", "call_1", rt::ApprovalDecision{true, std::nullopt, false}, cb);
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::unsupported);
  EXPECT_EQ(http_status(r.error().code), 501);
  EXPECT_EQ(fake.approve_calls, 0) << "an unlisted operation is never called";
}

// One of yoi-server's profiles asked for on a runtime that does not list
// `bundles` (ARCHITECTURE §16): 501 unsupported, and neither the bundle nor
// the create reaches the runtime.
TEST(Bundles, AServerProfileOnARuntimeWithoutBundlesIs501Unsupported) {
  Fixture f;
  FakeRuntime fake{f.io, {"workers.create", "workers.detail"}};
  fake.start();
  f.add_remote("fake", fake.url(), "t");
  engines::ProfileConfig p;
  p.name = "srv";
  f.registry.set_server_profiles(make_server_profiles({p}, bj::object{{"srv", bj::object{{"engine", "echo"}}}}));
  rt::CreateWorker c;
  c.worker_id = "w1";
  c.profile = "srv";
  auto r = await<rt::WorkerDetail>(f.io, [&](auto cb) { f.registry.create("fake", c, cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::unsupported) << r.error().message;
  EXPECT_EQ(http_status(r.error().code), 501);
  EXPECT_EQ(fake.bundle_calls, 0) << "an unlisted operation is never called";
  EXPECT_EQ(fake.create_calls, 0) << "no create without the bundle it needs";
  // The runtime's own profiles still work through it: the create is sent.
  c.profile = "runtime_default";
  auto own = await<rt::WorkerDetail>(f.io, [&](auto cb) { f.registry.create("fake", c, cb); });
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, Code::invalid_request);
  EXPECT_EQ(fake.create_calls, 1);
}

}  // namespace
}  // namespace yoi::backend::test
