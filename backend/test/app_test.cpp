// The yoi-server process (src/app.cpp) through its binary: start-up, config, shutdown.

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "support.hpp"
#include "test_client.hpp"

#include <sys/stat.h>

#include <fstream>
#include <thread>

namespace yoi::backend::test {
namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ServerBinary, StartsWithDefaultsPrintsTheReadyLineAndServes) {
  TmpDir dir;
  Proc p({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "data").string(),
          "--web-dir", (dir.path / "none").string()},
         {{"YOI_ACCESS_TOKEN", ""}});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stdout_text() << p.stderr_text();
  auto token = read_all(dir.path / "data" / "access-token");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  const auto base = "http://127.0.0.1:" + std::to_string(port);
  // The listening line exactly (tests and scripts parse it), then the login URL.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (p.stdout_text().find("#token=") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(p.stdout_text(), "yoi-server listening on " + base + "\n" +
                                 "yoi-server: open the console at " + base + "/#token=" + token + "\n");
  net::test::HttpClient c("127.0.0.1", port);
  const net::test::Fields auth{{"Authorization", "Bearer " + token}};
  EXPECT_EQ(c.request("GET", "/api/runtimes").status, 401) << "a token by default";
  auto rts = c.request("GET", "/api/runtimes", {}, auth);
  ASSERT_EQ(rts.status, 200);
  EXPECT_NE(rts.body.find("\"runtime_id\":\"local\""), std::string::npos);
  EXPECT_NE(rts.body.find("\"store\":\"fs\""), std::string::npos);
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"kept"})", auth).status, 201);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);

  // The fs store under the data dir keeps the worker across a restart.
  Proc p2({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "data").string()},
          {{"YOI_ACCESS_TOKEN", ""}});
  auto port2 = p2.wait_ready("yoi-server listening on ");
  ASSERT_NE(port2, 0) << p2.stderr_text();
  net::test::HttpClient c2("127.0.0.1", port2);
  EXPECT_EQ(c2.request("GET", "/api/runtimes/local/workers/kept", {}, auth).status, 200);
}

// Issue 19: the access token made on first start — 256 random bits, mode
// 0600, reused across restarts, never on a log line; an explicit token wins
// and no file is made.
TEST(ServerBinary, AccessTokenFileIsMadeOnceWithMode0600AndReusedAcrossRestarts) {
  TmpDir dir;
  const auto data = dir.path / "data";
  const auto file = data / "access-token";
  std::string first;
  for (int round = 0; round < 2; ++round) {
    Proc p({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", data.string(), "--log-level", "debug"},
           {{"YOI_ACCESS_TOKEN", ""}});
    auto port = p.wait_ready("yoi-server listening on ");
    ASSERT_NE(port, 0) << p.stderr_text();
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
    auto token = read_all(file);
    while (!token.empty() && token.back() == '\n') token.pop_back();
    EXPECT_EQ(token.size(), 64u) << "256 bits as hex";
    EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
    if (round == 0) first = token;
    EXPECT_EQ(token, first) << "reused across restarts";
    net::test::HttpClient c("127.0.0.1", port);
    EXPECT_EQ(c.request("GET", "/api/runtimes", {}, {{"Authorization", "Bearer " + token}}).status, 200);
    EXPECT_EQ(c.request("GET", "/api/runtimes", {}, {{"Authorization", "Bearer nope"}}).status, 401);
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(10s), 0);
    // The canary scan: the generated token reaches stdout's login URL and
    // nothing else — no log line.
    EXPECT_EQ(p.stderr_text().find(token), std::string::npos) << p.stderr_text();
    EXPECT_EQ(p.stdout_text().find(token), p.stdout_text().rfind(token)) << "printed once";
  }
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(data, ec))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();

  // An explicit token wins: no file, no login URL.
  const auto other = dir.path / "other";
  Proc q({server_binary(), "--listen", "127.0.0.1:0", "--data-dir", other.string()},
         {{"YOI_ACCESS_TOKEN", "explicit-token-1"}});
  auto port = q.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << q.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  EXPECT_EQ(c.request("GET", "/api/runtimes", {}, {{"Authorization", "Bearer explicit-token-1"}}).status, 200);
  EXPECT_FALSE(std::filesystem::exists(other / "access-token"));
  EXPECT_EQ(q.stdout_text().find("#token="), std::string::npos) << q.stdout_text();
}

// Issue 19: --no-auth on loopback only; on any other address exit 2.
TEST(ServerBinary, NoAuthOnANonLoopbackAddressExitsTwo) {
  TmpDir dir;
  auto cfg = dir.file("s.toml", "[server]\nallowed_hosts = [\"yoi.example.com\"]\n");
  Proc p({server_binary(), "--no-auth", "--listen", "0.0.0.0:0", "--config", cfg, "--data-dir",
          (dir.path / "d").string()});
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_NE(p.stderr_text().find("--no-auth is refused on non-loopback"), std::string::npos) << p.stderr_text();
  EXPECT_EQ(p.stdout_text(), "");

  Proc q({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "d").string()});
  auto port = q.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << q.stderr_text();
  EXPECT_NE(q.stderr_text().find("AUTHENTICATION IS OFF"), std::string::npos) << q.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  EXPECT_EQ(c.request("GET", "/api/runtimes").status, 200);
  EXPECT_FALSE(std::filesystem::exists(dir.path / "d" / "access-token"));
}

// Issue 19: the console's HTML and assets carry the CSP and friends (an
// Approve button must never be clickable in another site's frame), and no
// response carries a CORS header.
TEST(ServerBinary, ConsoleIsServedWithCspNoFramingNoSniffNoReferrer) {
  TmpDir dir;
  std::filesystem::create_directories(dir.path / "web" / "assets");
  dir.file("web/index.html", "<!doctype html><script type=module src=./assets/a.js></script>");
  dir.file("web/assets/a.js", "console.log(1)");
  Proc p({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "d").string(),
          "--web-dir", (dir.path / "web").string()});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  for (auto path : {"/", "/assets/a.js", "/workers"}) {
    auto r = c.request("GET", path);
    ASSERT_EQ(r.status, 200) << path;
    auto csp = r.header("Content-Security-Policy").value_or("");
    for (auto d : {"default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'",
                   "base-uri 'none'", "form-action 'none'"})
      EXPECT_NE(csp.find(d), std::string::npos) << path << " lacks " << d << ": " << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer") << path;
    EXPECT_EQ(r.header("X-Frame-Options"), "DENY") << path;
    for (const auto& [k, v] : r.headers) EXPECT_NE(k.rfind("Access-Control-", 0), 0u) << k;
  }
}

TEST(ServerBinary, EmbeddedRuntimeTakesProfilesFromARuntimeConfig) {
  TmpDir dir;
  dir.file("rt.toml", "[profiles.slow]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                      "[profiles.gpt]\nengine = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n");
  auto cfg = dir.file("s.toml", "[embedded]\nruntime_config = \"rt.toml\"\n");
  Proc p({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir", (dir.path / "d").string()});
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

  // A wildcard address without allowed_hosts could serve no client (every
  // Host but the loopback names is refused): a configuration error.
  Proc q({server_binary(), "--listen", "0.0.0.0:0", "--data-dir", (dir.path / "d").string()}, {{"YOI_ACCESS_TOKEN", ""}});
  EXPECT_EQ(q.wait_exit(10s), 2);
  EXPECT_NE(q.stderr_text().find("needs allowed_hosts"), std::string::npos) << q.stderr_text();
}

// Regression (issue 18, item 8): a --web-dir without the console started
// silently and `/` answered JSON.
TEST(ServerBinary, MissingWebDirWarnsAtStartAndRootSaysHowToBuildIt) {
  TmpDir dir;
  auto web = (dir.path / "no-such-web").string();
  Proc p({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--data-dir", (dir.path / "d").string(), "--web-dir", web});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  auto root = c.request("GET", "/");
  EXPECT_EQ(root.status, 404);
  EXPECT_EQ(root.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(root.body.find("npm ci &amp;&amp; npm run build"), std::string::npos) << root.body;
  EXPECT_NE(root.body.find("--web-dir"), std::string::npos) << root.body;
  EXPECT_NE(root.body.find(web), std::string::npos) << root.body;
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);
  auto err = p.stderr_text();
  auto warn = err.find("no web console in '" + web + "'");
  ASSERT_NE(warn, std::string::npos) << err;
  EXPECT_EQ(err.find("no web console", warn + 1), std::string::npos) << "one line: " << err;
}

// Regression (issue 18, item 4): `--log-level INFO --config bad.toml` exited
// 2 and printed nothing (spdlog read "INFO" as "off").
TEST(ServerBinary, LogLevelInAnyCaseAndFatalErrorsAlwaysPrint) {
  TmpDir dir;
  auto cfg = dir.file("s.toml", "wat = 1\n");
  for (auto level : {"INFO", "off"}) {
    Proc p({server_binary(), "--log-level", level, "--config", cfg, "--data-dir", (dir.path / "d").string()});
    EXPECT_EQ(p.wait_exit(10s), 2) << level;
    EXPECT_NE(p.stderr_text().find("is not a known key"), std::string::npos) << level << ": " << p.stderr_text();
  }
}

// Regression (issue 18, items 4 and 11): an unknown level is a usage error
// naming the levels; an unknown flag exited 109 (CLI11's code), not 2.
TEST(ServerBinary, UsageErrorsExitTwoAndSayWhatIsWrong) {
  TmpDir dir;
  Proc p({server_binary(), "--log-level", "loud", "--data-dir", (dir.path / "d").string()});
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_NE(p.stderr_text().find("trace|debug|info|warn|error|off"), std::string::npos) << p.stderr_text();
  Proc q({server_binary(), "--bogus"});
  EXPECT_EQ(q.wait_exit(10s), 2);
  EXPECT_NE(q.stderr_text().find("--bogus"), std::string::npos) << q.stderr_text();
}


// Regression (issue 17): the embedded runtime ignored [limits] retention_*
// of its runtime_config; it is now opened as yoi-runtime opens its own.
TEST(ServerBinary, EmbeddedRuntimeHonoursTheRetentionLimitsOfItsRuntimeConfig) {
  TmpDir dir;
  dir.file("rt.toml", "[limits]\nretention_events = 4\n[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n");
  auto cfg = dir.file("s.toml", "[embedded]\nstore = \"memory\"\nruntime_config = \"rt.toml\"\n");
  Proc p({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir", (dir.path / "d").string()});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stderr_text();
  net::test::HttpClient c("127.0.0.1", port);
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers", R"({"worker_id":"w"})").status, 201);
  ASSERT_EQ(c.request("POST", "/api/runtimes/local/workers/w/input", R"({"content":"a reply of many chunks"})").status, 202);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string status;
  while (status != "idle" && std::chrono::steady_clock::now() < deadline) {
    auto w = c.request("GET", "/api/runtimes/local/workers/w");
    status = boost::json::value_to<std::string>(boost::json::parse(w.body).at("status"));
    if (status != "idle") std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(status, "idle");
  auto page = c.request("GET", "/api/runtimes/local/workers/w/events");
  ASSERT_EQ(page.status, 200) << page.body;
  auto events = boost::json::parse(page.body).at("events").as_array();
  ASSERT_FALSE(events.empty());
  // A one-byte-chunked reply is dozens of events; 4 are retained, the oldest gone.
  EXPECT_LE(events.size(), 4u) << page.body;
  EXPECT_GT(events.front().at("seq").as_int64(), 20) << page.body;
}

// Regression (issue 17): yoi-server's shutdown grace was a hard-coded 5 s.
// A request whose body never arrives holds the drain for exactly the grace.
TEST(ServerBinary, ShutdownGraceComesFromTheConfig) {
  TmpDir dir;
  auto cfg = dir.file("s.toml", "[limits]\nshutdown_timeout_ms = 200\n[embedded]\nstore = \"memory\"\n");
  Proc p({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir", (dir.path / "d").string()});
  auto port = p.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << p.stderr_text();
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket sock(io);
  sock.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  std::string head =
      "POST /api/runtimes/local/workers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{";
  boost::asio::write(sock, boost::asio::buffer(head));
  // The request is in flight once the server answers others (one io thread).
  net::test::HttpClient c("127.0.0.1", port);
  ASSERT_EQ(c.request("GET", "/healthz").status, 200);
  auto t0 = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(4s), 0) << p.stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

}  // namespace
}  // namespace yoi::backend::test
