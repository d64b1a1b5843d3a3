// The wire contract in one place (issue 17): every body and frame of the
// browser API that docs/API.md documents, taken from the real yoi-server
// binary in one scripted scenario and compared with its file in docs/golden/.
// The console's unit tests (web/test/golden.test.ts) read the same files.
//
// Placeholders (docs/API.md, "Golden files"): the string "<string>" matches
// any string, "<number>" any number, "<cursor>" any non-empty string.
// Everything else must be equal; objects must have exactly the golden's keys
// (in any order), arrays the golden's elements in order.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "support.hpp"
#include "test_client.hpp"
#include "yoi/error.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using net::test::HttpClient;
using net::test::WsClient;

// ---------------------------------------------------------------- matching

const fs::path kGoldenDir = YOI_GOLDEN_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every golden file the scenario read: each must be.
std::set<std::string>& used() {
  static std::set<std::string> names;
  return names;
}

// The text of golden file `name` (request bodies are sent as they are).
std::string text_of(const std::string& name) {
  used().insert(name);
  return read_text(kGoldenDir / name);
}

// The golden file `name`, parsed; null (and a test failure) when missing or malformed.
bj::value golden(const std::string& name) {
  auto text = text_of(name);
  boost::system::error_code ec;
  auto v = bj::parse(text, ec);
  if (text.empty() || ec) {
    ADD_FAILURE() << "docs/golden/" << name << " is missing or not JSON";
    return nullptr;
  }
  return v;
}

// Appends to `out` one line per difference of `actual` from `gold`.
void diff(const bj::value& gold, const bj::value& actual, const std::string& path, std::vector<std::string>& out) {
  auto differ = [&](std::string_view what) {
    out.push_back(fmt::format("{}: expected {}, got {}", path.empty() ? "$" : path, what, bj::serialize(actual)));
  };
  if (gold.is_string()) {
    std::string_view s = gold.get_string();
    if (s == "<string>") return actual.is_string() ? void() : differ("a string");
    if (s == "<number>") return actual.is_number() ? void() : differ("a number");
    if (s == "<cursor>") return actual.is_string() && !actual.get_string().empty() ? void() : differ("a cursor");
  }
  if (gold.is_object()) {
    if (!actual.is_object()) return differ("an object");
    const auto& g = gold.get_object();
    const auto& a = actual.get_object();
    for (const auto& kv : g) {
      std::string key = path + "." + std::string(kv.key());
      if (const auto* v = a.if_contains(kv.key()))
        diff(kv.value(), *v, key, out);
      else
        out.push_back(key + ": missing");
    }
    for (const auto& kv : a)
      if (!g.contains(kv.key())) out.push_back(path + "." + std::string(kv.key()) + ": not in the golden file");
    return;
  }
  if (gold.is_array()) {
    if (!actual.is_array() || actual.get_array().size() != gold.get_array().size())
      return differ(fmt::format("an array of {}", gold.get_array().size()));
    for (std::size_t i = 0; i < gold.get_array().size(); ++i)
      diff(gold.get_array()[i], actual.get_array()[i], fmt::format("{}[{}]", path, i), out);
    return;
  }
  if (gold.is_number() && actual.is_number()) {
    if (gold.to_number<double>() != actual.to_number<double>()) differ(bj::serialize(gold));
    return;
  }
  if (gold != actual) differ(bj::serialize(gold));
}

std::vector<std::string> diff(const bj::value& gold, const bj::value& actual) {
  std::vector<std::string> out;
  diff(gold, actual, "", out);
  return out;
}

void expect_match(const std::string& name, const bj::value& gold, const bj::value& actual) {
  auto lines = diff(gold, actual);
  std::string all;
  for (const auto& l : lines) all += "\n  " + l;
  EXPECT_TRUE(lines.empty()) << "docs/golden/" << name << " differs:" << all
                             << "\nreceived: " << bj::serialize(actual);
}

// Expects `text` (a body or a frame) to match docs/golden/`name`.
void expect_golden(const std::string& name, std::string_view text) {
  boost::system::error_code ec;
  auto actual = bj::parse(text, ec);
  if (ec) {
    ADD_FAILURE() << name << ": the server sent no JSON: " << text;
    return;
  }
  expect_match(name, golden(name), actual);
}

// The matcher itself: it must notice what the goldens are there to catch.
TEST(GoldenMatcher, NoticesRenamedMissingExtraAndChangedFields) {
  auto gold = bj::parse(R"({"a": "<string>", "n": "<number>", "c": "<cursor>", "k": "x", "l": [1, {"z": true}]})");
  EXPECT_TRUE(diff(gold, bj::parse(R"({"l": [1, {"z": true}], "k": "x", "c": "b1.q", "n": 7, "a": ""})")).empty());
  EXPECT_EQ(diff(gold, bj::parse(R"({"b": "", "n": 7, "c": "q", "k": "x", "l": [1, {"z": true}]})")).size(), 2u)
      << "a rename is one missing and one extra key";
  EXPECT_EQ(diff(gold, bj::parse(R"({"a": "", "n": 7, "c": "q", "k": "x", "l": [1, {"z": true}], "e": 1})")).size(), 1u);
  EXPECT_EQ(diff(gold, bj::parse(R"({"a": 1, "n": "7", "c": "", "k": "y", "l": [1]})")).size(), 5u);
  EXPECT_EQ(diff(gold, bj::parse(R"({"a": "", "n": 7, "c": "q", "k": "x", "l": [1, {"z": false}]})")).size(), 1u);
}

// docs/golden/errors.json is common/error.cpp's table: every code with its
// HTTP status, nothing more.
TEST(GoldenErrors, TheTableIsCommonErrorCpps) {
  auto table = golden("errors.json");
  ASSERT_TRUE(table.is_object());
  std::set<std::string> in_cpp;
  // `internal` is the last enumerator of Code (yoi/error.hpp).
  for (int i = 0; i <= static_cast<int>(Code::internal); ++i) {
    auto code = static_cast<Code>(i);
    std::string name(code_name(code));
    in_cpp.insert(name);
    const auto* status = table.get_object().if_contains(name);
    if (!status) {
      ADD_FAILURE() << "errors.json lacks " << name;
      continue;
    }
    EXPECT_EQ(status->to_number<int>(), http_status(code)) << name;
  }
  for (const auto& kv : table.get_object()) {
    Code code;
    EXPECT_TRUE(in_cpp.contains(std::string(kv.key())) && code_from_name(kv.key(), code))
        << "errors.json has " << kv.key() << ", which common/error.cpp does not";
  }
}

// ---------------------------------------------------------------- the scenario

constexpr auto kDeadline = std::chrono::seconds(15);

struct Frame {
  std::string text;
  bj::object obj;
  std::string type() const { return std::string(obj.contains("type") ? obj.at("type").as_string() : ""); }
  const bj::object& event() const { return obj.at("event").as_object(); }
};

using Clock = std::chrono::steady_clock;

// The next frame before `end`, or nullopt (a test failure) when the stream
// closed or stayed silent.
std::optional<Frame> next_frame(WsClient& ws, std::string_view what, Clock::time_point end = Clock::now() + kDeadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
  auto text = ws.read(std::max(left, std::chrono::milliseconds(1)));
  if (!text) {
    ADD_FAILURE() << "no frame (" << what << ") within " << kDeadline.count() << " s; closed: " << ws.closed();
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = bj::parse(*text, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "undecodable frame: " << *text;
    return std::nullopt;
  }
  return Frame{*text, v.as_object()};
}

// Golden name of an event frame: event_<type>, run_finished by result.
std::string event_golden(const Frame& f) {
  std::string type(f.event().at("type").as_string());
  if (type == "run_finished") type += "_" + std::string(f.event().at("result").as_string());
  return "event_" + type + ".json";
}

// Reads frames until one satisfies `stop` (returned) within the deadline,
// comparing the first event frame of each kind with its golden file.
std::optional<Frame> watch_until(WsClient& ws, std::set<std::string>& events_seen,
                                 const std::function<bool(const Frame&)>& stop, std::string_view what) {
  auto end = Clock::now() + kDeadline;
  for (;;) {
    auto f = next_frame(ws, what, end);
    if (!f) return std::nullopt;
    if (f->type() == "event") {
      auto name = event_golden(*f);
      EXPECT_TRUE(fs::exists(kGoldenDir / name)) << "an event without a golden file: " << f->text;
      if (events_seen.insert(name).second && fs::exists(kGoldenDir / name)) expect_golden(name, f->text);
    }
    if (stop(*f)) return f;
  }
}

bool is_event(const Frame& f, std::string_view type, std::string_view result = {}) {
  if (f.type() != "event" || f.event().at("type").as_string() != type) return false;
  return result.empty() || f.event().at("result").as_string() == result;
}

// The status a code has in docs/golden/errors.json (0 if absent).
int golden_status(std::string_view code) {
  auto table = golden("errors.json");
  const auto* s = table.is_object() ? table.get_object().if_contains(code) : nullptr;
  return s ? s->to_number<int>() : 0;
}

// One API's way to a worker: its port, the worker routes' prefix and the
// headers it wants (the runtime's bearer token).
struct Target {
  std::uint16_t port = 0;
  std::string workers;  // "/api/runtimes/local/workers" | "/v1/workers"
  net::test::Fields headers;
  std::string all_workers;  // the list across runtimes (the browser API's only)
  std::string error_golden = "error_body.json";
};

// Expects `method target` to answer `status`; returns the body.
std::string call(HttpClient& http, const Target& t, std::string_view method, std::string target, std::string body,
                 int status) {
  auto headers = t.headers;
  headers.emplace_back("Content-Type", "application/json");
  auto r = http.request(method, target, std::move(body), headers, kDeadline);
  EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body << r.error;
  return r.body;
}

// The worker's life through one API, every body and frame against its
// golden file: create, the log by polling, a run, transcript and detail, a
// bad cursor, the stream, a cancelled run, stop, an error.
void worker_scenario(const Target& t, std::set<std::string>& events_seen) {
  HttpClient http("127.0.0.1", t.port);
  const std::string w = t.workers + "/golden";
  auto do_call = [&](std::string_view method, std::string target, std::string body, int status) {
    return call(http, t, method, std::move(target), std::move(body), status);
  };

  // Create (the request is the golden body itself).
  expect_golden("create_answer.json", do_call("POST", t.workers, text_of("create_body.json"), 201));
  // The log so far, by polling: worker_created precedes any snapshot's
  // position, so no socket carries it (the frame around an event is the same
  // for every type). Its cursor is where the stream is watched from below.
  events_seen.insert("event_worker_created.json");
  std::string after_created;
  {
    auto text = do_call("GET", w + "/events?limit=1", {}, 200);
    expect_golden("events_page.json", text);
    auto page = bj::parse(text);
    expect_match("event_worker_created.json", golden("event_worker_created.json").at("event"),
                 page.at("events").at(0).at("event"));
    after_created = page.at("events").at(0).at("cursor").as_string();
  }

  // A run that completes.
  expect_golden("input_accepted.json", do_call("POST", w + "/input", text_of("input_body.json"), 202));
  auto deadline = Clock::now() + kDeadline;
  for (;;) {
    auto d = bj::parse(do_call("GET", w, {}, 200));
    if (d.at("status") == "idle" && d.at("transcript_total") == 2) break;
    ASSERT_LT(Clock::now(), deadline) << "the first run did not finish: " << d;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  expect_golden("transcript_page.json", do_call("GET", w + "/transcript", {}, 200));
  expect_golden("worker_detail.json", do_call("GET", w, {}, 200));
  expect_golden("worker_page.json", do_call("GET", t.workers, {}, 200));
  if (!t.all_workers.empty()) expect_golden("workers_all.json", do_call("GET", t.all_workers, {}, 200));

  // A cursor that cannot be honoured: a diagnostic, then a snapshot (the
  // first watcher of this worker: of its state now, the run in its tail).
  {
    WsClient ws2("127.0.0.1", t.port);
    auto hs = ws2.connect(w + "/events/ws?cursor=not-a-cursor", t.headers, kDeadline);
    ASSERT_TRUE(hs.ok) << hs.status << " " << hs.body << hs.error;
    auto diag = next_frame(ws2, "the cursor diagnostic");
    ASSERT_TRUE(diag);
    expect_golden("frame_diagnostic_resync.json", diag->text);
    auto snap = next_frame(ws2, "the snapshot after a resync");
    ASSERT_TRUE(snap);
    expect_golden("frame_snapshot.json", snap->text);
    ws2.close();
  }

  // Watch from after worker_created: the run's events, then (idle) a heartbeat.
  WsClient ws("127.0.0.1", t.port);
  auto hs = ws.connect(w + "/events/ws?cursor=" + after_created, t.headers, kDeadline);
  ASSERT_TRUE(hs.ok) << hs.status << " " << hs.body << hs.error;
  std::uint64_t last_seq = 0;
  auto idle = watch_until(ws, events_seen, [&](const Frame& f) {
    if (f.type() == "event") last_seq = f.obj.at("seq").to_number<std::uint64_t>();
    return f.type() == "heartbeat";
  }, "the first run's events, then a heartbeat");
  ASSERT_TRUE(idle);
  expect_golden("frame_heartbeat.json", idle->text);
  EXPECT_EQ(idle->obj.at("seq").to_number<std::uint64_t>(), last_seq) << "a heartbeat names the last event";
  EXPECT_TRUE(events_seen.contains("event_run_finished_completed.json"));

  // A tool run (the echo driver, ARCHITECTURE §12): tool_call; the write
  // asks by default (§15): approval_requested, the worker awaiting with its
  // pending approval, the answer, approval_resolved, then tool_result.
  do_call("POST", w + "/input", R"({"content":"/write {\"path\": \"golden.txt\", \"content\": \"one\"}"})", 202);
  ASSERT_TRUE(watch_until(ws, events_seen, [](const Frame& f) { return is_event(f, "approval_requested"); },
                          "the write's approval request"));
  expect_golden("worker_awaiting_approval.json", do_call("GET", w, {}, 200));
  expect_golden("approval_answer.json", do_call("POST", w + "/approvals/call_1", text_of("approval_body.json"), 200));
  EXPECT_EQ(bj::parse(do_call("POST", w + "/approvals/call_1", text_of("approval_body.json"), 200)),
            bj::parse(do_call("POST", w + "/approvals/call_1", text_of("approval_body.json"), 200)))
      << "the same answer again is the same outcome";
  do_call("POST", w + "/approvals/call_1", R"({"decision":"deny"})", golden_status("approval_resolved"));
  do_call("POST", w + "/approvals/call_9", R"({"decision":"deny"})", golden_status("approval_not_found"));
  ASSERT_TRUE(watch_until(ws, events_seen, [](const Frame& f) { return is_event(f, "run_finished", "completed"); },
                          "the tool run's events"));
  EXPECT_TRUE(events_seen.contains("event_approval_resolved.json"));
  EXPECT_TRUE(events_seen.contains("event_tool_call.json"));
  EXPECT_TRUE(events_seen.contains("event_tool_result.json"));
  // A failed call (outside the view): its step's assistant item with the
  // call, and the tool item with its typed error and duration.
  do_call("POST", w + "/input", R"({"content":"/read {\"path\": \"/etc/passwd\"}"})", 202);
  ASSERT_TRUE(watch_until(ws, events_seen, [](const Frame& f) { return is_event(f, "run_finished", "completed"); },
                          "the failed tool run's events"));
  expect_golden("transcript_tool_page.json", do_call("GET", w + "/transcript?start=7&limit=2", {}, 200));
  // bash (ARCHITECTURE §14): its output streamed as tool_output.
  do_call("POST", w + "/input", R"({"content":"/bash {\"command\": \"echo golden\"}"})", 202);
  ASSERT_TRUE(watch_until(ws, events_seen, [](const Frame& f) { return is_event(f, "run_finished", "completed"); },
                          "the bash run's events"));
  EXPECT_TRUE(events_seen.contains("event_tool_output.json"));

  // A long run, cancelled at once.
  std::string long_input = R"({"content":")" + std::string(2000, 'x') + R"("})";
  auto run2 = bj::parse(do_call("POST", w + "/input", long_input, 202));
  auto cancel = bj::parse(do_call("POST", w + "/cancel", text_of("reason_body.json"), 200));
  expect_golden("cancel_answer.json", bj::serialize(cancel));
  EXPECT_EQ(cancel.at("run_id"), run2.at("run_id"));
  ASSERT_TRUE(watch_until(ws, events_seen, [](const Frame& f) { return is_event(f, "run_finished", "cancelled"); },
                          "the cancelled run's events"));

  // Stop: the final events, then the stream ends with a diagnostic.
  expect_golden("stop_answer.json", do_call("POST", w + "/stop", text_of("reason_body.json"), 200));
  auto end = watch_until(ws, events_seen, [](const Frame& f) { return f.type() == "diagnostic"; },
                         "the final events and the worker_stopped diagnostic");
  ASSERT_TRUE(end);
  expect_golden("frame_diagnostic_fatal.json", end->text);
  EXPECT_FALSE(ws.read(kDeadline)) << "the stream ends after worker_stopped";
  EXPECT_EQ(ws.close_code(), 1000);

  // An error: input to the stopped worker, with the table's status.
  // (A fresh message: a re-sent client_message_id answers its first acceptance.)
  auto r = http.request("POST", w + "/input", R"({"content":"too late"})", t.headers, kDeadline);
  expect_golden(t.error_golden, r.body);
  boost::system::error_code ec;
  auto err = bj::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  EXPECT_EQ(r.status, golden_status(err.at("error").at("code").as_string())) << r.body;
}

// The write asks (the default); the scenario's one bash command is allowed
// by a rule, so its run shows tool_output without an approval in between.
constexpr std::string_view kEchoProfile =
    "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 4\necho_chunk_delay_ms = 10\n"
    "[[profiles.runtime_default.permissions]]\ntool = \"bash\"\npattern = \"echo *\"\naction = \"allow\"\n";

TEST(Golden, TheBrowserApiSendsWhatDocsGoldenSays) {
  TmpDir dir;
  dir.file("rt.toml", std::string(kEchoProfile));
  auto token = dir.file("gone.token", "a-token-for-a-runtime-that-is-not-there");
  // Port 1 on loopback: nothing listens, so "gone" is refused at once.
  auto cfg = dir.file("server.toml",
                      "[embedded]\nid = \"local\"\ndisplay_name = \"Local runtime\"\nstore = \"memory\"\n"
                      "runtime_config = \"rt.toml\"\n"
                      "[[runtimes]]\nid = \"gone\"\ndisplay_name = \"Gone\"\nbase_url = \"http://127.0.0.1:1\"\n"
                      "token_file = \"" + token + "\"\ntimeout_ms = 3000\nconnect_timeout_ms = 2000\n"
                      "[observe]\nheartbeat_ms = 300\n");
  Proc server({server_binary(), "--no-auth", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir",
               (dir.path / "data").string(), "--log-level", "warn"});
  auto port = server.wait_ready("yoi-server listening on ");
  ASSERT_NE(port, 0) << server.stderr_text();
  Target t{port, "/api/runtimes/local/workers", {}, "/api/workers"};
  HttpClient http("127.0.0.1", port);

  // Runtimes: a remote one that never answered, then the list with both.
  expect_golden("runtime_unreachable.json", call(http, t, "GET", "/api/runtimes/gone", {}, 200));
  expect_golden("runtime_detail.json", call(http, t, "GET", "/api/runtimes/local", {}, 200));
  expect_golden("runtime_list.json", call(http, t, "GET", "/api/runtimes", {}, 200));

  std::set<std::string> events_seen;
  worker_scenario(t, events_seen);

  // Every golden file (so every event type) was used; runtime_api_* are the
  // runtime API's own (the test below).
  for (const auto& entry : fs::directory_iterator(kGoldenDir)) {
    auto name = entry.path().filename().string();
    if (name.ends_with(".json") && !name.starts_with("runtime_api_")) {
      EXPECT_TRUE(used().contains(name)) << "docs/golden/" << name << " was not used";
    }
  }
}

// The runtime API (§6) has "the same bodies and shapes" as the browser API:
// the same scenario against a real yoi-runtime, the same golden files (only
// the cursors, placeholders here, are the runtime's own; its errors name no
// runtime or worker, and it has no runtime list: runtime_api_*.json).
TEST(Golden, TheRuntimeApiSendsTheSameBodiesAndFrames) {
  TmpDir dir;
  auto cfg = dir.file("rt.toml", "[runtime]\nid = \"local\"\nheartbeat_interval_ms = 300\n" + std::string(kEchoProfile));
  Proc runtime({runtime_binary(), "--listen", "127.0.0.1:0", "--config", cfg, "--log-level", "warn"},
               {{"YOI_RUNTIME_TOKEN", "golden-token"}});
  auto port = runtime.wait_ready("yoi-runtime listening on ");
  ASSERT_NE(port, 0) << runtime.stderr_text();
  Target t{port, "/v1/workers", {{"Authorization", "Bearer golden-token"}}, {}, "runtime_api_error_body.json"};
  HttpClient http("127.0.0.1", port);
  expect_golden("runtime_api_summary.json", call(http, t, "GET", "/v1/runtime", {}, 200));
  std::set<std::string> events_seen;
  worker_scenario(t, events_seen);
  for (auto type : rt::wire::kEventTypes) {
    auto name = "event_" + std::string(rt::wire::event_type_name(type));
    bool seen = std::any_of(events_seen.begin(), events_seen.end(), [&](const auto& n) { return n.starts_with(name); });
    EXPECT_TRUE(seen) << "the runtime's stream never carried " << name;
  }
}

}  // namespace
}  // namespace yoi::backend::test
