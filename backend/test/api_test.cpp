// The browser API over real sockets (yoi-server's routes on the net/ server,
// in process): end to end with an embedded runtime, backend cursors, static
// files, the access token, the policy seam, and the secrets canary.

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "support.hpp"
#include "test_client.hpp"
#include "yoi/backend/api.hpp"
#include "yoi/backend/config.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/store.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;
using net::test::HttpClient;
using net::test::HttpResult;

// yoi-server's wiring, in process: registry + API + server on an io thread.
class Backend {
 public:
  struct Options {
    bool embedded = true;
    std::vector<RemoteConfig> remotes;
    std::shared_ptr<const Policy> policy;
    std::string access_token;
    std::string web_dir;
    std::shared_ptr<const ServerProfiles> profiles;
  };
  explicit Backend(Options o) : registry_(io_, o.policy), cursors_(Secret("test-cursor-key")) {
    if (o.profiles) registry_.set_server_profiles(o.profiles);
    if (o.embedded) {
      rt::RuntimeOptions ro;
      engines::ProfileConfig p;
      p.echo_chunk_bytes = 1;
      p.echo_chunk_delay = std::chrono::milliseconds(5);
      ro.profiles.push_back(p);
      auto r = rt::Runtime::open(io_, std::move(ro), store::make_memory_store(io_, {}));
      EXPECT_TRUE(r);
      runtime_ = std::move(*r);
      EXPECT_TRUE(registry_.add(make_embedded_source(io_, *runtime_, "local")));
    }
    for (auto& rc : o.remotes) {
      auto s = make_remote_source(io_, std::move(rc));
      EXPECT_TRUE(s) << s.error().message;
      if (s) {
        EXPECT_TRUE(registry_.add(std::move(*s)));
      }
    }
    ApiOptions ao;
    ao.web_dir = o.web_dir;
    if (!o.access_token.empty()) ao.access_token = Secret(o.access_token);
    api_ = std::make_unique<BrowserApi>(registry_, cursors_, std::move(ao), &metrics_);
    net::Router router;
    api_->add_routes(router);
    net::ServerOptions so;
    so.metrics = &metrics_;
    so.auth = [this](const net::Request& r) { return api_->authorize(r); };
    server_ = std::make_unique<net::HttpServer>(io_, std::move(router), so);
    EXPECT_TRUE(server_->start());
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }
  ~Backend() {
    boost::asio::post(io_, [this] {
      registry_.close();
      server_->shutdown(std::chrono::milliseconds(500), [this] { io_.stop(); });
    });
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }

 private:
  boost::asio::io_context io_;
  RuntimeRegistry registry_;
  CursorCodec cursors_;
  net::MetricsRegistry metrics_;
  std::unique_ptr<rt::Runtime> runtime_;
  std::unique_ptr<BrowserApi> api_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
};

bj::value body_of(const HttpResult& r) {
  boost::system::error_code ec;
  auto v = bj::parse(r.body, ec);
  return ec ? bj::value() : v;
}
std::string err_code(const HttpResult& r) {
  auto v = body_of(r);
  if (!v.is_object() || !v.as_object().contains("error")) return "<no error body: " + r.body + ">";
  return std::string(v.at("error").at("code").as_string());
}

void wait_idle(HttpClient& c, const std::string& path) {
  auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    auto r = c.request("GET", path);
    if (r.status == 200 && body_of(r).at("status") == "idle") return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL() << path << " did not become idle";
}

TEST(Api, EndToEndWithTheEmbeddedRuntime) {
  Backend b({});
  HttpClient c("127.0.0.1", b.port());

  auto rts = c.request("GET", "/api/runtimes");
  ASSERT_EQ(rts.status, 200) << rts.body;
  auto rv = body_of(rts).at("runtimes").as_array();
  ASSERT_EQ(rv.size(), 1u);
  EXPECT_EQ(rv[0].at("runtime_id"), "local");
  EXPECT_EQ(rv[0].at("kind"), "embedded");
  EXPECT_EQ(rv[0].at("status"), "ready");

  auto cr = c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"w1","display_name":"First"})");
  ASSERT_EQ(cr.status, 201) << cr.body;
  EXPECT_EQ(body_of(cr).at("display_name"), "First");
  auto dup = c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"w1"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(err_code(dup), "worker_exists");
  auto dupv = body_of(dup).at("error");
  EXPECT_EQ(dupv.at("runtime_id"), "local");
  EXPECT_EQ(dupv.at("worker_id"), "w1");

  auto in = c.request("POST", "/api/runtimes/local/workers/w1/input", R"({"content":"hi there"})");
  ASSERT_EQ(in.status, 202) << in.body;
  wait_idle(c, "/api/runtimes/local/workers/w1");

  auto tr = c.request("GET", "/api/runtimes/local/workers/w1/transcript");
  ASSERT_EQ(tr.status, 200);
  EXPECT_EQ(body_of(tr).at("total"), 2);

  // Events with backend cursors: page, resume, tamper, wrong worker.
  auto p1 = c.request("GET", "/api/runtimes/local/workers/w1/events?limit=2");
  ASSERT_EQ(p1.status, 200) << p1.body;
  auto p1v = body_of(p1);
  ASSERT_EQ(p1v.at("events").as_array().size(), 2u);
  std::string cur(p1v.at("cursor").as_string());
  EXPECT_TRUE(cur.starts_with("b1.")) << cur;
  EXPECT_EQ(p1.body.find("r1."), std::string::npos) << "a runtime cursor leaked";
  auto p2 = c.request("GET", "/api/runtimes/local/workers/w1/events?after=" + cur);
  ASSERT_EQ(p2.status, 200) << p2.body;
  auto p2v = body_of(p2);
  ASSERT_FALSE(p2v.at("events").as_array().empty());
  EXPECT_EQ(p2v.at("events").as_array()[0].at("seq"), 3);
  std::string tampered = cur;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  auto bad = c.request("GET", "/api/runtimes/local/workers/w1/events?after=" + tampered);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(err_code(bad), "cursor_invalid");
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"w2"})").status, 201);
  auto foreign = c.request("GET", "/api/runtimes/local/workers/w2/events?after=" + cur);
  EXPECT_EQ(foreign.status, 400);
  EXPECT_EQ(err_code(foreign), "cursor_invalid");

  auto all = c.request("GET", "/api/workers");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(body_of(all).at("workers").as_array().size(), 2u);
  auto list = c.request("GET", "/api/runtimes/local/workers?limit=1");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(body_of(list).at("next"), "w1");

  auto cancel = c.request("POST", "/api/runtimes/local/workers/w1/cancel");
  EXPECT_EQ(cancel.status, 200) << cancel.body;
  auto stop = c.request("POST", "/api/runtimes/local/workers/w1/stop", R"({"reason":"done"})");
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(body_of(stop).at("status"), "stopped");
  auto after_stop = c.request("POST", "/api/runtimes/local/workers/w1/input", R"({"content":"x"})");
  EXPECT_EQ(after_stop.status, 409);
  EXPECT_EQ(err_code(after_stop), "worker_stopped");

  // Errors before any work.
  EXPECT_EQ(err_code(c.request("GET", "/api/runtimes/nope/workers/w1")), "runtime_not_found");
  EXPECT_EQ(c.request("GET", "/api/runtimes/nope").status, 404);
  EXPECT_EQ(err_code(c.request("GET", "/api/runtimes/local/workers/ghost")), "worker_not_found");
  EXPECT_EQ(err_code(c.request("GET", "/api/runtimes/local/workers/bad%20id")), "invalid_id");
  EXPECT_EQ(err_code(c.request("POST", "/api/runtimes/local/workers/w2/input", "{not json")), "invalid_request");
  EXPECT_EQ(err_code(c.request("POST", "/api/runtimes/local/workers/w2/input", R"({"content":5})")), "invalid_request");
  EXPECT_EQ(err_code(c.request("GET", "/api/runtimes/local/workers/w2/transcript?limit=x")), "invalid_request");
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);
  auto m = c.request("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("yoi_http"), std::string::npos);
}

TEST(Api, ServesTheConsoleWithoutTraversal) {
  TmpDir dir;
  std::filesystem::create_directories(dir.path / "web" / "assets");
  dir.file("web/index.html", "<!doctype html><title>yoi</title>");
  dir.file("web/assets/app-1234.js", "console.log(1)");
  dir.file("web/assets/app-1234.css", "body{}");
  dir.file("secret.txt", "do not serve");
  Backend::Options o;
  o.web_dir = (dir.path / "web").string();
  Backend b(o);
  HttpClient c("127.0.0.1", b.port());
  auto idx = c.request("GET", "/");
  ASSERT_EQ(idx.status, 200);
  EXPECT_EQ(idx.body, "<!doctype html><title>yoi</title>");
  EXPECT_EQ(idx.header("content-type"), "text/html; charset=utf-8");
  auto js = c.request("GET", "/assets/app-1234.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(c.request("GET", "/assets/app-1234.css").header("content-type"), "text/css; charset=utf-8");
  // A console route (no extension) falls back to the page.
  EXPECT_EQ(c.request("GET", "/workers").body, idx.body);
  for (std::string t : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt", "/.hidden", "/missing.js"}) {
    auto r = c.request("GET", t);
    EXPECT_EQ(r.status, 404) << t;
    EXPECT_EQ(r.body.find("do not serve"), std::string::npos) << t;
  }
}

// Regression (issue 18, item 8): without the console `/` answered a JSON
// error; a browser gets a page that says how to build it. Files stay 404 JSON.
TEST(Api, WithoutTheConsoleRootIsAPageSayingHowToBuildIt) {
  TmpDir dir;
  std::filesystem::create_directories(dir.path / "empty");
  for (auto web : {(dir.path / "missing").string(), (dir.path / "empty").string()}) {
    Backend::Options o;
    o.web_dir = web;
    Backend b(o);
    HttpClient c("127.0.0.1", b.port());
    for (std::string t : {"/", "/workers"}) {
      auto r = c.request("GET", t);
      EXPECT_EQ(r.status, 404) << t;
      EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8") << t;
      EXPECT_NE(r.body.find("npm run build"), std::string::npos) << t << ": " << r.body;
    }
    auto js = c.request("GET", "/assets/app.js");
    EXPECT_EQ(js.status, 404);
    EXPECT_EQ(err_code(js), "not_found");
  }
}

TEST(Api, AccessTokenGuardsTheApiButNotHealth) {
  Backend::Options o;
  o.access_token = "browser-secret";
  Backend b(o);
  HttpClient c("127.0.0.1", b.port());
  auto none = c.request("GET", "/api/runtimes");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(err_code(none), "unauthorized");
  EXPECT_EQ(c.request("GET", "/api/runtimes", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(c.request("GET", "/metrics").status, 401);
  EXPECT_EQ(c.request("GET", "/api/runtimes", "", {{"Authorization", "Bearer browser-secret"}}).status, 200);
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

// Denies input and event reads on worker "guarded", redacts text elsewhere.
class DenyPolicy final : public Policy {
 public:
  Result<void> check(const PolicyRequest& r) const override {
    if (r.worker_id == "guarded" && (r.op == ApiOp::input || r.op == ApiOp::events || r.op == ApiOp::stream))
      return fail(Code::unauthorized, "denied by policy");
    return {};
  }
  std::optional<std::string> filter_event(std::string_view, std::string_view, std::string json) const override {
    if (json.find("\"text_delta\"") != std::string::npos) return std::nullopt;  // withheld
    return json;
  }
};

TEST(Api, PolicyDeniesCommandsAndEventsAndFiltersEvents) {
  Backend::Options o;
  o.policy = std::make_shared<DenyPolicy>();
  Backend b(o);
  HttpClient c("127.0.0.1", b.port());
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"guarded"})").status, 201);
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"open"})").status, 201);

  auto in = c.request("POST", "/api/runtimes/local/workers/guarded/input", R"({"content":"hi"})");
  EXPECT_EQ(in.status, 401);
  EXPECT_EQ(err_code(in), "unauthorized");
  auto d = c.request("GET", "/api/runtimes/local/workers/guarded");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(body_of(d).at("run_count"), 0) << "a denied input must not reach the runtime";
  auto ev = c.request("GET", "/api/runtimes/local/workers/guarded/events");
  EXPECT_EQ(ev.status, 401);
  EXPECT_EQ(ev.body.find("worker_created"), std::string::npos);

  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers/open/input", R"({"content":"hello"})").status, 202);
  wait_idle(c, "/api/runtimes/local/workers/open");
  auto ok = c.request("GET", "/api/runtimes/local/workers/open/events");
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.find("text_delta"), std::string::npos);
  EXPECT_NE(ok.body.find("text_done"), std::string::npos);
}

// Issue 17: create and input bodies are checked against the target runtime's
// advertised limits, not the backend's defaults, and before anything is
// forwarded: with the runtime gone, the backend still answers its limit.
TEST(Api, BodiesAreCheckedAgainstTheRemoteRuntimesOwnLimitsBeforeForwarding) {
  RuntimeProc rp;
  rp.token = "small-token";
  rp.extra_toml = "[limits]\nmax_content_bytes = 16\n";
  ASSERT_TRUE(rp.start());
  RemoteConfig rc;
  rc.id = "small";
  rc.base_url = Secret(rp.base_url());
  rc.token = Secret(rp.token);
  rc.timeout = 2s;
  rc.probe_interval = 0ms;  // no probe: the runtime is asked only for the requests below
  Backend::Options o;
  o.embedded = false;
  o.remotes.push_back(rc);
  Backend b(o);
  HttpClient c("127.0.0.1", b.port());
  const std::string input = "/api/runtimes/small/workers/w/input";

  ASSERT_EQ(c.request("POST", "/api/runtimes/small/workers", R"({"worker_id":"w"})").status, 201);
  auto info = c.request("GET", "/api/runtimes/small");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(body_of(info).at("limits").at("max_content_bytes"), 16);
  auto fits = c.request("POST", input, R"({"content":"0123456789abcdef"})");
  EXPECT_EQ(fits.status, 202) << fits.body;

  rp.kill();
  auto big = c.request("POST", input, R"({"content":"0123456789abcdefg"})");
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_EQ(err_code(big), "payload_too_large");
  EXPECT_NE(big.body.find("larger than 16 bytes"), std::string::npos) << big.body;
  EXPECT_EQ(body_of(big).at("error").at("runtime_id"), "small");
  EXPECT_EQ(body_of(big).at("error").at("worker_id"), "w");
  auto gone = c.request("POST", input, R"({"content":"x"})");
  EXPECT_EQ(err_code(gone), "runtime_unreachable") << "the runtime is gone: the 413 was the backend's";
}

// Canary (ARCHITECTURE §8): remote runtimes configured with canary tokens and
// canary host names; every response body and every log line of a session
// that exercises every route, success and failure, must be free of them.
TEST(Api, CanarySecretsNeverLeak) {
  const std::string canary_token = "canary-token-c4f1e2";
  const std::string canary_host = "canary-host-9b7d.invalid";
  const std::string canary_path = "canary-path-51aa";
  RuntimeProc rp;
  rp.token = canary_token;
  ASSERT_TRUE(rp.start());
  const std::string runtime_addr = "127.0.0.1:" + std::to_string(rp.port);

  std::mutex mu;
  std::vector<std::string> lines;
  int cap = log::add_capture([&](std::string_view l) {
    std::lock_guard lock(mu);
    lines.emplace_back(l);
  });
  spdlog::set_level(spdlog::level::trace);

  auto remote = [&](std::string id, std::string url, std::string token) {
    RemoteConfig rc;
    rc.id = std::move(id);
    rc.base_url = Secret(std::move(url));
    rc.token = Secret(std::move(token));
    rc.timeout = 2s;
    rc.probe_interval = 50ms;
    return rc;
  };
  std::vector<std::string> bodies;
  {
    Backend::Options o;
    o.remotes.push_back(remote("good", rp.base_url(), canary_token));
    o.remotes.push_back(remote("lost", "http://" + canary_host + ":8790/" + canary_path, canary_token));
    o.remotes.push_back(remote("badauth", rp.base_url(), canary_token + "-wrong"));
    o.remotes.push_back(remote("refused", "http://127.0.0.1:1/" + canary_path, canary_token));
    Backend b(o);
    HttpClient c("127.0.0.1", b.port());
    auto keep = [&](HttpResult r) {
      bodies.push_back(r.body);
      for (auto& [k, v] : r.headers) bodies.push_back(k + ": " + v);
      return r;
    };
    std::this_thread::sleep_for(200ms);  // let the probes run and log
    keep(c.request("GET", "/api/runtimes"));
    keep(c.request("GET", "/api/workers"));
    keep(c.request("GET", "/metrics"));
    for (std::string rid : {"good", "lost", "badauth", "refused", "local"}) {
      std::string base = "/api/runtimes/" + rid;
      keep(c.request("GET", base));
      keep(c.request("GET", base + "/workers"));
      keep(c.request("POST", base + "/workers", R"({"worker_id":"cw"})"));
      keep(c.request("GET", base + "/workers/cw"));
      keep(c.request("POST", base + "/workers/cw/input", R"({"content":"canary?"})"));
      keep(c.request("POST", base + "/workers/cw/input", R"({"content":"again"})"));
      keep(c.request("GET", base + "/workers/cw/events"));
      keep(c.request("GET", base + "/workers/cw/events?after=b1.garbage.1.x"));
      keep(c.request("GET", base + "/workers/cw/transcript"));
      keep(c.request("POST", base + "/workers/cw/cancel"));
      keep(c.request("POST", base + "/workers/cw/stop"));
      keep(c.request("GET", base + "/workers/ghost"));
    }
    // The failing runtimes really failed (the canary has something to catch).
    auto lost = body_of(keep(c.request("GET", "/api/runtimes/lost/workers/cw")));
    EXPECT_EQ(lost.at("error").at("code"), "runtime_unreachable");
    auto badauth = body_of(keep(c.request("GET", "/api/runtimes/badauth/workers/cw")));
    EXPECT_EQ(badauth.at("error").at("code"), "runtime_auth_failed");
    auto good = keep(c.request("GET", "/api/runtimes/good/workers/cw"));
    EXPECT_EQ(good.status, 200);
  }
  log::remove_capture(cap);
  spdlog::set_level(spdlog::level::info);

  std::lock_guard lock(mu);
  EXPECT_FALSE(lines.empty()) << "expected some log lines (probe failures)";
  for (const auto& needle : {canary_token, canary_host, canary_path, runtime_addr, std::string("canary-")}) {
    for (const auto& b : bodies) EXPECT_EQ(b.find(needle), std::string::npos) << "body leaks '" << needle << "': " << b;
    for (const auto& l : lines) EXPECT_EQ(l.find(needle), std::string::npos) << "log leaks '" << needle << "': " << l;
  }
}


// ---- deleting workers (ARCHITECTURE §17), through yoi-server's route ----

// The route's whole contract against one runtime: 409 while not stopped,
// 204 once stopped, then gone; errors name runtime and worker; a polling
// cursor of the deleted worker is cursor_unknown for a new one of its id.
void expect_delete_route(HttpClient& c, const std::string& rid) {
  const std::string w = "/api/runtimes/" + rid + "/workers/w1";
  ASSERT_EQ(c.request("POST", "/api/runtimes/" + rid + "/workers", R"({"worker_id":"w1"})").status, 201);
  auto refused = c.request("DELETE", w);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(err_code(refused), "worker_not_stopped");
  EXPECT_EQ(body_of(refused).at("error").at("runtime_id").as_string(), rid);
  EXPECT_EQ(body_of(refused).at("error").at("worker_id"), "w1");
  EXPECT_EQ(c.request("GET", w).status, 200) << "a refused delete changes nothing";

  ASSERT_EQ(c.request("POST", w + "/stop").status, 200);
  auto old = c.request("GET", w + "/events");
  ASSERT_EQ(old.status, 200);
  std::string old_cursor(body_of(old).at("cursor").as_string());
  auto gone = c.request("DELETE", w);
  EXPECT_EQ(gone.status, 204) << gone.body;
  EXPECT_TRUE(gone.body.empty());
  EXPECT_EQ(err_code(c.request("GET", w)), "worker_not_found");
  auto again = c.request("DELETE", w);
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(err_code(again), "worker_not_found");

  ASSERT_EQ(c.request("POST", "/api/runtimes/" + rid + "/workers", R"({"worker_id":"w1"})").status, 201);
  ASSERT_EQ(c.request("POST", w + "/input", R"({"content":"a new life"})").status, 202);
  wait_idle(c, w);
  auto stale = c.request("GET", w + "/events?after=" + old_cursor);
  EXPECT_EQ(stale.status, 410) << stale.body;
  EXPECT_EQ(err_code(stale), "cursor_unknown");

  EXPECT_EQ(err_code(c.request("DELETE", "/api/runtimes/nope/workers/w1")), "runtime_not_found");
  EXPECT_EQ(err_code(c.request("DELETE", "/api/runtimes/" + rid + "/workers/bad%20id")), "invalid_id");
}

TEST(DeleteWorker, BackendAnswers204And409ThroughTheEmbeddedRuntime) {
  Backend b({});
  HttpClient c("127.0.0.1", b.port());
  expect_delete_route(c, "local");
}

TEST(DeleteWorker, BackendRoutesToRemoteRuntime) {
  RuntimeProc rp;
  rp.token = "delete-token";
  rp.chunk_delay_ms = 0;
  ASSERT_TRUE(rp.start());
  RemoteConfig rc;
  rc.id = "far";
  rc.base_url = Secret(rp.base_url());
  rc.token = Secret(rp.token);
  rc.timeout = 5s;
  rc.probe_interval = 0ms;
  Backend::Options o;
  o.embedded = false;
  o.remotes.push_back(rc);
  Backend b(o);
  HttpClient c("127.0.0.1", b.port());
  expect_delete_route(c, "far");
  // The worker is gone from the runtime itself, not only from the backend's view.
  HttpClient direct("127.0.0.1", rp.port);
  auto list = direct.request("GET", "/v1/workers", {}, {{"Authorization", "Bearer " + rp.token}});
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(body_of(list).at("workers").as_array().size(), 1u) << "only the re-created w1";
}

}  // namespace
}  // namespace yoi::backend::test

namespace yoi::backend::test {
namespace {

// GET /api/profiles names what a person picks and nothing of the hosts: the
// canary variable names never appear in it, nor in a create's refusal when
// the variable is unset on the runtime's host.
TEST(ServerProfilesApi, ListsProfilesWithoutBaseUrlOrVariableNames) {
  auto cfg = parse_config("[profiles.reviewer]\nengine = \"openai\"\nmodel = \"m-1\"\n"
                          "base_url_env = \"YOI_CANARY_URL_VAR\"\napi_key_env = \"YOI_CANARY_KEY_VAR\"\n"
                          "tools = [\"read\", \"grep\"]\ndescription = \"Reads code\"\n",
                          "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  Backend::Options o;
  o.profiles = make_server_profiles(cfg->profiles, cfg->profile_bodies);
  Backend b(std::move(o));
  HttpClient c("127.0.0.1", b.port());
  auto r = c.request("GET", "/api/profiles");
  ASSERT_EQ(r.status, 200);
  auto v = body_of(r);
  const auto& p = v.at("profiles").at(0);
  EXPECT_EQ(p.at("name"), "reviewer");
  EXPECT_EQ(p.at("engine"), "openai");
  EXPECT_EQ(p.at("model"), "m-1");
  EXPECT_EQ(p.at("tools").as_array().size(), 2u);
  EXPECT_EQ(p.at("description"), "Reads code");
  EXPECT_EQ(r.body.find("YOI_CANARY"), std::string::npos) << r.body;
  auto made = c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"w1","profile":"reviewer"})");
  EXPECT_EQ(made.status, 400) << made.body;
  EXPECT_EQ(made.body.find("YOI_CANARY"), std::string::npos) << made.body;
  auto forged = c.request("POST", "/api/runtimes/local/workers",
                          R"({"profile":"runtime_default","config_bundle":{"digest":")" + std::string(64, 'a') + R"("}})");
  EXPECT_EQ(forged.status, 400) << "config_bundle is yoi-server's to set";
}

TEST(ServerProfilesConfig, InlineSecretsAreErrorsNamingKeyAndLine) {
  auto key = parse_config("[profiles.p]\nengine = \"echo\"\napi_key = \"sk-canary\"\n", "s.toml");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("s.toml:3: 'profiles.p.api_key'"), std::string::npos) << key.error().message;
  EXPECT_EQ(key.error().message.find("sk-canary"), std::string::npos);
  auto url = parse_config("[profiles.p]\nengine = \"openai\"\nmodel = \"m\"\nbase_url = \"http://canary.invalid\"\n", "s.toml");
  ASSERT_FALSE(url);
  EXPECT_NE(url.error().message.find("s.toml:4: 'profiles.p.base_url'"), std::string::npos) << url.error().message;
  EXPECT_EQ(url.error().message.find("canary"), std::string::npos);
}

}  // namespace
}  // namespace yoi::backend::test
