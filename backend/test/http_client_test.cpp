// The HTTP client of yoi-runtime (src/http_client.cpp) against small real servers.

#include <gtest/gtest.h>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "fake_provider.hpp"  // engines/test: an https server with a test CA
#include "support.hpp"
#include "test_certs.hpp"
#include "yoi/backend/http_client.hpp"
#include "yoi/net/http_server.hpp"

namespace yoi::backend::test {
namespace {

struct ServerThread {
  boost::asio::io_context io;
  std::unique_ptr<net::HttpServer> server;
  std::thread thread;
  explicit ServerThread(net::Router r, std::uint16_t port = 0) {
    net::ServerOptions so;
    so.port = port;
    server = std::make_unique<net::HttpServer>(io, std::move(r), so);
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

// A GET of `target`, every other field at its default.
http::Request get(std::string target) {
  http::Request r;
  r.target = std::move(target);
  return r;
}

// GET /x answers `body`.
net::Router answering(std::string body) {
  net::Router r;
  r.add("GET", "/x", [body](const net::Request&, net::Respond respond) { respond(net::Response::text(200, body)); });
  return r;
}

TEST(HttpClient, RetriesOnceWhenAPooledConnectionWasClosedByTheServer) {
  boost::asio::io_context io;
  std::optional<ServerThread> st(std::in_place, answering("ok"));
  auto port = st->server->port();
  auto c = http::Client::make(io, Secret(st->url()), {});
  ASSERT_TRUE(call(io, **c, get("/x")));
  st.reset();  // closes the pooled connection from the server side
  st.emplace(answering("ok2"), port);
  auto res = call(io, **c, get("/x"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "ok2");
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

// Regression (issue 17, the web_e2e flake): a runtime killed and restarted
// left several connections in the pool; the retry took the next stale one
// and the request failed runtime_unreachable although the runtime was back.
TEST(HttpClient, ARestartedRuntimeLeavingSeveralStalePooledConnectionsStillAnswers) {
  net::Router r;
  // Answers once three requests are in, so the client needs three connections.
  std::vector<net::Respond> held;
  r.add("GET", "/x", [&held](const net::Request&, net::Respond respond) {
    held.push_back(std::move(respond));
    if (held.size() < 3) return;
    for (auto& h : held) h(net::Response::text(200, "ok"));
    held.clear();
  });
  boost::asio::io_context io;
  std::optional<ServerThread> st(std::in_place, std::move(r));
  auto port = st->server->port();
  auto c = http::Client::make(io, Secret(st->url()), {});
  int answered = 0;
  for (int i = 0; i < 3; ++i)
    (*c)->request(get("/x"), [&](http::Outcome o) { answered += o && o->status == 200; });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return answered == 3; }, 10s)) << answered << " of 3 answered";
  ASSERT_EQ((*c)->idle_connections(), 3u);
  st.reset();  // the runtime dies: every pooled connection is closed from its side
  st.emplace(answering("back"), port);
  auto res = call(io, **c, get("/x"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "back");
  EXPECT_EQ((*c)->connections_opened(), 4u) << "three stale, one fresh";
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
  auto res = call(io, **c, get("/v1/runtime"), &err);
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
  EXPECT_FALSE(call(io, **c, get("/"), &err));
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
  EXPECT_FALSE(call(io, **small, get("/big"), &err));
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
  auto res = call(io, **good, get("/v1/runtime"), &err);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  auto sni = tls_server.sni_names();
  ASSERT_FALSE(sni.empty());
  EXPECT_EQ(sni.back(), "localhost");

  // The certificate does not name 127.0.0.1: host-name verification fails.
  auto wrong_host = http::Client::make(io, Secret("https://127.0.0.1:" + port), o);
  EXPECT_FALSE(call(io, **wrong_host, get("/v1/runtime"), &err));
  EXPECT_EQ(err.kind, http::Failure::tls);

  // Without the test CA the chain is untrusted.
  auto untrusted = http::Client::make(io, Secret("https://localhost:" + port), {});
  EXPECT_FALSE(call(io, **untrusted, get("/v1/runtime"), &err));
  EXPECT_EQ(err.kind, http::Failure::tls);
}

}  // namespace
}  // namespace yoi::backend::test
