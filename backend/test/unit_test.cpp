// Backend unit tests: cursors, configuration, the HTTP client against small
// real servers, and the yoi-server binary's start-up contract.

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include "fake_provider.hpp"  // engines/test: an https server with a test CA
#include "support.hpp"
#include "test_certs.hpp"
#include "test_client.hpp"
#include "yoi/backend/config.hpp"
#include "yoi/backend/cursor.hpp"
#include "yoi/backend/http_client.hpp"
#include "yoi/net/http_server.hpp"

namespace yoi::backend::test {
namespace {

// ---- cursors ----

TEST(Cursor, RoundTripsAndRejectsTamperingAndForeignWorkers) {
  CursorCodec codec(Secret("k1"));
  auto c = codec.encode("rt", "w1", Position{"ab12", 42});
  auto p = codec.decode("rt", "w1", c);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->epoch, "ab12");
  EXPECT_EQ(p->seq, 42u);
  EXPECT_EQ(codec.decode("rt", "w2", c).error().code, Code::cursor_invalid);
  EXPECT_EQ(codec.decode("rt2", "w1", c).error().code, Code::cursor_invalid);
  EXPECT_FALSE(CursorCodec(Secret("k2")).decode("rt", "w1", c));
  auto forged = c;
  forged.replace(forged.find(".42."), 4, ".43.");
  EXPECT_EQ(codec.decode("rt", "w1", forged).error().code, Code::cursor_invalid);
  for (std::string bad : std::vector<std::string>{"", "b1.", "b1...", "r1.ab.cd.1", "b1.!!.1.x", std::string(300, 'a')})
    EXPECT_EQ(codec.decode("rt", "w1", bad).error().code, Code::cursor_invalid) << bad;
  // The same key in another process resumes the same cursor.
  EXPECT_TRUE(CursorCodec(Secret("k1")).decode("rt", "w1", c));
}

// Cursors handed out before the pre-keyed HMAC must keep resuming: golden
// values from an independent HMAC-SHA256 (Python's hmac), short and long key.
TEST(Cursor, MacIsStandardHmacSha256) {
  Position want{"e1", 42};
  auto p = CursorCodec(Secret("k1")).decode("rt", "w1", "b1.ZTE.42.c9jpe_7zTqpaPo-YCnzJyw");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->epoch, want.epoch);
  EXPECT_EQ(p->seq, want.seq);
  EXPECT_EQ(CursorCodec(Secret("k1")).encode("rt", "w1", want), "b1.ZTE.42.c9jpe_7zTqpaPo-YCnzJyw");
  EXPECT_EQ(CursorCodec(Secret(std::string(100, 'x'))).encode("rt", "w1", Position{"e1", 7}),
            "b1.ZTE.7.LSG4WAZiGWl2Zt4tyd2TKA");
}

// ---- configuration ----

TEST(Config, ParsesRuntimesAndResolvesTokens) {
  TmpDir dir;
  auto tok = dir.file("tok", "  secret-token\n");
  setenv("YOI_TEST_RT_TOKEN", "env-token", 1);
  auto cfg = parse_config(
      "listen = \"127.0.0.1:9000\"\n"
      "[embedded]\nid = \"here\"\nstore = \"memory\"\n"
      "[[runtimes]]\nid = \"a\"\nbase_url = \"http://127.0.0.1:1\"\ntoken_file = \"" + tok + "\"\n"
      "timeout_ms = 1500\nconnect_timeout_ms = 200\n"
      "[[runtimes]]\nid = \"b\"\ndisplay_name = \"B\"\nbase_url = \"https://b.example:8443/x\"\n"
      "token_env = \"YOI_TEST_RT_TOKEN\"\n",
      "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->listen, "127.0.0.1:9000");
  EXPECT_EQ(cfg->embedded.id, "here");
  EXPECT_EQ(cfg->embedded.store, "memory");
  ASSERT_EQ(cfg->runtimes.size(), 2u);
  EXPECT_EQ(cfg->runtimes[0].token.expose(), "secret-token");
  EXPECT_EQ(cfg->runtimes[0].timeout, 1500ms);
  EXPECT_EQ(cfg->runtimes[0].connect_timeout, 200ms);
  EXPECT_EQ(cfg->runtimes[0].display_name, "a");
  EXPECT_EQ(cfg->runtimes[1].token.expose(), "env-token");
  EXPECT_EQ(cfg->runtimes[1].display_name, "B");
}

TEST(Config, ErrorsNameKeyAndLineAndNeverTheUrl) {
  unsetenv("YOI_TEST_UNSET_VAR");
  struct Case {
    std::string text;
    std::string want;
  };
  const std::string rt = "[[runtimes]]\nid = \"a\"\n";
  for (const auto& c : std::vector<Case>{
           {"bogus = 1\n", "s.toml:1: 'bogus' is not a known key"},
           {rt + "base_url = \"http://h:1\"\ntoken_env = \"HOME\"\nfoo = 2\n", "s.toml:5: 'runtimes.foo' is not a known key"},
           {rt + "base_url = \"http://h:1\"\nfoo = 2\n", "s.toml:4: 'runtimes.foo' is not a known key"},
           {rt + "base_url = \"ftp://hidden-host/\"\n", "s.toml:3: 'runtimes.base_url' must use http or https"},
           {rt + "base_url = \"not a url\"\n", "s.toml:3: 'runtimes.base_url'"},
           {rt + "base_url = \"http://h:1\"\n", "needs a token source"},
           {rt + "base_url = \"http://h:1\"\ntoken_env = \"YOI_TEST_UNSET_VAR\"\n", "s.toml:4: 'runtimes.token_env'"},
           {rt + "base_url = \"http://h:1\"\ntoken_file = \"/nonexistent/t\"\n", "s.toml:4: 'runtimes.token_file'"},
           {rt + "base_url = \"http://h:1\"\ntimeout_ms = \"x\"\n", "s.toml:4: 'runtimes.timeout_ms' must be an integer"},
           {"[[runtimes]]\nid = \"a\"\nbase_url = \"http://h:1\"\ntoken_env = \"HOME\"\n"
            "[[runtimes]]\nid = \"a\"\n", "s.toml:6: 'runtimes.id' duplicates runtime id 'a'"},
           {"[[runtimes]]\nid = \"local\"\nbase_url = \"http://h:1\"\ntoken_env = \"HOME\"\n", "embedded runtime's id"},
           {"[embedded]\nstore = \"disk\"\n", "s.toml:2: 'embedded.store'"},
           {"listen = [\n", "s.toml:"},
           {"[observe]\nring_events = 0\n", "s.toml:2: 'observe.ring_events' must be between 1 and"},
           {"[observe]\nheartbeat_ms = \"1s\"\n", "s.toml:2: 'observe.heartbeat_ms' must be an integer"},
           {"[observe]\nbackoff_initial_ms = 900\nbackoff_max_ms = 100\n", "'observe.backoff_max_ms' must not be less"},
           {"[observe]\nring = 5\n", "s.toml:2: 'observe.ring' is not a known key"},
           {"[limits]\nheader_timeout_ms = 99\n", "s.toml:2: 'limits.header_timeout_ms' must be"},
           {"[limits]\nmax_body_bytes = 1\n", "s.toml:2: 'limits.max_body_bytes' is not a known key"},
       }) {
    auto r = parse_config(c.text, "s.toml");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, Code::config_invalid);
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("hidden-host"), std::string::npos) << r.error().message;
  }
}

TEST(Config, ObserveTableSetsTheProxyOptionsAndTheCursorKeyFile) {
  auto cfg = parse_config(
      "[observe]\ncursor_key_file = \"/etc/yoi/cursor.key\"\nring_events = 64\nring_bytes = 65536\n"
      "catchup_page = 32\nlag_catchup_pages = 8\nheartbeat_ms = 500\ngrace_ms = 0\nconnect_timeout_ms = 700\n"
      "backoff_initial_ms = 20\nbackoff_max_ms = 900\nmax_upstream_frame = 4096\nupstream_idle_timeout_ms = 1500\n",
      "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->cursor_key_file, "/etc/yoi/cursor.key");
  const auto& o = cfg->observe;
  EXPECT_EQ(o.ring_events, 64u);
  EXPECT_EQ(o.ring_bytes, 65536u);
  EXPECT_EQ(o.catchup_page, 32u);
  EXPECT_EQ(o.lag_catchup_pages, 8u);
  EXPECT_EQ(o.heartbeat, std::chrono::milliseconds(500));
  EXPECT_EQ(o.grace, std::chrono::milliseconds(0));
  EXPECT_EQ(o.connect_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(o.backoff.initial, std::chrono::milliseconds(20));
  EXPECT_EQ(o.backoff.max, std::chrono::milliseconds(900));
  EXPECT_EQ(o.max_upstream_frame, 4096u);
  EXPECT_EQ(o.upstream_idle_timeout, std::chrono::milliseconds(1500));
  // Unset: the defaults.
  auto d = parse_config("", "s.toml");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->cursor_key_file);
  EXPECT_EQ(d->observe.ring_events, ObserveOptions{}.ring_events);
}

TEST(Config, LimitsTableSetsTheHttpTimeouts) {
  auto cfg = parse_config("[limits]\nheader_timeout_ms = 2500\nkeep_alive_timeout_ms = 90000\n", "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->header_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(cfg->keep_alive_timeout, std::chrono::milliseconds(90'000));
  auto d = parse_config("", "s.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header_timeout, net::ServerOptions{}.header_timeout);
  EXPECT_EQ(d->keep_alive_timeout, net::ServerOptions{}.keep_alive_timeout);
}

// ---- HTTP client ----

struct ServerThread {
  boost::asio::io_context io;
  std::unique_ptr<net::HttpServer> server;
  std::thread thread;
  explicit ServerThread(net::Router r) {
    server = std::make_unique<net::HttpServer>(io, std::move(r), net::ServerOptions{});
    EXPECT_TRUE(server->start());
    thread = std::thread([this] { io.run(); });
  }
  ~ServerThread() {
    boost::asio::post(io, [this] { server->shutdown(std::chrono::milliseconds(200), [this] { io.stop(); }); });
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

Result<http::Response> call(boost::asio::io_context& io, http::Client& c, http::Request req,
                            http::TransportError* err = nullptr) {
  std::optional<http::Outcome> out;
  bool done = false;
  c.request(std::move(req), [&](http::Outcome o) {
    out = std::move(o);
    done = true;
  });
  if (!run_until(io, done, 10s)) return fail(Code::internal, "deadline");
  if (!*out) {
    if (err) *err = out->error();
    return fail(Code::runtime_unreachable, std::string(http::failure_name(out->error().kind)));
  }
  return std::move(**out);
}

TEST(HttpClient, ReusesKeepAliveConnectionsAndSendsTheBearer) {
  net::Router r;
  std::string seen_auth;
  r.add("POST", "/base/echo", [&](const net::Request& req, net::Respond respond) {
    seen_auth = std::string(req.header("authorization").value_or(""));
    respond(net::Response::text(200, req.body, "application/json"));
  });
  ServerThread st(std::move(r));
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(st.url() + "/base/"), {});
  ASSERT_TRUE(c);
  Secret tok("tkn");
  for (int i = 0; i < 5; ++i) {
    http::Request req;
    req.method = "POST";
    req.target = "/echo";
    req.body = "{\"i\":" + std::to_string(i) + "}";
    req.bearer = &tok;
    auto res = call(io, **c, req);
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, req.body);
  }
  EXPECT_EQ(seen_auth, "Bearer tkn");
  EXPECT_EQ((*c)->connections_opened(), 1u);
  EXPECT_EQ((*c)->idle_connections(), 1u);
}

TEST(HttpClient, RetriesOnceWhenAPooledConnectionWasClosedByTheServer) {
  net::Router r;
  r.add("GET", "/x", [](const net::Request&, net::Respond respond) { respond(net::Response::text(200, "ok")); });
  boost::asio::io_context io;
  std::optional<ServerThread> st(std::in_place, std::move(r));
  auto url = st->url();
  auto port = st->server->port();
  auto c = http::Client::make(io, Secret(url), {});
  ASSERT_TRUE(call(io, **c, http::Request{.target = "/x"}));
  st.reset();  // closes the pooled connection from the server side
  net::Router r2;
  r2.add("GET", "/x", [](const net::Request&, net::Respond respond) { respond(net::Response::text(200, "ok2")); });
  boost::asio::io_context io2;
  net::ServerOptions so;
  so.port = port;
  net::HttpServer again(io2, std::move(r2), so);
  ASSERT_TRUE(again.start());
  std::thread t([&] { io2.run_for(3s); });
  auto res = call(io, **c, http::Request{.target = "/x"});
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "ok2");
  EXPECT_EQ((*c)->connections_opened(), 2u);
  boost::asio::post(io2, [&] { again.shutdown(std::chrono::milliseconds(100), [&] { io2.stop(); }); });
  t.join();
}

TEST(HttpClient, AcceptsButNeverAnswersIsATimeoutAtTheDeadline) {
  // A listener that accepts (the kernel does, backlog) and never reads.
  boost::asio::io_context lio;
  boost::asio::ip::tcp::acceptor acc(lio, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = acc.local_endpoint().port();
  boost::asio::io_context io;
  http::ClientOptions o;
  o.timeout = 400ms;
  auto c = http::Client::make(io, Secret("http://127.0.0.1:" + std::to_string(port)), o);
  http::TransportError err;
  auto t0 = std::chrono::steady_clock::now();
  auto res = call(io, **c, http::Request{.target = "/v1/runtime"}, &err);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(res);
  EXPECT_EQ(err.kind, http::Failure::timeout);
  EXPECT_GE(ms, 320);
  EXPECT_LE(ms, 480);
}

TEST(HttpClient, RefusedOversizedAndMalformed) {
  boost::asio::io_context io;
  // Refused: a port nothing listens on.
  boost::asio::ip::tcp::acceptor tmp(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto dead = tmp.local_endpoint().port();
  tmp.close();
  auto c = http::Client::make(io, Secret("http://127.0.0.1:" + std::to_string(dead)), {});
  http::TransportError err;
  EXPECT_FALSE(call(io, **c, http::Request{.target = "/"}, &err));
  EXPECT_EQ(err.kind, http::Failure::unreachable);
  EXPECT_EQ(err.step, "connect");

  net::Router r;
  r.add("GET", "/big", [](const net::Request&, net::Respond respond) {
    respond(net::Response::text(200, std::string(4096, 'x')));
  });
  ServerThread st(std::move(r));
  http::ClientOptions o;
  o.max_response_bytes = 1024;
  auto small = http::Client::make(io, Secret(st.url()), o);
  EXPECT_FALSE(call(io, **small, http::Request{.target = "/big"}, &err));
  EXPECT_EQ(err.kind, http::Failure::too_large);

  EXPECT_FALSE(http::parse_base_url(Secret("ftp://x")));
  EXPECT_FALSE(http::parse_base_url(Secret("http://user:pw@x:1")));
  auto ep = http::parse_base_url(Secret("https://[::1]:8443/p/"));
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->tls);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, "8443");
  EXPECT_EQ(ep->base_path, "/p");
}

TEST(HttpClient, HttpsVerifiesTheCertificateAndHostNameAndSendsSni) {
  namespace et = yoi::engines::test;
  et::FakeProvider tls_server(et::FakeTls{et::kLeafCertPem, et::kLeafKeyPem});
  TmpDir dir;
  auto ca = dir.file("ca.pem", et::kTestCaPem);
  const auto port = std::to_string(tls_server.port());
  boost::asio::io_context io;
  http::TransportError err;

  // Trusted CA, matching host name: works.
  tls_server.enqueue(et::FakeResponse::status_only(200, "{\"ok\":true}"));
  http::ClientOptions o;
  o.ca_file = ca;
  auto good = http::Client::make(io, Secret("https://localhost:" + port), o);
  auto res = call(io, **good, http::Request{.target = "/v1/runtime"}, &err);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  auto sni = tls_server.sni_names();
  ASSERT_FALSE(sni.empty());
  EXPECT_EQ(sni.back(), "localhost");

  // The certificate does not name 127.0.0.1: host-name verification fails.
  auto wrong_host = http::Client::make(io, Secret("https://127.0.0.1:" + port), o);
  EXPECT_FALSE(call(io, **wrong_host, http::Request{.target = "/v1/runtime"}, &err));
  EXPECT_EQ(err.kind, http::Failure::tls);

  // Without the test CA the chain is untrusted.
  auto untrusted = http::Client::make(io, Secret("https://localhost:" + port), {});
  EXPECT_FALSE(call(io, **untrusted, http::Request{.target = "/v1/runtime"}, &err));
  EXPECT_EQ(err.kind, http::Failure::tls);
}

// ---- the yoi-server binary ----

TEST(ServerBinary, StartsWithDefaultsPrintsTheReadyLineAndServes) {
  TmpDir dir;
  Proc p({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "data").string(),
          "--web-dir", (dir.path / "none").string()});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stdout_text() << p.stderr_text();
  EXPECT_EQ(p.stdout_text(), "yoi-server listening on http://127.0.0.1:" + std::to_string(port) + "\n");
  net::test::HttpClient c("127.0.0.1", port);
  auto rts = c.request("GET", "/api/runtimes");
  ASSERT_EQ(rts.status, 200);
  EXPECT_NE(rts.body.find("\"runtime_id\":\"local\""), std::string::npos);
  EXPECT_NE(rts.body.find("\"store\":\"fs\""), std::string::npos);
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"kept"})").status, 201);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);

  // The fs store under the data dir keeps the worker across a restart.
  Proc p2({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "data").string()});
  auto port2 = p2.wait_ready("yoi-server listening on ");
  ASSERT_NE(port2, 0) << p2.stderr_text();
  net::test::HttpClient c2("127.0.0.1", port2);
  EXPECT_EQ(c2.request("GET", "/api/runtimes/local/workers/kept").status, 200);
}

TEST(ServerBinary, EmbeddedRuntimeTakesProfilesFromARuntimeConfig) {
  TmpDir dir;
  dir.file("rt.toml", "[profiles.slow]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                      "[profiles.gpt]\nengine = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n");
  auto cfg = dir.file("s.toml", "[embedded]\nruntime_config = \"rt.toml\"\n");
  Proc p({server_binary(), "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir", (dir.path / "d").string()});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  auto rt = c.request("GET", "/api/runtimes/local");
  ASSERT_EQ(rt.status, 200);
  for (auto name : {"\"slow\"", "\"gpt\"", "\"runtime_default\""})
    EXPECT_NE(rt.body.find(name), std::string::npos) << name << " in " << rt.body;
  EXPECT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"profile":"slow"})").status, 201);

  auto bad = dir.file("b.toml", "[embedded]\nruntime_config = \"missing.toml\"\n");
  Proc q({server_binary(), "--listen", "127.0.0.1:0", "--config", bad, "--data-dir", (dir.path / "e").string()});
  EXPECT_EQ(q.wait_exit(10s), 2) << q.stderr_text();
}

TEST(ServerBinary, RefusesBadConfigAndOpenNonLoopback) {
  TmpDir dir;
  auto cfg = dir.file("s.toml", "[[runtimes]]\nid = \"r\"\nbase_url = \"http://h:1\"\ntoken_env = \"HOME\"\nwat = 1\n");
  Proc p({server_binary(), "--config", cfg, "--data-dir", (dir.path / "d").string()});
  EXPECT_EQ(p.wait_ready("yoi-server listening on ", 10s), 0);
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_NE(p.stderr_text().find("s.toml:5: 'runtimes.wat' is not a known key"), std::string::npos) << p.stderr_text();

  Proc q({server_binary(), "--listen", "0.0.0.0:0", "--data-dir", (dir.path / "d").string()}, {{"YOI_ACCESS_TOKEN", ""}});
  EXPECT_EQ(q.wait_exit(10s), 2);
  EXPECT_NE(q.stderr_text().find("without an access token"), std::string::npos) << q.stderr_text();
}

}  // namespace
}  // namespace yoi::backend::test
