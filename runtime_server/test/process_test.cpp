// The real yoi-runtime binary as a child process: the listening line, the
// listen policy, config errors, SIGTERM mid-stream, resume across a restart
// with the fs store, kill -9 mid tool run, escapes by the runtime's host paths, and a
// stalled client while 100,000 events stream.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "child.hpp"
#include "test_client.hpp"
#include "yoi/testing/sanitizers.hpp"
#include "yoi/profiles/bundle.hpp"

namespace yoi::runtime_server::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using net::test::HttpClient;
using net::test::WsClient;

const std::string kToken = "proc-secret-token";
// A runtime_default profile's rules that let write and edit run without
// asking (ARCHITECTURE §15), for tests about tools rather than approvals.
constexpr std::string_view kAllowWrites =
    "[[profiles.runtime_default.permissions]]\ntool = \"write\"\naction = \"allow\"\n"
    "[[profiles.runtime_default.permissions]]\ntool = \"edit\"\naction = \"allow\"\n";
// The sandbox tests are about bwrap, not approvals: bash runs unasked.
std::string allow_bash(std::string_view profile) {
  return fmt::format("[[profiles.{}.permissions]]\ntool = \"bash\"\naction = \"allow\"\n", profile);
}

struct TempDir {
  TempDir() {
    char t[] = "/tmp/yoi-rt-proc-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    auto p = path + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  std::string path;
};

std::string str(const bj::value& v, std::string_view k) {
  auto* p = v.as_object().if_contains(k);
  return p && p->is_string() ? std::string(p->as_string()) : std::string();
}
std::uint64_t num(const bj::value& v, std::string_view k) {
  auto* p = v.as_object().if_contains(k);
  return p ? p->to_number<std::uint64_t>() : 0;
}

std::unique_ptr<Child> start(std::vector<std::string> args, std::map<std::string, std::string> env = {{"YOI_RUNTIME_TOKEN", kToken}}) {
  args.insert(args.begin(), runtime_binary());
  return std::make_unique<Child>(std::move(args), std::move(env));
}

net::test::Fields auth() { return {{"Authorization", "Bearer " + kToken}}; }

TEST(RuntimeProcess, PrintsTheListeningLineAndExitsZeroOnSigterm) {
  auto c = start({"--listen", "127.0.0.1:0", "--runtime-id", "p1"});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stdout_text() << c->stderr_text();
  EXPECT_EQ(c->stdout_text(), "yoi-runtime listening on http://127.0.0.1:" + std::to_string(port) + "\n");
  HttpClient http("127.0.0.1", port);
  auto r = http.request("GET", "/v1/runtime", {}, auth());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(bj::parse(r.body), "runtime_id"), "p1");
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
  EXPECT_EQ(c->stderr_text().find(kToken), std::string::npos);
}

// Issue 19: yoi-runtime requires its token by default — on loopback too.
TEST(RuntimeProcess, RefusesToStartWithoutATokenUnlessNoAuthOnLoopback) {
  for (auto listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    auto c = start({"--listen", listen}, {});
    EXPECT_EQ(c->wait_exit(), std::optional<int>(2)) << listen;
    auto err = c->stderr_text();
    for (auto named : {"--token-file", "YOI_RUNTIME_TOKEN", "--no-auth"})
      EXPECT_NE(err.find(named), std::string::npos) << listen << " names " << named << ": " << err;
    EXPECT_EQ(c->stdout_text(), "");
  }
  // --no-auth: on loopback it serves without a token, after a loud warning.
  auto open = start({"--listen", "127.0.0.1:0", "--no-auth"}, {});
  auto port = open->wait_listening();
  ASSERT_NE(port, 0) << open->stderr_text();
  EXPECT_NE(open->stderr_text().find("AUTHENTICATION IS OFF"), std::string::npos) << open->stderr_text();
  HttpClient http("127.0.0.1", port);
  EXPECT_EQ(http.request("GET", "/v1/runtime").status, 200);
  open->signal(SIGTERM);
  EXPECT_EQ(open->wait_exit(), std::optional<int>(0));
}

// Issue 19: --no-auth is refused with exit 2 on any non-loopback address,
// token or not.
TEST(RuntimeProcess, NoAuthOnANonLoopbackAddressExitsTwo) {
  for (auto env : {std::map<std::string, std::string>{}, std::map<std::string, std::string>{{"YOI_RUNTIME_TOKEN", kToken}}}) {
    auto c = start({"--listen", "0.0.0.0:0", "--no-auth"}, env);
    EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
    EXPECT_NE(c->stderr_text().find("--no-auth is refused on non-loopback"), std::string::npos) << c->stderr_text();
    EXPECT_EQ(c->stdout_text(), "");
  }
}

// On a wildcard address the Host check needs the names clients use
// (allowed_hosts); without them no client could be served, so it does not
// start. With them it serves those names and refuses others.
TEST(RuntimeProcess, AWildcardAddressNeedsAllowedHosts) {
  TempDir dir;
  auto tf = dir.file("token", kToken + "\n");
  auto c = start({"--listen", "0.0.0.0:0", "--token-file", tf}, {});
  EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
  EXPECT_NE(c->stderr_text().find("allowed_hosts"), std::string::npos) << c->stderr_text();
  auto cfg = dir.file("rt.toml", "[runtime]\nallowed_hosts = [\"runtime.internal\"]\n");
  auto ok = start({"--listen", "0.0.0.0:0", "--token-file", tf, "--config", cfg}, {});
  auto port = ok->wait_listening();
  ASSERT_NE(port, 0) << ok->stderr_text();
  HttpClient http("127.0.0.1", port);
  EXPECT_EQ(http.request("GET", "/v1/runtime", {}, {{"Host", "runtime.internal:1"}, auth()[0]}).status, 200);
  EXPECT_EQ(http.request("GET", "/v1/runtime", {}, {{"Host", "evil.example.com"}, auth()[0]}).status, 403);
  ok->signal(SIGINT);
  EXPECT_EQ(ok->wait_exit(), std::optional<int>(0));
}

TEST(RuntimeProcess, ConfigErrorsNameKeyAndLine) {
  TempDir dir;
  auto cfg = dir.file("rt.toml", "[runtime]\nid = \"x\"\n\n[limits]\nmax_page = 10\nbogus = 1\n");
  auto c = start({"--listen", "127.0.0.1:0", "--config", cfg});
  EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
  auto err = c->stderr_text();
  EXPECT_NE(err.find("limits.bogus"), std::string::npos) << err;
  EXPECT_NE(err.find(":6"), std::string::npos) << err;
  // An api_key_env that is unset names the profile.
  auto cfg2 = dir.file("rt2.toml",
                       "[profiles.gpt]\nengine = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n"
                       "model = \"m\"\napi_key_env = \"YOI_TEST_SURELY_UNSET_KEY\"\n");
  auto c2 = start({"--listen", "127.0.0.1:0", "--config", cfg2});
  EXPECT_EQ(c2->wait_exit(), std::optional<int>(2));
  EXPECT_NE(c2->stderr_text().find("profile 'gpt'"), std::string::npos) << c2->stderr_text();
}

// Regression (issue 18, item 4): an unknown --log-level was read as "off";
// the runtime started with no complaint and hid every error after.
TEST(RuntimeProcess, UnknownLogLevelIsAUsageErrorThatNamesTheLevels) {
  auto c = start({"--listen", "127.0.0.1:0", "--log-level", "loud"});
  EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
  EXPECT_EQ(c->stdout_text(), "");
  auto err = c->stderr_text();
  EXPECT_NE(err.find("loud"), std::string::npos) << err;
  EXPECT_NE(err.find("trace|debug|info|warn|error|off"), std::string::npos) << err;
  // Any case is accepted.
  auto ok = start({"--listen", "127.0.0.1:0", "--log-level", "WARN"});
  ASSERT_NE(ok->wait_listening(), 0) << ok->stderr_text();
  ok->signal(SIGTERM);
  EXPECT_EQ(ok->wait_exit(), std::optional<int>(0));
}

// Regression (issue 18, item 4): fatal configuration errors print even when
// the level would drop them.
TEST(RuntimeProcess, FatalConfigErrorsPrintAtLogLevelOff) {
  TempDir dir;
  auto cfg = dir.file("rt.toml", "[limits]\nbogus = 1\n");
  auto c = start({"--listen", "127.0.0.1:0", "--config", cfg, "--log-level", "off"});
  EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
  EXPECT_NE(c->stderr_text().find("limits.bogus"), std::string::npos) << c->stderr_text();
}

// Regression (issue 18, item 11): an unknown flag exited 109 (CLI11's code);
// usage errors exit 2.
TEST(RuntimeProcess, UnknownFlagExitsTwo) {
  auto c = start({"--bogus"});
  EXPECT_EQ(c->wait_exit(), std::optional<int>(2));
  EXPECT_NE(c->stderr_text().find("--bogus"), std::string::npos) << c->stderr_text();
  auto h = start({"--help"});
  EXPECT_EQ(h->wait_exit(), std::optional<int>(0));
  EXPECT_NE(h->stdout_text().find("in any case"), std::string::npos) << h->stdout_text();
}

TEST(RuntimeProcess, FlagsWinOverTheConfigFile) {
  TempDir dir;
  auto cfg = dir.file("rt.toml", "[runtime]\nid = \"from-file\"\ndisplay_name = \"File\"\nlisten = \"127.0.0.1:1\"\n");
  auto c = start({"--config", cfg, "--listen", "127.0.0.1:0", "--runtime-id", "from-flag"});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  auto v = bj::parse(http.request("GET", "/v1/runtime", {}, auth()).body);
  EXPECT_EQ(str(v, "runtime_id"), "from-flag");
  EXPECT_EQ(str(v, "display_name"), "File");
}

TEST(RuntimeProcess, SigtermMidStreamClosesWith1001AndExitsZero) {
  TempDir dir;
  auto cfg = dir.file("rt.toml",
                      "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\necho_chunk_delay_ms = 20\n");
  auto c = start({"--listen", "127.0.0.1:0", "--config", cfg});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"w1"})", auth()).status, 201);
  WsClient ws("127.0.0.1", port);
  ASSERT_TRUE(ws.connect("/v1/workers/w1/events/ws", auth()).ok);
  ASSERT_EQ(http.request("POST", "/v1/workers/w1/input", R"({"content":"a long streaming reply"})", auth()).status,
            202);
  int deltas = 0;
  while (deltas < 3) {
    auto m = ws.read(10s);
    ASSERT_TRUE(m);
    if (m->find("text_delta") != std::string::npos) ++deltas;
  }
  c->signal(SIGTERM);
  for (int i = 0; i < 1000 && ws.read(10s); ++i) {
  }
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1001);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
}

TEST(RuntimeProcess, ResumeAcrossARestartWithTheFsStoreHasNoGap) {
  TempDir dir;
  auto data = dir.path + "/data";
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  std::string epoch;
  std::string cursor;
  std::uint64_t seen_seq = 0;
  {
    HttpClient http("127.0.0.1", port);
    epoch = str(bj::parse(http.request("GET", "/v1/runtime", {}, auth()).body), "epoch");
    ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"w1"})", auth()).status, 201);
    WsClient ws("127.0.0.1", port);
    ASSERT_TRUE(ws.connect("/v1/workers/w1/events/ws", auth()).ok);
    auto snap = bj::parse(*ws.read(10s));
    ASSERT_EQ(str(snap, "type"), "snapshot");
    ASSERT_EQ(http.request("POST", "/v1/workers/w1/input", R"({"content":"before the restart"})", auth()).status, 202);
    // Read a few events only: the client is mid-stream when the runtime goes.
    for (int i = 0; i < 3; ++i) {
      auto f = bj::parse(*ws.read(10s));
      ASSERT_EQ(str(f, "type"), "event");
      cursor = str(f, "cursor");
      seen_seq = num(f, "seq");
    }
  }
  {
    // The run finishes, so the log has more than the client saw.
    HttpClient http("127.0.0.1", port);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string status;
    while (status != "idle" && std::chrono::steady_clock::now() < deadline) {
      status = str(bj::parse(http.request("GET", "/v1/workers/w1", {}, auth()).body), "status");
      if (status != "idle") std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(status, "idle") << "the run did not finish within 10 s";
  }
  c->signal(SIGTERM);
  ASSERT_EQ(c->wait_exit(), std::optional<int>(0)) << c->stderr_text();

  auto c2 = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data});
  auto port2 = c2->wait_listening();
  ASSERT_NE(port2, 0) << c2->stderr_text();
  HttpClient http("127.0.0.1", port2);
  EXPECT_EQ(str(bj::parse(http.request("GET", "/v1/runtime", {}, auth()).body), "epoch"), epoch);
  auto last = num(bj::parse(http.request("GET", "/v1/workers/w1", {}, auth()).body), "last_seq");
  ASSERT_GT(last, seen_seq + 1);
  WsClient ws("127.0.0.1", port2);
  ASSERT_TRUE(ws.connect("/v1/workers/w1/events/ws?cursor=" + cursor, auth()).ok);
  for (auto seq = seen_seq + 1; seq <= last; ++seq) {
    auto m = ws.read(10s);
    ASSERT_TRUE(m);
    auto f = bj::parse(*m);
    ASSERT_EQ(str(f, "type"), "event") << *m;  // no snapshot, no diagnostic: no gap
    ASSERT_EQ(num(f, "seq"), seq);
  }
  // And the stream is live after the restart.
  ASSERT_EQ(http.request("POST", "/v1/workers/w1/input", R"({"content":"after"})", auth()).status, 202);
  auto f = bj::parse(*ws.read(10s));
  EXPECT_EQ(num(f, "seq"), last + 1);
  ws.close();
  c2->signal(SIGTERM);
  EXPECT_EQ(c2->wait_exit(), std::optional<int>(0));
}

// kill -9 in the middle of a tool run (its second step streaming, the
// write's result recorded): the restarted runtime closes the run failed
// `interrupted`, keeps the completed tool result and its item, and the
// file the tool wrote and the worker's home survive.
TEST(RuntimeProcess, KillNineMidToolRunThenRestartEndsTheRunInterruptedWithResultsKept) {
  TempDir dir;
  auto data = dir.path + "/data";
  fs::create_directories(dir.path + "/repo");
  auto cfg = dir.file("rt.toml", "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                                 "echo_chunk_delay_ms = 40\n[workspaces.repo]\npath = \"" + dir.path + "/repo\"\n"
                                 "access = \"write\"\n" + std::string(kAllowWrites));
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--config", cfg});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  {
    HttpClient http("127.0.0.1", port);
    ASSERT_EQ(http.request("POST", "/v1/workers",
                           R"({"worker_id":"w1","workspace_refs":[{"name":"repo","access":"write"}]})", auth()).status,
              201);
    WsClient ws("127.0.0.1", port);
    ASSERT_TRUE(ws.connect("/v1/workers/w1/events/ws", auth()).ok);
    ASSERT_EQ(str(bj::parse(*ws.read(10s)), "type"), "snapshot");
    ASSERT_EQ(http.request("POST", "/v1/workers/w1/input",
                           R"({"content":"/write {\"path\": \"/workspaces/repo/kept.txt\", \"content\": \"x\"}"})",
                           auth()).status,
              202);
    bool result_seen = false;
    for (;;) {
      auto m = ws.read(10s);
      ASSERT_TRUE(m) << "the run's events";
      auto ev = bj::parse(*m).as_object().at("event");
      auto type = str(ev, "type");
      if (type == "tool_result") result_seen = true;
      if (result_seen && type == "text_delta") break;  // step 2 is streaming
    }
  }
  c->signal(SIGKILL);
  c->wait_exit();
  EXPECT_TRUE(fs::exists(dir.path + "/repo/kept.txt"));

  auto c2 = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--config", cfg});
  auto port2 = c2->wait_listening();
  ASSERT_NE(port2, 0) << c2->stderr_text();
  HttpClient http("127.0.0.1", port2);
  auto d = bj::parse(http.request("GET", "/v1/workers/w1", {}, auth()).body);
  EXPECT_EQ(str(d, "status"), "idle");
  // The closing commit is written at open; it is readable once durable.
  bj::value t;
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(10ms)) {
    t = bj::parse(http.request("GET", "/v1/workers/w1/transcript", {}, auth()).body);
    if (num(t, "total") >= 4) break;
  }
  const auto& items = t.at("items").as_array();
  ASSERT_EQ(items.size(), 4u) << bj::serialize(t);
  EXPECT_EQ(str(items[1], "role"), "assistant");
  EXPECT_EQ(items[1].at("tool_calls").as_array().size(), 1u);
  EXPECT_EQ(str(items[2], "role"), "tool");
  EXPECT_EQ(items[2].at("ok"), true);
  EXPECT_EQ(str(items[3], "result"), "failed");
  EXPECT_EQ(items[3].at("error").at("code"), "interrupted");
  // The home is still there, and the restarted runtime still runs tools in it.
  ASSERT_EQ(http.request("POST", "/v1/workers/w1/input", R"({"content":"/write {\"path\": \"h.txt\", \"content\": \"y\"}"})",
                         auth()).status, 202);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline &&
         str(bj::parse(http.request("GET", "/v1/workers/w1", {}, auth()).body), "status") != "idle")
    std::this_thread::sleep_for(20ms);
  std::size_t homes = 0;
  for (const auto& h : fs::directory_iterator(data + "/homes")) homes += fs::exists(h.path() / "h.txt");
  EXPECT_EQ(homes, 1u);
  c2->signal(SIGTERM);
  EXPECT_EQ(c2->wait_exit(), std::optional<int>(0));
}

std::vector<bj::object> all_events(HttpClient& http, const std::string& worker);

// Config bundles (ARCHITECTURE §16) on the real binary: PUT/GET over a real
// socket, every refusal typed, then kill -9 and a restart: the bundle is
// still held and the worker still runs its pinned profile.
TEST(RuntimeProcess, BundlesAreStoredDurablyAndAPinnedWorkerSurvivesKillNine) {
  TempDir dir;
  auto data = dir.path + "/data";
  auto profiles = bj::parse(R"({"short": {"engine": "echo", "echo_chunk_bytes": 2, "max_steps": 3,
                                          "description": "from the backend"}})").as_object();
  auto digest = yoi::profiles::digest(profiles);
  auto body = bj::serialize(bj::object{{"digest", digest}, {"profiles", profiles}});
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  {
    HttpClient http("127.0.0.1", port);
    auto summary = bj::parse(http.request("GET", "/v1/runtime", {}, auth()).body);
    bool has_cap = false;
    for (const auto& cap : summary.at("capabilities").as_array()) has_cap = has_cap || cap == "bundles";
    EXPECT_TRUE(has_cap);
    // Create before the push: bundle_missing.
    auto create = R"({"worker_id":"b1","profile":"short","config_bundle":{"digest":")" + digest + R"("}})";
    auto missing = http.request("POST", "/v1/workers", create, auth());
    EXPECT_EQ(missing.status, 409);
    EXPECT_EQ(bj::parse(missing.body).at("error").at("code"), "bundle_missing");
    // The wrong digest, a bad profile, an oversized body.
    auto mismatch = http.request("PUT", "/v1/bundles/" + std::string(64, 'a'), body, auth());
    EXPECT_EQ(mismatch.status, 400);
    EXPECT_EQ(bj::parse(mismatch.body).at("error").at("code"), "bundle_digest_mismatch");
    auto bad = bj::parse(R"({"p": {"engine": "echo", "tools": ["nuke"]}})").as_object();
    auto bad_put = http.request("PUT", "/v1/bundles/" + yoi::profiles::digest(bad),
                                bj::serialize(bj::object{{"profiles", bad}}), auth());
    EXPECT_EQ(bad_put.status, 400);
    EXPECT_NE(bad_put.body.find("profiles.p.tools"), std::string::npos) << bad_put.body;
    auto huge = bj::object{{"p", bj::object{{"system_prompt", std::string(2 << 20, 'x')}}}};
    EXPECT_EQ(http.request("PUT", "/v1/bundles/" + yoi::profiles::digest(huge), bj::serialize(bj::object{{"profiles", huge}}),
                           auth()).status,
              413);
    // Stored once: 201, then 200.
    EXPECT_EQ(http.request("PUT", "/v1/bundles/" + digest, body, auth()).status, 201);
    EXPECT_EQ(http.request("PUT", "/v1/bundles/" + digest, body, auth()).status, 200);
    auto unknown = http.request("POST", "/v1/workers",
                                R"({"profile":"long","config_bundle":{"digest":")" + digest + R"("}})", auth());
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    auto made = http.request("POST", "/v1/workers", create, auth());
    ASSERT_EQ(made.status, 201) << made.body;
    auto d = bj::parse(made.body);
    EXPECT_EQ(str(d, "profile"), "short");
    EXPECT_EQ(str(d.at("config_bundle"), "digest"), digest);
  }
  c->signal(SIGKILL);
  c->wait_exit();

  auto c2 = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data});
  auto port2 = c2->wait_listening();
  ASSERT_NE(port2, 0) << c2->stderr_text();
  HttpClient http("127.0.0.1", port2);
  auto list = bj::parse(http.request("GET", "/v1/bundles", {}, auth()).body);
  ASSERT_EQ(list.at("bundles").as_array().size(), 1u) << bj::serialize(list);
  EXPECT_EQ(str(list.at("bundles").at(0), "digest"), digest);
  EXPECT_EQ(list.at("bundles").at(0).at("workers"), 1);
  auto d = bj::parse(http.request("GET", "/v1/workers/b1", {}, auth()).body);
  EXPECT_EQ(str(d, "profile"), "short");
  EXPECT_EQ(str(d.at("config_bundle"), "digest"), digest);
  ASSERT_EQ(http.request("POST", "/v1/workers/b1/input", R"({"content":"hi"})", auth()).status, 202);
  std::string profile_run;
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end && profile_run.empty();
       std::this_thread::sleep_for(10ms))
    for (const auto& e : all_events(http, "b1"))
      if (str(e, "type") == "run_started") profile_run = str(e, "profile");
  EXPECT_EQ(profile_run, "short") << "the restarted worker runs its bundle's profile";
  c2->signal(SIGTERM);
  EXPECT_EQ(c2->wait_exit(), std::optional<int>(0));
}

// Every event of w1 through GET …/events (pages of at most 1000).
std::vector<bj::object> all_events(HttpClient& http, const std::string& worker) {
  std::vector<bj::object> out;
  std::string after;
  for (;;) {
    auto page = bj::parse(http.request("GET", "/v1/workers/" + worker + "/events?limit=1000&after=" + after, {}, auth()).body);
    const auto& evs = page.at("events").as_array();
    if (evs.empty()) break;
    for (const auto& e : evs) out.push_back(e.at("event").as_object());
    after = str(page, "cursor");
  }
  return out;
}

// kill -9 while a tool executes (grep walking a big tree; its tool_call
// durable, its result not): the restarted runtime gives the call an
// `interrupted` result and ends the run failed `interrupted`; every call in
// the transcript is answered, exactly once.
TEST(RuntimeProcess, KillNineWhileAToolExecutesThenRestartGivesTheCallAnInterruptedResult) {
  TempDir dir;
  auto data = dir.path + "/data";
  auto repo = dir.path + "/repo";
  for (int d = 0; d < 40; ++d) {
    fs::create_directories(repo + "/d" + std::to_string(d));
    for (int i = 0; i < 750; ++i)
      std::ofstream(repo + "/d" + std::to_string(d) + "/f" + std::to_string(i) + ".txt") << "some line\nanother\n";
  }
  auto cfg = dir.file("rt.toml", "[workspaces.repo]\npath = \"" + repo + "\"\naccess = \"read\"\n");
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--config", cfg});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  {
    HttpClient http("127.0.0.1", port);
    ASSERT_EQ(http.request("POST", "/v1/workers",
                           R"({"worker_id":"w1","workspace_refs":[{"name":"repo","access":"read"}]})", auth()).status,
              201);
    WsClient ws("127.0.0.1", port);
    ASSERT_TRUE(ws.connect("/v1/workers/w1/events/ws", auth()).ok);
    ASSERT_EQ(str(bj::parse(*ws.read(10s)), "type"), "snapshot");
    ASSERT_EQ(http.request("POST", "/v1/workers/w1/input",
                           R"({"content":"/grep {\"pattern\": \"never-matches-zz\", \"path\": \"/workspaces/repo\"}"})",
                           auth()).status,
              202);
    for (;;) {
      auto m = ws.read(10s);
      ASSERT_TRUE(m) << "the run's events";
      auto type = str(bj::parse(*m).as_object().at("event"), "type");
      ASSERT_NE(type, "tool_result") << "the tool finished before the kill: grow the tree";
      if (type == "tool_call") break;  // durable; the grep is walking
    }
  }
  c->signal(SIGKILL);
  c->wait_exit();

  auto c2 = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--config", cfg});
  auto port2 = c2->wait_listening();
  ASSERT_NE(port2, 0) << c2->stderr_text();
  HttpClient http("127.0.0.1", port2);
  EXPECT_EQ(str(bj::parse(http.request("GET", "/v1/workers/w1", {}, auth()).body), "status"), "idle");
  bj::value t;
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(10ms)) {
    t = bj::parse(http.request("GET", "/v1/workers/w1/transcript", {}, auth()).body);
    if (num(t, "total") >= 4) break;
  }
  const auto& items = t.at("items").as_array();
  ASSERT_EQ(items.size(), 4u) << bj::serialize(t);
  EXPECT_EQ(str(items[0], "role"), "user");
  ASSERT_EQ(items[1].at("tool_calls").as_array().size(), 1u);
  auto call_id = str(items[1].at("tool_calls").at(0), "call_id");
  EXPECT_EQ(str(items[2], "role"), "tool");
  EXPECT_EQ(str(items[2], "call_id"), call_id);
  EXPECT_EQ(items[2].at("ok"), false);
  EXPECT_TRUE(str(items[2], "content").starts_with("error: interrupted")) << bj::serialize(items[2]);
  EXPECT_EQ(str(items[3], "result"), "failed");
  EXPECT_EQ(items[3].at("error").at("code"), "interrupted");
  // The events agree: one result for the call, interrupted, then the end.
  auto evs = all_events(http, "w1");
  std::vector<const bj::object*> results;
  for (const auto& e : evs)
    if (str(e, "type") == "tool_result") results.push_back(&e);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(str(*results[0], "call_id"), call_id);
  EXPECT_EQ(results[0]->at("error").at("code"), "interrupted");
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(str(evs[evs.size() - 2], "type"), "run_finished");
  EXPECT_EQ(evs[evs.size() - 2].at("error").at("code"), "interrupted");
  EXPECT_EQ(str(evs.back(), "status"), "idle");
  c2->signal(SIGTERM);
  EXPECT_EQ(c2->wait_exit(), std::optional<int>(0));
}

// A worker names the runtime's own files by their real host paths — its
// data directory, its token file, another worker's home — with every file
// tool: each is `path_outside_scope`, and no result echoes the host path.
// Sends `content` to `worker` and waits for the run to end: its last
// tool_result (an empty object, and a failure, when there is none).
bj::object run_tool(HttpClient& http, const std::string& worker, const std::string& content,
                    std::chrono::milliseconds deadline = 10s) {
  auto body = bj::serialize(bj::object{{"content", content}});
  EXPECT_EQ(http.request("POST", "/v1/workers/" + worker + "/input", body, auth()).status, 202) << content;
  for (auto end = std::chrono::steady_clock::now() + deadline; std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(5ms)) {
    auto evs = all_events(http, worker);
    if (!evs.empty() && str(evs.back(), "type") == "status" && str(evs.back(), "status") == "idle") {
      for (auto it = evs.rbegin(); it != evs.rend(); ++it)
        if (str(*it, "type") == "tool_result") return *it;
      ADD_FAILURE() << "no tool_result for " << content;
      return bj::object{};
    }
  }
  ADD_FAILURE() << "the run did not end in time: " << content;
  return bj::object{};
}

TEST(RuntimeProcess, ToolsCannotReachTheDataDirTokenFileOrAnotherWorkersHomeByHostPath) {
  TempDir dir;
  auto data = dir.path + "/data";
  auto token = dir.file("token", kToken + "\n");
  auto cfg = dir.file("rt.toml", "[profiles.runtime_default]\nengine = \"echo\"\n" + std::string(kAllowWrites));
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--token-file", token, "--config", cfg},
                 {});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  auto run = [&](const std::string& worker, const std::string& content) { return run_tool(http, worker, content); };
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"a"})", auth()).status, 201);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"b"})", auth()).status, 201);
  ASSERT_EQ(run("b", R"(/write {"path": "secret.txt", "content": "b only"})").at("ok"), true);
  std::string b_home;
  for (const auto& h : fs::directory_iterator(data + "/homes"))
    if (fs::exists(h.path() / "secret.txt")) b_home = h.path().string();
  ASSERT_FALSE(b_home.empty());

  for (const std::string& host : {data, data + "/homes", token, b_home, b_home + "/secret.txt"}) {
    auto p = bj::serialize(bj::string(host));
    for (const std::string& cmd : {"/read {\"path\": " + p + "}", "/write {\"path\": " + p + ", \"content\": \"x\"}",
                                   "/edit {\"path\": " + p + ", \"old_string\": \"b\", \"new_string\": \"c\"}",
                                   "/glob {\"pattern\": \"**\", \"path\": " + p + "}",
                                   "/grep {\"pattern\": \".\", \"path\": " + p + "}"}) {
      auto r = run("a", cmd);
      ASSERT_TRUE(r.contains("ok")) << cmd;
      EXPECT_EQ(r.at("ok"), false) << cmd;
      EXPECT_EQ(r.at("error").at("code"), "path_outside_scope") << cmd << " → " << bj::serialize(r);
      EXPECT_EQ(bj::serialize(r).find(dir.path), std::string::npos) << "a host path in a result: " << bj::serialize(r);
    }
  }
  // Nothing changed: b's secret and the token file are as they were.
  std::ifstream in(b_home + "/secret.txt");
  std::string secret((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(secret, "b only");
  std::ifstream tin(token);
  std::string tok((std::istreambuf_iterator<char>(tin)), {});
  EXPECT_EQ(tok, kToken + "\n");
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
}

// A client that never reads while the worker streams 100,000 events: the
// server's memory stays flat (the writer pulls from the log; nothing queues
// per subscriber).
TEST(RuntimeProcessSlow, StalledClientKeepsServerMemoryFlat) {
  TempDir dir;
  // A memory store with a bounded log, so that the log's own growth (and an
  // fs writer's backlog on a busy machine) cannot hide or fake the
  // subscriber's: 20,000 retained events are ~3 MiB, per-client queueing of
  // 100,000 frames would be ~15 MiB.
  auto cfg = dir.file("rt.toml",
                      "[limits]\nmax_content_bytes = 200000\nretention_events = 20000\n"
                      "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                      // One delta per io turn, so the stalled client's writer
                      // is woken for every event.
                      "echo_burst = 1\n");
  auto c = start({"--listen", "127.0.0.1:0", "--config", cfg, "--store", "memory"});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"w1"})", auth()).status, 201);
  WsClient stalled("127.0.0.1", port);
  stalled.set_receive_buffer(4096);
  ASSERT_TRUE(stalled.connect("/v1/workers/w1/events/ws", auth()).ok);
  auto rss0 = c->rss_bytes();
  bj::object in;
  in["content"] = std::string(100'000, 'x');
  ASSERT_EQ(http.request("POST", "/v1/workers/w1/input", bj::serialize(in), auth()).status, 202);
  // The run is watched over REST, not by a second WebSocket reader: a reader
  // that has to keep up with the producer fails whenever the machine
  // deschedules the test process for a moment (it laps retention), which
  // says nothing about the stalled client. Each poll samples the RSS.
  auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + 120s;
  std::size_t rss_max = rss0;
  std::uint64_t seq = 0;
  for (;;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the run did not finish; seq " << seq;
    auto r = http.request("GET", "/v1/workers/w1", "", auth());
    ASSERT_EQ(r.status, 200) << r.body;
    auto d = bj::parse(r.body).as_object();
    auto page = http.request("GET", "/v1/workers/w1/events?limit=1", "", auth());
    ASSERT_EQ(page.status, 200) << page.body;
    seq = bj::parse(page.body).at("last_seq").to_number<std::uint64_t>();
    rss_max = std::max(rss_max, c->rss_bytes());
    if (d.at("run_count").to_number<std::uint64_t>() == 1 && d.at("status").as_string() == "idle") break;
    std::this_thread::sleep_for(20ms);
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rss_max = std::max(rss_max, c->rss_bytes());
  // Every 1-byte delta of the 100,000-byte echo passed the stalled client by.
  EXPECT_GT(seq, 100'000u);
  // ~100k frames of ~150 bytes would be ~15 MiB if they queued per client.
  if (yoi::testing::kRssMeaningful) {
    EXPECT_LT(rss_max - rss0, 8u << 20) << "rss grew from " << rss0 << " to " << rss_max;
  }
  std::cout << "[ info ] " << seq << " events in " << secs << " s; server RSS " << rss0 / 1024
            << " KiB -> max " << rss_max / 1024 << " KiB with a stalled client\n";
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
}

// ---- bash in its sandbox, through the real process (ARCHITECTURE §14) ----

// The runtime's data dir, token file and config live where the sandbox
// shows the system read-only (/usr/local/share), so only the runtime's
// hidden list keeps them out of sight; in /tmp they would vanish behind the
// sandbox's private /tmp and prove nothing.
struct VisibleDir : TempDir {
  VisibleDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
    char t[] = "/usr/local/share/yoi-sandbox-proc-XXXXXX";
    path = mkdtemp(t);
  }
};

std::string bash_input(const std::string& command) {
  return "/bash " + bj::serialize(bj::object{{"command", command}});
}

std::string output_of(const bj::object& r) { return r.contains("output") ? std::string(r.at("output").as_string()) : ""; }

TEST(RuntimeProcessSandbox, EscapeBashCannotReadTheTokenConfigDataDirOrAnotherWorkersHome) {
  VisibleDir dir;
  auto data = dir.path + "/data";
  auto token = dir.file("token", kToken + "\n");
  auto cfg = dir.file("rt.toml", "# config-marker-7f3a\n[profiles.runtime_default]\nengine = \"echo\"\n" +
                                     allow_bash("runtime_default"));
  auto c = start({"--listen", "127.0.0.1:0", "--store", "fs", "--data-dir", data, "--token-file", token,
                  "--config", cfg}, {});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"a"})", auth()).status, 201);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"b"})", auth()).status, 201);
  ASSERT_EQ(run_tool(http, "b", bash_input("echo b-only-secret > secret.txt")).at("exit_code"), 0);
  std::string b_home;
  for (const auto& h : fs::directory_iterator(data + "/homes"))
    if (fs::exists(h.path() / "secret.txt")) b_home = h.path().string();
  ASSERT_FALSE(b_home.empty());

  for (const std::string& cmd : std::vector<std::string>{"cat " + token, "cat " + cfg, "ls -laR " + data, "cat " + b_home + "/secret.txt",
                                 "ls -la " + dir.path, "env", "cat /proc/1/environ | tr '\\0' '\\n'",
                                 "grep -rs b-only-secret / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr"}) {
    auto r = run_tool(http, "a", bash_input(cmd), 30s);
    auto out = output_of(r);
    EXPECT_EQ(out.find(kToken), std::string::npos) << cmd << " → " << out;
    EXPECT_EQ(out.find("config-marker-7f3a"), std::string::npos) << cmd << " → " << out;
    EXPECT_EQ(out.find("b-only-secret"), std::string::npos) << cmd << " → " << out;
    if (cmd.find("secret.txt") == std::string::npos) {  // a listing of b's home would name it
      EXPECT_EQ(out.find("secret.txt"), std::string::npos) << cmd << " → " << out;
    }
  }
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
}

// Without `network = true` a command reaches no address, the runtime's own
// port included; with it, it shares the host's network and so reaches the
// loopback (where the runtime still wants its token, which no command can
// read).
TEST(RuntimeProcessSandbox, EscapeBashCannotConnectToTheRuntimesPortWithoutNetwork) {
  TempDir dir;
  auto cfg = dir.file("rt.toml", "[profiles.runtime_default]\nengine = \"echo\"\n" + allow_bash("runtime_default") +
                                     "[profiles.net]\nengine = \"echo\"\nnetwork = true\n" + allow_bash("net"));
  auto c = start({"--listen", "127.0.0.1:0", "--config", cfg});
  auto port = c->wait_listening();
  ASSERT_NE(port, 0) << c->stderr_text();
  HttpClient http("127.0.0.1", port);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"off"})", auth()).status, 201);
  ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"on","profile":"net"})", auth()).status, 201);
  auto probe = "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
               " && printf 'GET /v1/runtime HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && head -c 12 <&3";
  auto off = run_tool(http, "off", bash_input(probe));
  EXPECT_NE(off.at("exit_code"), 0) << output_of(off);
  EXPECT_EQ(output_of(off).find("HTTP/"), std::string::npos) << output_of(off);
  auto any = run_tool(http, "off", bash_input("exec 3<>/dev/tcp/1.1.1.1/53"));
  EXPECT_NE(any.at("exit_code"), 0) << "no route anywhere: " << output_of(any);
  auto on = run_tool(http, "on", bash_input(probe));
  ASSERT_TRUE(on.contains("output")) << bj::serialize(on);
  EXPECT_NE(output_of(on).find(" 401"), std::string::npos) << bj::serialize(on) << "network = true reaches the loopback, "
                                                                      "and the runtime wants its token: "
                                                                   << output_of(on);
  c->signal(SIGTERM);
  EXPECT_EQ(c->wait_exit(), std::optional<int>(0));
}

// No process outlives the runtime: SIGTERM (an orderly shutdown) and
// SIGKILL (bwrap's --die-with-parent) each take a command's children, one
// of which ignores SIGTERM.
TEST(RuntimeProcessSandbox, NoCommandProcessOutlivesTheRuntimeOnSigtermOrSigkill) {
  TempDir dir;
  auto cfg = dir.file("rt.toml", "[profiles.runtime_default]\nengine = \"echo\"\n" + allow_bash("runtime_default"));
  for (int sig : {SIGTERM, SIGKILL}) {
    auto c = start({"--listen", "127.0.0.1:0", "--config", cfg});
    auto port = c->wait_listening();
    ASSERT_NE(port, 0) << c->stderr_text();
    HttpClient http("127.0.0.1", port);
    ASSERT_EQ(http.request("POST", "/v1/workers", R"({"worker_id":"w"})", auth()).status, 201);
    auto marker = "yoi-proc-mark-" + std::to_string(::getpid()) + "-" + std::to_string(sig);
    auto body = bj::serialize(bj::object{
        {"content", bash_input("(trap '' TERM; exec -a " + marker + " sleep 1000) & wait")}});
    ASSERT_EQ(http.request("POST", "/v1/workers/w/input", body, auth()).status, 202);
    auto until = [&](const std::function<bool()>& cond) {
      for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;
           std::this_thread::sleep_for(20ms))
        if (cond()) return true;
      return false;
    };
    ASSERT_TRUE(until([&] { return yoi::testing::pids_with_cmdline(marker).size() == 1; })) << "never started";
    c->signal(sig);
    c->wait_exit();
    EXPECT_TRUE(until([&] { return yoi::testing::pids_with_cmdline(marker).empty(); }))
        << "a command's process outlived the runtime (signal " << sig << ")";
  }
}

}  // namespace
}  // namespace yoi::runtime_server::test
