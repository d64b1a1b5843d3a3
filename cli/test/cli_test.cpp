// Integration tests: the real `yoi` binary against a real yoi-server (with its
// embedded runtime, and a remote yoi-runtime when that binary is built), over
// real sockets on 127.0.0.1. Every process call has a deadline.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "api.hpp"
#include "fixture.hpp"
#include "follow.hpp"
#include "process.hpp"
#include "screen.hpp"
#include "tools_view.hpp"
#include "yoi/cli/cli.hpp"
#include "yoi/cli/token.hpp"
#include "yoi/cli/transport.hpp"

namespace yoi::cli::test {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The fixtures (Server, yoi(), create_worker, …) are in fixture.hpp.

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (yoi_bin().empty()) GTEST_FAIL() << "the yoi binary is not built (YOI_BUILD_DIR)";
    if (binary("yoi-server").empty()) GTEST_SKIP() << "yoi-server is not built";
    ASSERT_TRUE(srv.start());
  }
  Server srv;
};

// ------------------------------------------------------------ unit pieces

TEST(CliUnit, ParsesWorkerRefs) {
  auto r = parse_worker_ref("local/w-1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->runtime_id, "local");
  EXPECT_EQ(r->worker_id, "w-1");
  EXPECT_FALSE(parse_worker_ref("local"));
  EXPECT_FALSE(parse_worker_ref("/w"));
  EXPECT_FALSE(parse_worker_ref("local/"));
  EXPECT_FALSE(parse_worker_ref("local/a/b"));
  EXPECT_EQ(parse_worker_ref("lo cal/w").error().code, Code::invalid_id);
}

// Regression (issue 18, item 11): `--server 127.0.0.1:8787` was refused
// ("must start with http://"); no scheme means http.
TEST(CliUnit, ServerUrlWithoutSchemeDefaultsToHttp) {
  auto ep = parse_server_url("127.0.0.1:8787");
  ASSERT_TRUE(ep) << ep.error().message;
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "8787");
  EXPECT_EQ(ep->display, "http://127.0.0.1:8787");
  EXPECT_FALSE(parse_server_url("ftp://127.0.0.1:8787"));
}

TEST(CliUnit, TablesAlignColumns) {
  EXPECT_EQ(format_table({{"A", "BB", "C"}, {"long", "x", "y"}}), "A     BB  C\nlong  x   y\n");
}

// Regression (issue 18, item 2): model and worker text reached the terminal
// as is, so it could move the cursor, retitle the window or reorder text.
TEST(CliUnit, Issue18PrintableShowsControlsInsteadOfObeyingThem) {
  EXPECT_EQ(printable("line 1\n\tline 2"), "line 1\n\tline 2");
  EXPECT_EQ(printable("\x1b]0;pwned\x07 \x1b[2J\r\x7f\x01"), "^[]0;pwned^G ^[[2J^M^?^A");
  EXPECT_EQ(printable(std::string("nul\0!", 5)), "nul^@!");
  EXPECT_EQ(printable("csi \xc2\x9b" "2J"), "csi \\u009b" "2J");          // C1 CSI
  EXPECT_EQ(printable("abc\xe2\x80\xae!"), "abc\\u202e!");           // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(printable("x\xe2\x81\xa6y"), "x\\u2066y");               // LEFT-TO-RIGHT ISOLATE
  EXPECT_EQ(printable("caf\xc3\xa9 \xf0\x9f\x99\x82"), "caf\xc3\xa9 \xf0\x9f\x99\x82");  // UTF-8 stays
  EXPECT_EQ(printable("bad \xff\xc0\xaf end \xe2\x82"), "bad \uFFFD\uFFFD\uFFFD end \uFFFD");
  // A reply streamed in pieces may cut a character in two: it is held back,
  // not replaced.
  Printable p;
  EXPECT_EQ(p.feed("caf\xc3"), "caf");
  EXPECT_EQ(p.feed("\xa9\x1b"), "\xc3\xa9^[");
  EXPECT_EQ(p.feed("\xf0\x9f"), "");
  EXPECT_EQ(p.finish(), "\uFFFD");
  EXPECT_EQ(invalid_utf8_at("ok \xc3"), 3u);
  EXPECT_FALSE(invalid_utf8_at("caf\xc3\xa9"));
}

Frame diagnostic_frame(std::string code, std::string action) {
  Frame f;
  f.type = "diagnostic";
  f.obj["type"] = "diagnostic";
  f.obj["code"] = code;
  f.obj["message"] = "the message";
  f.obj["action"] = action;
  return f;
}

// Regression (issue 18, item 12): `send --wait` printed runtime_recovered for
// an outage it never saw, and people were shown the action token "(wait)".
TEST(CliUnit, Issue18DiagnosticsReadAsWordsAndRecoveryNeedsAnOutage) {
  DiagnosticWords words;
  EXPECT_FALSE(words.text(diagnostic_frame("runtime_recovered", "wait")));
  auto down = words.text(diagnostic_frame("runtime_unavailable", "wait"));
  ASSERT_TRUE(down);
  EXPECT_EQ(*down, "runtime_unavailable: the message; waiting for it to come back");
  auto up = words.text(diagnostic_frame("runtime_recovered", "wait"));
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, "runtime_recovered: the message; following again");
  EXPECT_FALSE(words.text(diagnostic_frame("runtime_recovered", "wait"))) << "one recovery per outage";
  for (const char* action : {"retry", "resync", "wait"}) {
    auto t = words.text(diagnostic_frame("cursor_expired", action));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->find(fmt::format("({})", action)), std::string::npos) << *t;
    EXPECT_EQ(t->rfind("cursor_expired: the message; ", 0), 0u) << *t;
  }
}

// Tool calls and results (issue 20) as people read them: one line per call,
// one per result, the output bounded and indented.
bj::object obj_of(std::string_view text) { return bj::parse(text).as_object(); }

TEST(CliUnit, ToolCallReadsAsArrowNameAndMainArgument) {
  EXPECT_EQ(tool_call_text("read", bj::parse(R"({"path":"notes.md","limit":5})")), "→ read notes.md\n");
  EXPECT_EQ(tool_call_text("grep", bj::parse(R"({"pattern":"TODO","path":"src"})")), "→ grep TODO\n");
  EXPECT_EQ(tool_call_text("glob", bj::value(R"({"pattern":"**/*.md"})")), "→ glob **/*.md\n")
      << "arguments as the model's JSON text";
  EXPECT_EQ(tool_call_text("bash", bj::parse(R"({"command":"ls -la"})")), "→ bash ls -la\n");
  EXPECT_EQ(tool_call_text("custom", bj::parse(R"({"n":1})")), "→ custom {\"n\":1}\n") << "no main argument";
  EXPECT_EQ(tool_call_text("read", bj::parse("{}")), "→ read\n");
  // One line, however long or multi-line the argument, and cut on a character.
  EXPECT_EQ(tool_call_text("write", bj::parse(R"({"path":"a\nb"})")), "→ write a\\nb\n");
  auto long_path = tool_call_text("read", bj::value{{"path", std::string(kToolLineChars - 1, 'x') + "\xc3\xa9tail"}});
  EXPECT_EQ(long_path, "→ read " + std::string(kToolLineChars - 1, 'x') + "…\n");
}

TEST(CliUnit, ToolResultReadsAsOkWithBoundedIndentedOutput) {
  auto r = ToolResultView::from_event(obj_of(
      R"({"type":"tool_result","run_id":"r","call_id":"c1","name":"read","ok":true,"output":"1\tone\n2\ttwo","truncated":false,"duration_ms":3})"));
  EXPECT_EQ(tool_result_text(r), "← read ok (2 lines, 3 ms)\n    1\tone\n    2\ttwo\n");
  std::string many;
  for (int i = 1; i <= 20; ++i) many += fmt::format("line {}\n", i);
  auto block = tool_output_block(many);
  EXPECT_EQ(block.rfind("    line 1\n", 0), 0u) << block;
  EXPECT_NE(block.find("    line 6\n"), std::string::npos) << block;
  EXPECT_EQ(block.find("line 7"), std::string::npos) << block;
  EXPECT_NE(block.find("  … 14 more lines\n"), std::string::npos) << block;
  EXPECT_EQ(tool_output_block("a\nb", 1), "    a\n  … 1 more line\n");
  EXPECT_EQ(tool_output_block(""), "");
  auto bash = ToolResultView::from_event(obj_of(
      R"({"name":"bash","ok":true,"output":"","truncated":true,"exit_code":2,"duration_ms":40})"));
  EXPECT_EQ(tool_result_text(bash), "← bash ok (0 lines, truncated, exit 2, 40 ms)\n");
}

TEST(CliUnit, FailedToolResultShowsItsErrorCodeFromEventOrTranscript) {
  auto live = ToolResultView::from_event(obj_of(
      R"({"name":"write","ok":false,"output":"","truncated":false,"error":{"code":"read_only","message":"/workspaces/ro is read-only"},"duration_ms":1})"));
  EXPECT_EQ(tool_result_text(live), "← write failed: read_only: /workspaces/ro is read-only (1 ms)\n");
  // The transcript's tool item: {call_id, name, ok, content}.
  auto item = ToolResultView::from_item(
      obj_of(R"({"role":"tool","run_id":"r","call_id":"c3","name":"write","ok":false,"content":"read_only: /workspaces/ro is read-only"})"));
  EXPECT_EQ(tool_result_text(item), "← write failed: read_only: /workspaces/ro is read-only\n");
  auto model_read = ToolResultView::from_item(obj_of(
      R"({"role":"tool","name":"read","ok":false,"content":"error: not_found: no such file: /work/x"})"));
  EXPECT_EQ(tool_result_text(model_read), "← read failed: not_found: no such file: /work/x\n");
  auto typed = ToolResultView::from_item(obj_of(
      R"({"role":"tool","name":"read","ok":false,"content":"error: not_found: no such file: /work/x","error":{"code":"not_found","message":"no such file: /work/x"},"duration_ms":7})"));
  EXPECT_EQ(typed.output, "") << "the model's error line is not output";
  EXPECT_EQ(tool_result_text(typed), "← read failed: not_found: no such file: /work/x (7 ms)\n");
  auto field_wins = ToolResultView::from_item(obj_of(
      R"({"role":"tool","name":"read","ok":false,"content":"error: read_only: x\npartial","error":{"code":"read_only","message":"x"}})"));
  EXPECT_EQ(field_wins.error_code, "read_only");
  EXPECT_EQ(field_wins.output, "partial") << "output after the error line is kept";
  auto plain = ToolResultView::from_item(obj_of(R"({"role":"tool","name":"read","ok":false,"content":"It broke: badly"})"));
  EXPECT_EQ(tool_result_text(plain), "← read failed: tool_failed: It broke: badly\n");
  auto ok_item = ToolResultView::from_item(obj_of(R"({"role":"tool","name":"edit","ok":true,"content":"-a\n+b"})"));
  EXPECT_EQ(tool_result_text(ok_item), "← edit ok (2 lines)\n    -a\n    +b\n");
  std::string diff = "--- a\n+++ a\n@@ -1,10 +1,10 @@\n";
  for (int i = 0; i < 10; ++i) diff += " ctx\n";
  auto edit = ToolResultView::from_item(bj::value{{"role", "tool"}, {"name", "edit"}, {"ok", true}, {"content", diff}}.as_object());
  EXPECT_NE(tool_result_text(edit).find("  … 1 more line\n"), std::string::npos) << "an edit shows 12 lines of its diff";
  EXPECT_EQ(tool_calls_text(obj_of(
                R"({"role":"assistant","content":"","tool_calls":[{"call_id":"c1","name":"read","arguments":{"path":"a"}},{"call_id":"c2","name":"edit","arguments":"{\"path\":\"b\"}"}]})")),
            "→ read a\n→ edit b\n");
}

TEST(CliUnit, InFlightStepTextDoesNotRepeatEarlierStepsOfTheRun) {
  auto tail = bj::parse(R"([{"role":"user","content":"go","run_id":"r1"},
    {"role":"assistant","content":"Let me look.","run_id":"r1","tool_calls":[{"call_id":"c1","name":"read","arguments":{}}]},
    {"role":"tool","content":"x","run_id":"r1","call_id":"c1","name":"read","ok":true}])")
                  .as_array();
  EXPECT_EQ(in_flight_step_text(obj_of(R"({"run_id":"r1","text":"Let me look.Done","step":2})"), tail), "Done");
  EXPECT_EQ(in_flight_step_text(obj_of(R"({"run_id":"r1","text":"Done","step":2})"), tail), "Done");
  EXPECT_EQ(in_flight_step_text(obj_of(R"({"run_id":"r2","text":"Let me look.","step":1})"), tail), "Let me look.")
      << "another run's steps are not its text";
}

// Tool text is model- and file-controlled: it goes through the one escaping
// path like every reply (Screen), so an output cannot drive the terminal.
TEST(CliUnit, ToolTextThroughPrintableCannotDriveTheTerminal) {
  auto r = ToolResultView::from_event(obj_of(R"({"name":"read","ok":true,"output":"\u001b]0;pwned\u0007x\r"})"));
  EXPECT_EQ(printable(tool_result_text(r)), "← read ok (1 line)\n    ^[]0;pwned^Gx^M\n");
  EXPECT_EQ(printable(tool_call_text("read", bj::parse(R"({"path":"\u001b[2J"})"))), "→ read ^[[2J\n");
}

// Approvals (issue 21, ARCHITECTURE §15) as chat, attach and send --wait show them.
TEST(CliUnit, ApprovalRequestAndResolutionReadAsOneLineEach) {
  auto req = obj_of(
      R"({"type":"approval_requested","run_id":"r1","call_id":"c1","name":"write","arguments":{"path":"a.txt","content":"x"},"rule":{"tool":"write","action":"ask"}})");
  EXPECT_EQ(approval_request_text(req), "? write a.txt: waits for your approval (call c1)\n");
  EXPECT_EQ(approval_request_text(obj_of(R"({"call_id":"c2","name":"bash","arguments":"{\"command\":\"make\\ntest\"}"})")),
            "? bash make\\ntest: waits for your approval (call c2)\n")
      << "a detail's pending entry; arguments as JSON text; one line";
  EXPECT_EQ(approval_hint_text("rt/w", "c1"),
            "    answer: yoi approve rt/w c1  (--deny [--reason TEXT] to refuse, --remember to always allow)\n");
  EXPECT_EQ(approval_resolved_text(obj_of(R"({"call_id":"c1","decision":"approved","remember":false})"), "write"),
            "✓ write approved (call c1)\n");
  EXPECT_EQ(approval_resolved_text(obj_of(R"({"call_id":"c1","decision":"approved","remember":true})"), "write"),
            "✓ write approved (call c1), always allowed from now on\n");
  EXPECT_EQ(approval_resolved_text(obj_of(R"({"call_id":"c1","decision":"denied","reason":"not that file"})")),
            "✗ call denied (call c1): not that file\n");
  // Model- and person-controlled text goes through the one escaping path.
  EXPECT_EQ(printable(approval_request_text(obj_of(R"({"call_id":"c\u001b[2J","name":"bash","arguments":{"command":"\u001b]0;x\u0007"}})"))),
            "? bash ^[]0;x^G: waits for your approval (call c^[[2J)\n");
}

TEST(CliUnit, ChatApprovalAnswersAreYesNoAlways) {
  EXPECT_EQ(parse_approval_answer("y"), ApprovalAnswer::approve);
  EXPECT_EQ(parse_approval_answer(" YES \r"), ApprovalAnswer::approve);
  EXPECT_EQ(parse_approval_answer("n"), ApprovalAnswer::deny);
  EXPECT_EQ(parse_approval_answer("No"), ApprovalAnswer::deny);
  EXPECT_EQ(parse_approval_answer("a"), ApprovalAnswer::always);
  EXPECT_EQ(parse_approval_answer("always"), ApprovalAnswer::always);
  for (const char* other : {"", "  ", "yep", "ok", "/write {}", "ya"})
    EXPECT_EQ(parse_approval_answer(other), ApprovalAnswer::unknown) << other << ": new input is never consent";
}

TEST(CliUnit, BashOutputStreamsIndentedUnderItsCallAndControlsShow) {
  ToolOutputIndent in;
  std::string out = in.feed("ok 1\nok");
  out += in.feed(" 2\n\x1b[31mred\r\n");
  EXPECT_EQ(out, "    ok 1\n    ok 2\n    \x1b[31mred\r\n");
  EXPECT_FALSE(in.mid_line());
  out = in.feed("partial");
  EXPECT_TRUE(in.mid_line()) << "a line left open is ended before the result line";
  EXPECT_EQ(printable("    \x1b[31mred\r\n"), "    ^[[31mred^M\n");
}


// ------------------------------------------------------------ approvals (issue 21)

// The server's local runtime offers approvals (capability workers.approve, §15).
bool offers_approvals(const Server& srv) {
  auto r = yoi(srv, {"--json", "runtimes"});
  if (r.exit_code != 0) return false;
  auto v = parse(r.out);
  const auto* list = v.is_object() ? v.as_object().if_contains("runtimes") : nullptr;
  if (!list || !list->is_array()) return false;
  for (const auto& rt : list->as_array()) {
    if (!rt.is_object() || s(rt.as_object(), "runtime_id") != "local") continue;
    const auto* caps = rt.as_object().if_contains("capabilities");
    if (caps && caps->is_array())
      for (const auto& c : caps->as_array())
        if (c.is_string() && c.as_string() == "workers.approve") return true;
  }
  return false;
}

// Answers a pending call the way every CLI path does (post_approval).
CliResult<bj::value> answer(const Server& srv, const std::string& ref, const std::string& call_id, ApprovalRequest a) {
  auto ep = parse_server_url(srv.url());
  EXPECT_TRUE(ep);
  auto dir = srv.dir() + "/data";
  auto token = find_access_token("", [&](const char* k) -> const char* {
    return std::string_view(k) == "YOI_DATA_DIR" ? dir.c_str() : nullptr;
  });
  EXPECT_TRUE(token);
  HttpClient http(*ep, *token, std::chrono::milliseconds(10000));
  Api api(http);
  auto w = parse_worker_ref(ref);
  EXPECT_TRUE(w);
  return post_approval(api, *w, call_id, a);
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// chat asks inline and answers through the approval route: yes runs the
// call, no with a reason tells the model the reason, always allows the next
// identical call without asking; an answer that is not y/n/a asks again.
TEST_F(CliTest, Issue21ChatAsksYesNoAlwaysInline) {
  if (!offers_approvals(srv)) GTEST_SKIP() << "the local runtime does not offer workers.approve";
  auto ref = create_worker(srv);
  std::string in = std::string(R"(/write {"path":"a.txt","content":"x"})") + "\n" + "sure\n" + "y\n" +
                   R"(/write {"path":"b.txt","content":"y"})" + "\n" + "n\n" + "not b please\n" +
                   R"(/write {"path":"c.txt","content":"z"})" + "\n" + "a\n" +
                   R"(/write {"path":"c.txt","content":"z"})" + "\n";
  auto chat = yoi(srv, {"chat", ref}, {}, in, 60s);
  ASSERT_EQ(chat.exit_code, 0) << chat.err << chat.out;
  const auto& out = chat.out;
  EXPECT_EQ(count_of(out, "? write a.txt: waits for your approval (call "), 1u) << out;
  EXPECT_NE(out.find("approve? [y]es / [n]o / [a]lways: sure\nanswer y (yes, run it)"), std::string::npos)
      << "an answer that is not y/n/a is never consent: " << out;
  EXPECT_NE(out.find("approve? [y]es / [n]o / [a]lways: y\n"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(✓ write approved \(call [^)]+\)\n← write ok)"))) << out;
  EXPECT_NE(out.find("write ok: 1 line"), std::string::npos) << "the run went on: " << out;
  EXPECT_NE(out.find("reason (optional, told to the model; Enter for none): not b please\n"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(✗ write denied \(call [^)]+\): not b please\n← write failed: denied)")))
      << out;
  EXPECT_NE(out.find("not b please", out.find("← write failed: denied") + 1), std::string::npos)
      << "the model's summary names the reason: " << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(✓ write approved \(call [^)]+\), always allowed from now on)"))) << out;
  EXPECT_EQ(count_of(out, "? write c.txt"), 1u) << "the remembered call runs without asking: " << out;
  EXPECT_EQ(count_of(out, "← write ok"), 3u) << out;
}

// attach only watches: it shows the request, how to answer it (yoi approve),
// and the resolution made elsewhere; a reconnect's snapshot shows what is
// still pending from the worker detail.
TEST_F(CliTest, Issue21AttachShowsTheRequestHowToAnswerAndTheResolution) {
  if (!offers_approvals(srv)) GTEST_SKIP() << "the local runtime does not offer workers.approve";
  auto ref = create_worker(srv);
  Pty att({yoi_bin(), "--server", srv.url(), "attach", ref}, yoi_env(srv, {{"TERM", "dumb"}}));
  auto at = att.expect("attached to", 15s);
  ASSERT_TRUE(at) << att.output();
  auto sent = yoi(srv, {"send", ref, R"(/write {"path":"a.txt","content":"x"})"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  at = att.expect("? write a.txt: waits for your approval (call ", 15s, *at);
  ASSERT_TRUE(at) << att.output();
  auto close = att.output().find(')', *at);
  ASSERT_NE(close, std::string::npos);
  auto call_id = att.output().substr(*at, close - *at);
  at = att.expect("answer: yoi approve " + ref + " " + call_id, 15s, *at);
  ASSERT_TRUE(at) << att.output();

  // A second attach starts from the snapshot: the detail's pending call.
  auto later = Pty({yoi_bin(), "--server", srv.url(), "attach", ref}, yoi_env(srv, {{"TERM", "dumb"}}));
  EXPECT_TRUE(later.expect("? write a.txt: waits for your approval (call " + call_id + ")", 15s)) << later.output();

  ASSERT_TRUE(answer(srv, ref, call_id, {.approve = false, .reason = "no thanks", .remember = false}));
  at = att.expect("✗ write denied (call " + call_id + "): no thanks", 15s, *at);
  ASSERT_TRUE(at) << att.output();
  at = att.expect("← write failed: denied", 15s, *at);
  EXPECT_TRUE(at) << att.output();
  auto again = answer(srv, ref, call_id, {.approve = true, .reason = "", .remember = false});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "approval_resolved") << again.error().message;
  // Stopping the worker ends both streams normally.
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  EXPECT_EQ(att.wait(10s), 0) << att.output();
  EXPECT_EQ(later.wait(10s), 0) << later.output();
}

// send --wait only watches too: it names the call and how to answer it, and
// its run completes once the call is answered elsewhere.
TEST_F(CliTest, Issue21SendWaitShowsHowToAnswerAndCompletesAfterTheApproval) {
  if (!offers_approvals(srv)) GTEST_SKIP() << "the local runtime does not offer workers.approve";
  auto ref = create_worker(srv);
  Pty send({yoi_bin(), "--server", srv.url(), "send", "--wait", ref, R"(/write {"path":"w.txt","content":"x"})"},
           yoi_env(srv, {{"TERM", "dumb"}}));
  auto at = send.expect("? write w.txt: waits for your approval (call ", 15s);
  ASSERT_TRUE(at) << send.output();
  auto call_id = send.output().substr(*at, send.output().find(')', *at) - *at);
  ASSERT_TRUE(send.expect("answer: yoi approve " + ref + " " + call_id, 15s, *at)) << send.output();
  ASSERT_TRUE(answer(srv, ref, call_id, {.approve = true, .reason = "", .remember = false}));
  EXPECT_TRUE(send.expect("write ok: 1 line", 15s, *at)) << send.output();
  EXPECT_EQ(send.wait(15s), 0) << send.output();
}

// chat whose input ends at the question leaves the call pending (it can be
// answered later) and exits 0 saying how.
TEST_F(CliTest, Issue21ChatInputEndingAtTheQuestionLeavesTheCallPending) {
  if (!offers_approvals(srv)) GTEST_SKIP() << "the local runtime does not offer workers.approve";
  auto ref = create_worker(srv);
  auto chat = yoi(srv, {"chat", ref}, {}, std::string(R"(/write {"path":"p.txt","content":"x"})") + "\n", 30s);
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.err.find("stays pending: yoi approve " + ref + " "), std::string::npos) << chat.err;
  auto show = yoi(srv, {"--json", "show", ref});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto w = parse(show.out).as_object();
  EXPECT_EQ(s(w, "status"), "awaiting_approval") << show.out;
  const auto* pending = w.if_contains("pending_approvals");
  ASSERT_TRUE(pending && pending->is_array() && pending->as_array().size() == 1) << show.out;
}

// ------------------------------------------------------------ usage and exit codes

TEST(CliUsage, HelpAndUsageErrors) {
  ASSERT_FALSE(yoi_bin().empty()) << "the yoi binary is not built";
  auto help = run({yoi_bin(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"runtimes", "workers", "create", "show", "send", "attach", "chat", "transcript", "cancel",
                           "stop", "YOI_SERVER", "YOI_ACCESS_TOKEN", "Exit status"})
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  auto send_help = run({yoi_bin(), "send", "--help"});
  EXPECT_EQ(send_help.exit_code, 0);
  EXPECT_NE(send_help.out.find("--wait"), std::string::npos);
  EXPECT_NE(send_help.out.find("RUNTIME/WORKER"), std::string::npos);

  EXPECT_EQ(run({yoi_bin()}).exit_code, 2);
  EXPECT_EQ(run({yoi_bin(), "frobnicate"}).exit_code, 2);
  EXPECT_EQ(run({yoi_bin(), "show"}).exit_code, 2);
  EXPECT_EQ(run({yoi_bin(), "workers", "--status", "bogus"}).exit_code, 2);
  EXPECT_EQ(run({yoi_bin(), "create"}).exit_code, 2);  // --runtime is required
  auto bad_ref = run({yoi_bin(), "show", "no-slash"});
  EXPECT_EQ(bad_ref.exit_code, 2);
  EXPECT_NE(bad_ref.err.find("RUNTIME/WORKER"), std::string::npos) << bad_ref.err;
  EXPECT_EQ(run({yoi_bin(), "--server", "ftp://x", "runtimes"}).exit_code, 2);
  EXPECT_EQ(run({yoi_bin(), "--token-file", "/nonexistent/token", "runtimes"}).exit_code, 2);
  // The token never comes from argv.
  EXPECT_EQ(run({yoi_bin(), "--token", "abc", "runtimes"}).exit_code, 2);
}

// Regression (issue 18, item 11): `yoi frob` said "A subcommand is required".
TEST(CliUsage, UnknownCommandIsNamed) {
  ASSERT_FALSE(yoi_bin().empty());
  auto r = run({yoi_bin(), "frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frob'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("runtimes, workers"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("A subcommand is required"), std::string::npos) << r.err;
  // With no word at all, a command is still what is missing.
  EXPECT_EQ(run({yoi_bin()}).err.find("unknown command"), std::string::npos);
}

TEST(CliUsage, ConnectionRefusedIsExitThree) {
  ASSERT_FALSE(yoi_bin().empty());
  // A port nothing listens on: bind a socket... simplest is a port from a
  // server we started and stopped.
  Server dead;
  if (binary("yoi-server").empty()) GTEST_SKIP() << "yoi-server is not built";
  ASSERT_TRUE(dead.start());
  dead.stop();
  for (auto args : std::vector<std::vector<std::string>>{
           {"runtimes"}, {"show", "local/w"}, {"send", "--wait", "local/w", "hi"}, {"attach", "local/w"}}) {
    auto r = yoi(dead, args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("connection_refused: "), std::string::npos) << r.err;
  }
  // YOI_SERVER is honoured when --server is absent.
  auto r = run({yoi_bin(), "runtimes"}, {{"YOI_SERVER", dead.url()}, {"YOI_ACCESS_TOKEN", ""}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(dead.url()), std::string::npos) << r.err;
}

// ------------------------------------------------------------ commands

// Regression (issue 18, item 11): the same, end to end.
TEST_F(CliTest, ServerWithoutSchemeIsHttp) {
  auto host_port = srv.url().substr(std::string_view("http://").size());
  auto r = run({yoi_bin(), "--server", host_port, "runtimes"}, yoi_env(srv));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("local"), std::string::npos) << r.out;
}

// Regression (issue 18, item 10): bytes that are not UTF-8 on stdin reached
// the server, which answered "invalid_request: body is not valid JSON".
TEST_F(CliTest, SendRefusesInvalidUtf8BeforeSending) {
  auto ref = create_worker(srv);
  for (std::string bad : {std::string("\xff"), std::string("ok \xc3"), std::string("\xed\xa0\x80"),
                          std::string("\xc0\xaf")}) {
    auto r = yoi(srv, {"send", ref, "-"}, {}, bad);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("JSON"), std::string::npos) << r.err;
  }
  auto shown = yoi(srv, {"--json", "show", ref});
  EXPECT_NE(shown.out.find("\"run_count\":0"), std::string::npos) << shown.out;
  auto ok = yoi(srv, {"send", "--wait", ref, "-"}, {}, std::string("caf\xc3\xa9 \xf0\x9f\x99\x82"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}


TEST_F(CliTest, RuntimesTextAndJson) {
  auto t = yoi(srv, {"runtimes"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out.rfind("RUNTIME", 0), 0u) << t.out;
  EXPECT_NE(t.out.find("local"), std::string::npos);
  EXPECT_NE(t.out.find("ready"), std::string::npos) << t.out;
  EXPECT_TRUE(std::regex_search(t.out, std::regex("ready +[0-9]+ "))) << "worker count shown: " << t.out;

  auto j = yoi(srv, {"runtimes", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto v = parse(j.out);
  ASSERT_TRUE(v.is_object());
  auto& rts = v.as_object().at("runtimes").as_array();
  ASSERT_EQ(rts.size(), 1u);
  EXPECT_EQ(s(rts[0].as_object(), "runtime_id"), "local");
}

TEST_F(CliTest, CreateShowWorkersTranscriptCancelStop) {
  auto ref = create_worker(srv, "local", {"--name", "Helper", "--id", "w-one"});
  EXPECT_EQ(ref, "local/w-one");
  auto task = yoi(srv, {"create", "--runtime", "local", "--objective", "ship it", "--json"});
  ASSERT_EQ(task.exit_code, 0) << task.err;
  auto tv = parse(task.out).as_object();
  EXPECT_EQ(s(tv.at("intent").as_object(), "kind"), "task");
  EXPECT_EQ(s(tv.at("intent").as_object(), "objective"), "ship it");
  auto task_ref = "local/" + s(tv, "worker_id");

  // show
  auto show = yoi(srv, {"show", ref});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("Helper"), std::string::npos) << show.out;
  EXPECT_TRUE(std::regex_search(show.out, std::regex("status +idle"))) << show.out;
  auto show_j = yoi(srv, {"show", ref, "--json"});
  ASSERT_EQ(show_j.exit_code, 0);
  EXPECT_EQ(s(parse(show_j.out).as_object(), "display_name"), "Helper");

  // workers: all, one runtime, status filter; text and JSON
  auto all = yoi(srv, {"workers"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out.rfind("WORKER", 0), 0u);
  EXPECT_NE(all.out.find("local/w-one"), std::string::npos);
  EXPECT_NE(all.out.find(task_ref), std::string::npos);
  auto one = yoi(srv, {"workers", "--runtime", "local", "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(parse(one.out).as_object().at("workers").as_array().size(), 2u);

  // send (no wait), then transcript once the run is over
  auto send = yoi(srv, {"send", ref, "hello there"});
  ASSERT_EQ(send.exit_code, 0) << send.err;
  EXPECT_NE(send.out.find("accepted run"), std::string::npos) << send.out;
  std::string transcript;
  for (int i = 0; i < 100; ++i) {
    auto t = yoi(srv, {"transcript", ref});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    transcript = t.out;
    if (transcript.find("assistant:") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(transcript, "user: hello there\nassistant: echo: hello there\n");
  auto tj = yoi(srv, {"transcript", ref, "--json"});
  auto tjo = parse(tj.out).as_object();
  EXPECT_EQ(tjo.at("total").to_number<int>(), 2);
  EXPECT_EQ(s(tjo.at("items").as_array()[1].as_object(), "content"), "echo: hello there");

  // cancel with nothing running
  auto cancel = yoi(srv, {"cancel", ref});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.out.find("nothing to cancel"), std::string::npos) << cancel.out;
  auto cancel_j = yoi(srv, {"cancel", ref, "--json"});
  EXPECT_EQ(parse(cancel_j.out).as_object().at("cancelled").as_bool(), false);

  // stop, then the status filter sees it, and input is a typed error
  auto stop = yoi(srv, {"stop", ref});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(stop.out, "stopped local/w-one\n");
  auto stopped = yoi(srv, {"workers", "--status", "stopped", "--json"});
  auto sw = parse(stopped.out).as_object().at("workers").as_array();
  ASSERT_EQ(sw.size(), 1u);
  EXPECT_EQ(s(sw[0].as_object(), "worker_id"), "w-one");
  auto idle = yoi(srv, {"workers", "--runtime", "local", "--status", "idle"});
  EXPECT_EQ(idle.out.find("w-one"), std::string::npos) << idle.out;
  EXPECT_NE(idle.out.find(task_ref), std::string::npos) << idle.out;
  auto late = yoi(srv, {"send", ref, "anyone?"});
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_EQ(late.err.rfind("worker_stopped: ", 0), 0u) << late.err;
}

// Issue 21: a write that asks parks the worker; `yoi workers --status
// awaiting_approval` finds it, `yoi show` lists the pending call, `yoi
// approve` answers it (--remember, --deny --reason), and the typed errors of
// a second or unknown answer are exit 1.
TEST_F(CliTest, Issue21ApproveAnswersAPendingCall) {
  auto ref = create_worker(srv);
  auto wait_for = [&](const std::vector<std::string>& args, const std::string& needle) {
    for (int i = 0; i < 300; ++i) {
      if (yoi(srv, args).out.find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(30ms);
    }
    return false;
  };
  ASSERT_EQ(yoi(srv, {"send", ref, R"(/write {"path": "plan.txt", "content": "p"})"}).exit_code, 0);
  ASSERT_TRUE(wait_for({"workers", "--status", "awaiting_approval"}, ref)) << "listed by the status filter";
  auto show = yoi(srv, {"show", ref});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("awaiting_approval"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("pending approvals"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("call_1"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("plan.txt"), std::string::npos) << show.out;
  EXPECT_EQ(yoi(srv, {"workers", "--status", "idle"}).out.find(ref), std::string::npos);

  auto busy = yoi(srv, {"send", ref, "yes"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_TRUE(has_line(busy.err, "worker_busy: ")) << busy.err;

  auto ok = yoi(srv, {"approve", ref, "call_1", "--remember"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "approved call_1 (always allowed from now on)\n");
  auto again = yoi(srv, {"approve", "--json", ref, "call_1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(s(parse(again.out).as_object(), "decision"), "approved") << "the same answer again is fine";
  auto other = yoi(srv, {"approve", ref, "call_1", "--deny"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_TRUE(has_line(other.err, "approval_resolved: ")) << other.err;
  auto none = yoi(srv, {"approve", ref, "call_9"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_TRUE(has_line(none.err, "approval_not_found: ")) << none.err;
  EXPECT_EQ(yoi(srv, {"approve", ref, "call_1", "--deny", "--remember"}).exit_code, 2) << "a usage error";
  ASSERT_TRUE(wait_for({"show", ref}, "idle"));
  EXPECT_NE(yoi(srv, {"show", ref}).out.find("/work/plan.txt"), std::string::npos) << "the remembered rule is shown";

  // Denied with a reason: the model reads it.
  ASSERT_EQ(yoi(srv, {"send", ref, R"(/write {"path": "other.txt", "content": "o"})"}).exit_code, 0);
  ASSERT_TRUE(wait_for({"show", ref}, "awaiting_approval"));
  auto pending = parse(yoi(srv, {"show", "--json", ref}).out).as_object().at("pending_approvals").as_array();
  ASSERT_EQ(pending.size(), 1u);
  const std::string call = s(pending[0].as_object(), "call_id");
  auto no = yoi(srv, {"approve", ref, call, "--deny", "--reason", "not this one"});
  ASSERT_EQ(no.exit_code, 0) << no.err;
  EXPECT_EQ(no.out, "denied " + call + ": not this one\n");
  ASSERT_TRUE(wait_for({"show", ref}, "idle"));
  auto t = yoi(srv, {"transcript", ref});
  EXPECT_NE(t.out.find("not this one"), std::string::npos) << t.out;
}

TEST_F(CliTest, TypedErrorsAreExitOne) {
  struct Case {
    std::vector<std::string> args;
    std::string code;
  };
  for (const auto& c : std::vector<Case>{{{"show", "local/nobody"}, "worker_not_found"},
                                         {{"transcript", "local/nobody"}, "worker_not_found"},
                                         {{"cancel", "local/nobody"}, "worker_not_found"},
                                         {{"stop", "local/nobody"}, "worker_not_found"},
                                         {{"send", "local/nobody", "hi"}, "worker_not_found"},
                                         {{"send", "--wait", "local/nobody", "hi"}, "worker_not_found"},
                                         {{"attach", "local/nobody"}, "worker_not_found"},
                                         {{"show", "elsewhere/w"}, "runtime_not_found"},
                                         {{"workers", "--runtime", "elsewhere"}, "runtime_not_found"},
                                         {{"create", "--runtime", "local", "--profile", "nope"}, "invalid_request"}}) {
    auto r = yoi(srv, c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args[0] << ": " << r.out << r.err;
    EXPECT_TRUE(has_line(r.err, c.code + ": ")) << c.args[0] << ": " << r.err;
  }
  auto ref = create_worker(srv, "local", {"--id", "dup"});
  auto again = yoi(srv, {"create", "--runtime", "local", "--id", "dup"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err.rfind("worker_exists: ", 0), 0u) << again.err;
}

TEST_F(CliTest, RmRefusesAWorkerNotStoppedThenDeletesIt) {
  auto ref = create_worker(srv, "local", {"--id", "doomed"});
  auto refused = yoi(srv, {"rm", ref});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_EQ(refused.err.rfind("worker_not_stopped: ", 0), 0u) << refused.err;
  EXPECT_NE(refused.err.find("stop it"), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  ASSERT_EQ(yoi(srv, {"show", ref}).exit_code, 0) << "a refused rm changes nothing";

  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  auto rm = yoi(srv, {"rm", ref});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, "deleted local/doomed\n");
  auto gone = yoi(srv, {"show", ref});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err.rfind("worker_not_found: ", 0), 0u) << gone.err;
  auto again = yoi(srv, {"rm", ref});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err.rfind("worker_not_found: ", 0), 0u) << again.err;
  auto listed = yoi(srv, {"workers", "--runtime", "local"});
  EXPECT_EQ(listed.out.find("doomed"), std::string::npos) << listed.out;
}

TEST_F(CliTest, RmJsonPrintsOneDocumentAndTheIdIsFreeAgain) {
  auto ref = create_worker(srv, "local", {"--id", "again"});
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  auto rm = yoi(srv, {"rm", ref, "--json"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  auto v = parse(rm.out).as_object();
  EXPECT_EQ(s(v, "runtime_id"), "local");
  EXPECT_EQ(s(v, "worker_id"), "again");
  EXPECT_TRUE(v.at("deleted").as_bool());
  EXPECT_EQ(create_worker(srv, "local", {"--id", "again"}), "local/again");
  auto usage = yoi(srv, {"rm"});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
}

TEST_F(CliTest, SendWaitPrintsTheReply) {
  auto ref = create_worker(srv);
  auto r = yoi(srv, {"send", "--wait", ref, "a longer message that streams in several chunks"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "echo: a longer message that streams in several chunks\n");

  // Text from stdin, both absent and '-'.
  auto in1 = yoi(srv, {"send", "--wait", ref}, {}, std::string("from stdin\n"));
  ASSERT_EQ(in1.exit_code, 0) << in1.err;
  EXPECT_EQ(in1.out, "echo: from stdin\n");
  auto in2 = yoi(srv, {"send", "--wait", ref, "-"}, {}, std::string("dash"));
  ASSERT_EQ(in2.exit_code, 0) << in2.err;
  EXPECT_EQ(in2.out, "echo: dash\n");
  auto empty = yoi(srv, {"send", ref}, {}, std::string(""));
  EXPECT_EQ(empty.exit_code, 2);

  // JSON lines: the acceptance, then this run's events, deltas adding up.
  auto j = yoi(srv, {"send", "--wait", "--json", ref, "json please"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto lines = json_lines(j.out);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_TRUE(lines[0].at("accepted").as_bool());
  auto run_id = s(lines[0], "run_id");
  std::string text;
  std::uint64_t prev = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(s(lines[i], "type"), "event");
    auto seq = lines[i].at("seq").to_number<std::uint64_t>();
    EXPECT_GT(seq, prev);
    prev = seq;
    const auto& e = lines[i].at("event").as_object();
    EXPECT_EQ(s(e, "run_id"), run_id);
    if (s(e, "type") == "text_delta") text += s(e, "delta");
  }
  EXPECT_EQ(text, "echo: json please");
  EXPECT_EQ(s(lines.back().at("event").as_object(), "type"), "run_finished");
  EXPECT_EQ(s(lines.back().at("event").as_object(), "result"), "completed");

  // A run cancelled from elsewhere ends `send --wait` with exit 1.
  Child waiter({yoi_bin(), "--server", srv.url(), "send", "--wait", ref, std::string(400, 'x')},
               yoi_env(srv));
  for (int i = 0; i < 200 && waiter.stdout_text().find("echo") == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_NE(waiter.stdout_text().find("echo"), std::string::npos) << waiter.stderr_text();
  auto c = yoi(srv, {"cancel", ref});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(waiter.wait_exit(15s), 1);
  EXPECT_NE(waiter.stderr_text().find("cancelled: "), std::string::npos) << waiter.stderr_text();
}

// Frames of an `attach --json` output: events must be gap-free by seq.
void expect_contiguous(const std::vector<bj::object>& frames, std::uint64_t& first, std::uint64_t& last) {
  bool have = false;
  for (const auto& f : frames) {
    auto type = s(f, "type");
    if (type == "snapshot") {
      auto seq = f.at("seq").to_number<std::uint64_t>();
      if (have) {
        EXPECT_EQ(seq, last) << "a snapshot moved the position";
      }
      if (!have) first = seq + 1;
      last = seq;
      have = true;
    } else if (type == "event") {
      auto seq = f.at("seq").to_number<std::uint64_t>();
      if (have) {
        EXPECT_EQ(seq, last + 1) << "gap or duplicate at seq " << seq;
      }
      if (!have) first = seq;
      last = seq;
      have = true;
    }
  }
  EXPECT_TRUE(have);
}

TEST_F(CliTest, AttachFollowsLiveEventsUntilStopped) {
  auto ref = create_worker(srv);
  Child text_attach({yoi_bin(), "--server", srv.url(), "attach", ref}, yoi_env(srv));
  Child json_attach({yoi_bin(), "--server", srv.url(), "attach", "--json", ref}, yoi_env(srv));
  // Both are attached once their snapshot is out.
  ASSERT_TRUE(json_attach.wait_line("\"snapshot\"", 15s)) << json_attach.stderr_text();
  for (int i = 0; i < 300 && text_attach.stderr_text().find("attached to") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "one"}).exit_code, 0);
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "two"}).exit_code, 0);
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  EXPECT_EQ(text_attach.wait_exit(15s), 0) << text_attach.stderr_text();
  EXPECT_EQ(json_attach.wait_exit(15s), 0) << json_attach.stderr_text();
  EXPECT_EQ(text_attach.stdout_text(), "> one\necho: one\n> two\necho: two\n[worker stopped]\n");
  auto frames = json_lines(json_attach.stdout_text());
  std::uint64_t first = 0, last = 0;
  expect_contiguous(frames, first, last);
  std::string text;
  for (const auto& f : frames)
    if (s(f, "type") == "event" && s(f.at("event").as_object(), "type") == "text_delta")
      text += s(f.at("event").as_object(), "delta");
  EXPECT_EQ(text, "echo: oneecho: two");
  EXPECT_EQ(s(frames.back(), "type"), "diagnostic");
  EXPECT_EQ(s(frames.back(), "code"), "worker_stopped");

  // --from-start replays everything; --cursor resumes strictly after.
  auto replay = yoi(srv, {"attach", "--json", "--from-start", ref});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  auto all = json_lines(replay.out);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().at("seq").to_number<int>(), 1);
  std::uint64_t f2 = 0, l2 = 0;
  expect_contiguous(all, f2, l2);
  EXPECT_EQ(l2, last);
  auto mid = all[all.size() / 2];
  auto resumed = yoi(srv, {"attach", "--json", "--cursor", s(mid, "cursor"), ref});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  auto rest = json_lines(resumed.out);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().at("seq").to_number<std::uint64_t>(), mid.at("seq").to_number<std::uint64_t>() + 1);
  auto conflict = yoi(srv, {"attach", "--cursor", "x", "--from-start", ref});
  EXPECT_EQ(conflict.exit_code, 2);
}

TEST_F(CliTest, AttachSurvivesAServerRestartWithoutAGap) {
  auto ref = create_worker(srv);
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "before"}).exit_code, 0);
  Child attach({yoi_bin(), "--server", srv.url(), "attach", "--json", ref}, yoi_env(srv));
  ASSERT_TRUE(attach.wait_line("\"snapshot\"", 15s)) << attach.stderr_text();
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "during one"}).exit_code, 0);
  ASSERT_TRUE(attach.wait_line("run_finished", 15s)) << attach.stderr_text();

  ASSERT_TRUE(srv.restart());
  // Events written while the CLI is still reconnecting must reach it too.
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "after restart"}).exit_code, 0);
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  ASSERT_EQ(attach.wait_exit(30s), 0) << attach.stderr_text();
  auto frames = json_lines(attach.stdout_text());
  std::uint64_t first = 0, last = 0;
  expect_contiguous(frames, first, last);
  std::string inputs;
  for (const auto& f : frames)
    if (s(f, "type") == "event" && s(f.at("event").as_object(), "type") == "input_accepted")
      inputs += s(f.at("event").as_object(), "content") + ";";
  // The backend may open with a snapshot from before "before" and replay
  // from there; either way every input appears once, in order.
  EXPECT_TRUE(inputs == "during one;after restart;" || inputs == "before;during one;after restart;") << inputs;
  // Over the WebSocket the restart drops the connection; a polling client
  // may not have polled while the server was down.
  if (attach.stderr_text().find("polling") == std::string::npos) {
    EXPECT_NE(attach.stderr_text().find("reconnecting"), std::string::npos) << attach.stderr_text();
  }
  // The stream ends with the stop, nothing lost in between.
  auto detail = yoi(srv, {"show", ref, "--json"});
  EXPECT_EQ(parse(detail.out).as_object().at("last_seq").to_number<std::uint64_t>(), last);
}

TEST_F(CliTest, ChatThroughAPseudoTerminal) {
  auto ref = create_worker(srv);
  Pty chat({yoi_bin(), "--server", srv.url(), "chat", ref}, yoi_env(srv, {{"TERM", "dumb"}}));
  auto at = chat.expect("> ", 15s);
  ASSERT_TRUE(at) << chat.output();
  chat.write("hello pty\r");
  at = chat.expect("echo: hello pty", 15s, *at);
  ASSERT_TRUE(at) << chat.output();
  at = chat.expect("> ", 15s, *at);
  ASSERT_TRUE(at) << chat.output();

  // A slow run (40 ms per 8-byte chunk): Ctrl-C once text is flowing.
  chat.write(std::string(600, 'z') + "\r");
  at = chat.expect("echo: zz", 15s, *at);
  ASSERT_TRUE(at) << chat.output();
  chat.write("\x03");
  at = chat.expect("[cancelled]", 15s, *at);
  ASSERT_TRUE(at) << chat.output();
  at = chat.expect("> ", 15s, *at);
  ASSERT_TRUE(at) << chat.output();

  // Still usable after a cancel.
  chat.write("again\r");
  at = chat.expect("echo: again", 15s, *at);
  ASSERT_TRUE(at) << chat.output();
  at = chat.expect("> ", 15s, *at);
  ASSERT_TRUE(at);
  chat.write("\x04");  // Ctrl-D
  EXPECT_EQ(chat.wait(10s), 0) << chat.output();

  auto t = yoi(srv, {"transcript", "--json", ref});
  auto items = parse(t.out).as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 6u) << t.out;
  EXPECT_EQ(s(items[3].as_object(), "result"), "cancelled");
  EXPECT_LT(s(items[3].as_object(), "content").size(), 606u);
  EXPECT_EQ(s(items[5].as_object(), "content"), "echo: again");

  // Ctrl-C at the prompt exits too.
  Pty chat2({yoi_bin(), "--server", srv.url(), "chat", ref}, yoi_env(srv, {{"TERM", "dumb"}}));
  ASSERT_TRUE(chat2.expect("> ", 15s)) << chat2.output();
  chat2.write("\x03");
  EXPECT_EQ(chat2.wait(10s), 0) << chat2.output();
}

// Issue 18: a run cancelled before any text left no reply item, and
// `transcript` printed two `user:` lines in a row.
TEST(CliTranscript, Issue18CancelledRunIsMarkedInTheTranscript) {
  if (yoi_bin().empty()) GTEST_FAIL() << "the yoi binary is not built (YOI_BUILD_DIR)";
  if (binary("yoi-server").empty()) GTEST_SKIP() << "yoi-server is not built";
  Server srv({}, {}, 60'000);  // the first chunk is a minute away: no text before the cancel
  ASSERT_TRUE(srv.start());
  auto ref = create_worker(srv);
  auto send = yoi(srv, {"send", ref, "unanswered"});
  ASSERT_EQ(send.exit_code, 0) << send.err;
  auto c = yoi(srv, {"cancel", ref});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("cancelled run"), std::string::npos) << c.out;
  auto t = yoi(srv, {"transcript", ref});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out, "user: unanswered\nassistant [cancelled]:\n");
  auto tj = yoi(srv, {"transcript", ref, "--json"});
  auto items = parse(tj.out).as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 2u) << tj.out;
  EXPECT_EQ(s(items[1].as_object(), "result"), "cancelled");
  EXPECT_EQ(s(items[1].as_object(), "content"), "");
}

TEST(CliAuth, AccessTokenFromEnvironmentOrFile) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  const std::string token = "cli-test-token-0123456789";
  Server srv({}, {{"YOI_ACCESS_TOKEN", token}});
  ASSERT_TRUE(srv.start());
  auto none = yoi(srv, {"runtimes"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err.rfind("unauthorized: ", 0), 0u) << none.err;
  auto wrong = yoi(srv, {"runtimes"}, {{"YOI_ACCESS_TOKEN", "wrong"}});
  EXPECT_EQ(wrong.exit_code, 1);
  auto env = yoi(srv, {"runtimes"}, {{"YOI_ACCESS_TOKEN", token}});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  write_file(srv.dir() + "/token", token + "\n");
  auto file = yoi(srv, {"--token-file", srv.dir() + "/token", "create", "--runtime", "local"});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  auto ref = file.out.substr(0, file.out.size() - 1);
  // The event stream authenticates too.
  auto wait = yoi(srv, {"--token-file", srv.dir() + "/token", "send", "--wait", ref, "secret chat"});
  EXPECT_EQ(wait.exit_code, 0) << wait.err;
  EXPECT_EQ(wait.out, "echo: secret chat\n");
  EXPECT_EQ(wait.err.find(token), std::string::npos);
  auto attach = yoi(srv, {"attach", ref});
  EXPECT_EQ(attach.exit_code, 1);
  EXPECT_TRUE(has_line(attach.err, "unauthorized: ")) << attach.err;
}

// Issue 19: yoi-server makes a token by default; `yoi` run as the same user
// finds it without flags — --token-file, then $YOI_ACCESS_TOKEN, then
// $YOI_DATA_DIR/access-token, then ./.yoi-data/access-token.
TEST(CliAuth, FindsTheServersTokenWithoutFlagsInTheDocumentedOrder) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  Server srv;
  ASSERT_TRUE(srv.start());
  const auto made = srv.dir() + "/data/access-token";
  ASSERT_TRUE(fs::exists(made));
  // ./.yoi-data/access-token, as after `./scripts/run` in the same folder.
  const auto cwd = srv.dir() + "/cwd";
  fs::create_directories(cwd + "/.yoi-data");
  fs::copy_file(made, cwd + "/.yoi-data/access-token");
  auto in = [&](const std::string& dir, std::vector<std::string> args, std::map<std::string, std::string> env) {
    std::string cmd = "cd '" + dir + "' && exec '" + yoi_bin() + "' --server " + srv.url();
    for (auto& a : args) cmd += " '" + a + "'";
    env.emplace("YOI_SERVER", "");
    return run({"/bin/sh", "-c", cmd}, env);
  };
  const std::map<std::string, std::string> none{{"YOI_ACCESS_TOKEN", ""}, {"YOI_DATA_DIR", ""}};
  EXPECT_EQ(in(cwd, {"runtimes"}, none).exit_code, 0) << "./.yoi-data/access-token";
  auto elsewhere = in(srv.dir(), {"runtimes"}, none);
  EXPECT_EQ(elsewhere.exit_code, 1) << "no token anywhere: " << elsewhere.err;
  EXPECT_TRUE(has_line(elsewhere.err, "unauthorized: ")) << elsewhere.err;
  EXPECT_EQ(in(srv.dir(), {"runtimes"}, yoi_env(srv)).exit_code, 0)
      << "$YOI_DATA_DIR/access-token";
  // $YOI_ACCESS_TOKEN comes before both files; --token-file before it.
  EXPECT_EQ(in(cwd, {"runtimes"}, {{"YOI_ACCESS_TOKEN", "wrong"}, {"YOI_DATA_DIR", srv.dir() + "/data"}}).exit_code, 1);
  EXPECT_EQ(in(cwd, {"--token-file", made, "runtimes"}, {{"YOI_ACCESS_TOKEN", "wrong"}}).exit_code, 0);
  // An unreadable --token-file is a usage error naming the file, not a fallback.
  auto bad = in(cwd, {"--token-file", srv.dir() + "/missing", "runtimes"}, none);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("missing"), std::string::npos) << bad.err;
}

TEST(CliRemote, CommandsThroughARemoteRuntime) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  auto rt_bin = binary("yoi-runtime");
  if (rt_bin.empty()) GTEST_SKIP() << "yoi-runtime is not built";
  auto dir = make_temp_dir();
  write_file(dir + "/rt.token", "remote-token-abcdef\n");
  write_file(dir + "/rt.toml", "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_delay_ms = 10\n");
  Child rt({rt_bin, "--listen", "127.0.0.1:0", "--runtime-id", "box-1", "--token-file", dir + "/rt.token",
            "--config", dir + "/rt.toml", "--log-level", "warn"});
  auto line = rt.wait_line("yoi-runtime listening on http://", 15s);
  ASSERT_TRUE(line) << rt.stderr_text();
  auto url = line->substr(line->find("http://"));
  Server srv("[[runtimes]]\nid = \"box-1\"\nbase_url = \"" + url + "\"\ntoken_file = \"" + dir +
             "/rt.token\"\n");
  ASSERT_TRUE(srv.start());

  auto rts = yoi(srv, {"runtimes"});
  ASSERT_EQ(rts.exit_code, 0) << rts.err;
  EXPECT_NE(rts.out.find("box-1"), std::string::npos) << rts.out;
  auto ref = create_worker(srv, "box-1", {"--name", "Remote"});
  auto wait = yoi(srv, {"send", "--wait", ref, "over the wire"});
  ASSERT_EQ(wait.exit_code, 0) << wait.err;
  EXPECT_EQ(wait.out, "echo: over the wire\n");
  auto t = yoi(srv, {"transcript", ref});
  EXPECT_EQ(t.out, "user: over the wire\nassistant: echo: over the wire\n");
  auto all = yoi(srv, {"workers"});
  EXPECT_NE(all.out.find(ref), std::string::npos) << all.out;
  auto missing = yoi(srv, {"show", "box-1/nobody"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("worker_not_found: ", 0), 0u) << missing.err;

  // The runtime goes away: the backend reports it typed, the CLI exits 1.
  rt.stop(SIGKILL);
  auto gone = yoi(srv, {"show", ref});
  EXPECT_EQ(gone.exit_code, 1) << gone.err;
  EXPECT_EQ(gone.err.rfind("runtime_unreachable: ", 0), 0u) << gone.err;
  auto rts2 = yoi(srv, {"runtimes"});
  EXPECT_EQ(rts2.exit_code, 0) << rts2.err;
  std::error_code ec;
  fs::remove_all(dir, ec);
}


// ------------------------------------------------------------ issue 18

// Regression (issue 18, item 2): attach, transcript and send --wait wrote a
// reply's escape sequences straight to the terminal. --json stays exact.
TEST_F(CliTest, Issue18RepliesAreShownWithControlsEscaped) {
  auto ref = create_worker(srv);
  Child attach({yoi_bin(), "--server", srv.url(), "attach", ref}, yoi_env(srv));
  for (int i = 0; i < 300 && attach.stderr_text().find("attached to") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  const std::string nasty = "\x1b]0;pwned\x07\x1b[2J \xc2\x9b" "31m \xe2\x80\xae" "evil";
  const std::string shown = "^[]0;pwned^G^[[2J \\u009b31m \\u202eevil";
  auto wait = yoi(srv, {"send", "--wait", ref, nasty});
  ASSERT_EQ(wait.exit_code, 0) << wait.err;
  EXPECT_EQ(wait.out, "echo: " + shown + "\n");
  auto t = yoi(srv, {"transcript", ref});
  EXPECT_EQ(t.out, "user: " + shown + "\nassistant: echo: " + shown + "\n");
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  ASSERT_EQ(attach.wait_exit(15s), 0) << attach.stderr_text();
  EXPECT_EQ(attach.stdout_text(), "> " + shown + "\necho: " + shown + "\n[worker stopped]\n");
  auto tj = yoi(srv, {"transcript", "--json", ref});
  auto items = parse(tj.out).as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(s(items[1].as_object(), "content"), "echo: " + nasty) << "--json keeps the exact text";
}

// Issue 20: a tool run through the echo driver reads as calls and results in
// send --wait, chat, transcript and attach (one escaping path); --json stays
// the exact frames and items.
TEST_F(CliTest, Issue20ToolRunsReadAsCallsAndResults) {
  auto ref = create_worker(srv);
  Child attach({yoi_bin(), "--server", srv.url(), "attach", ref}, yoi_env(srv));
  for (int i = 0; i < 300 && attach.stderr_text().find("attached to") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);

  const std::string write_msg = R"(/write {"path": "notes.md", "content": "one\ntwo\n"})";
  auto w = yoi(srv, {"send", "--wait", ref, write_msg});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out.rfind("→ write notes.md\n← write ok (", 0), 0u) << w.out;
  EXPECT_TRUE(std::regex_search(w.out, std::regex("\n← write ok \\([^)]* ms\\)\n"))) << w.out;

  auto r = yoi(srv, {"send", "--wait", ref, R"(/read {"path": "notes.md"})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("→ read notes.md\n← read ok (2 lines, ", 0), 0u) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n    [^\n]*one\n    [^\n]*two\n"))) << "indented output: " << r.out;

  // A tool failure is a result: the run completes (exit 0) and says the code.
  auto miss = yoi(srv, {"send", "--wait", ref, R"(/read {"path": "missing.md"})"});
  ASSERT_EQ(miss.exit_code, 0) << miss.err;
  EXPECT_EQ(miss.out.rfind("→ read missing.md\n← read failed: not_found: ", 0), 0u) << miss.out;

  // Model- or file-controlled text goes through printable() here too.
  auto nasty = yoi(srv, {"send", "--wait", ref, R"(/write {"path": "x\u001b[2J.md", "content": "a"})"});
  ASSERT_EQ(nasty.exit_code, 0) << nasty.err;
  EXPECT_EQ(nasty.out.rfind("→ write x^[[2J.md\n", 0), 0u) << nasty.out;
  EXPECT_EQ(nasty.out.find('\x1b'), std::string::npos);

  // chat (piped): the same lines.
  auto chat = yoi(srv, {"chat", ref}, {}, std::string(R"(/glob {"pattern": "*.md"})") + "\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.out.find("→ glob *.md\n← glob ok ("), std::string::npos) << chat.out;

  auto t = yoi(srv, {"transcript", ref});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("user: " + write_msg + "\n→ write notes.md\n← write ok"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("→ read missing.md\n← read failed: not_found: "), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("assistant:\n→"), std::string::npos) << "a calls-only step prints no empty line: " << t.out;

  // --json: the server's items, the arguments exactly as sent.
  auto tj = yoi(srv, {"transcript", "--json", ref});
  ASSERT_EQ(tj.exit_code, 0) << tj.err;
  auto items = parse(tj.out).as_object().at("items").as_array();
  ASSERT_GE(items.size(), 4u) << tj.out;
  const auto& step = items[1].as_object();
  EXPECT_EQ(s(step, "role"), "assistant");
  const auto& call = step.at("tool_calls").as_array().at(0).as_object();
  EXPECT_EQ(s(call, "name"), "write");
  auto args = call.at("arguments");
  if (args.is_string()) args = parse(std::string(args.as_string()));
  EXPECT_EQ(s(args.as_object(), "content"), "one\ntwo\n");
  EXPECT_EQ(s(items[2].as_object(), "role"), "tool");
  EXPECT_EQ(s(items[2].as_object(), "call_id"), s(call, "call_id"));
  EXPECT_EQ(tj.out.find("→"), std::string::npos);

  auto wj = yoi(srv, {"send", "--wait", "--json", ref, R"(/read {"path": "notes.md"})"});
  ASSERT_EQ(wj.exit_code, 0) << wj.err;
  std::set<std::string> types;
  for (const auto& f : json_lines(wj.out))
    if (s(f, "type") == "event") types.insert(s(f.at("event").as_object(), "type"));
  EXPECT_TRUE(types.contains("tool_call") && types.contains("tool_result")) << wj.out;
  EXPECT_EQ(wj.out.find("→"), std::string::npos);

  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  ASSERT_EQ(attach.wait_exit(15s), 0) << attach.stderr_text();
  const auto a = attach.stdout_text();
  EXPECT_NE(a.find("> " + write_msg + "\n→ write notes.md\n← write ok ("), std::string::npos) << a;
  EXPECT_NE(a.find("→ read missing.md\n← read failed: not_found: "), std::string::npos) << a;

  // Attached after the fact: the snapshot's tail reads the same way.
  auto late = yoi(srv, {"attach", ref});
  ASSERT_EQ(late.exit_code, 0) << late.err;
  EXPECT_NE(late.out.find("→ read missing.md\n← read failed: not_found: "), std::string::npos) << late.out;
}

// Regression (issue 18, item 2): `yoi chat` stored arrow-key escape bytes as
// typed text. On a terminal it edits lines and recalls history (libedit);
// driven here through a real tmux pane.
TEST_F(CliTest, Issue18ChatEditsLinesAndRecallsHistoryInTmux) {
  auto which = run({"/bin/sh", "-c", "command -v tmux"}, {}, std::nullopt, 5s);
  if (which.exit_code != 0) GTEST_SKIP() << "tmux is not installed (scripts/setup installs it)";
  auto tmux = which.out.substr(0, which.out.find('\n'));
  auto ref = create_worker(srv);
  auto dir = make_temp_dir();
  const std::string sock = dir + "/tmux.sock";
  auto tm = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{tmux, "-S", sock};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, {}, std::nullopt, 10s);
    EXPECT_FALSE(r.timed_out) << "tmux " << args[0];
    return r;
  };
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    tm({"kill-server"});
    std::error_code ec;
    fs::remove_all(dir, ec);
  }};
  auto started = tm({"-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30",
                     // HOME: no ~/.editrc of the user's changes the keys.
                     fmt::format("env HOME={} YOI_ACCESS_TOKEN= YOI_DATA_DIR={}/data {} --server {} chat {}", dir, srv.dir(), yoi_bin(), srv.url(), ref)});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  auto pane = [&] { return tm({"capture-pane", "-p"}).out; };
  auto wait_pane = [&](const std::string& needle) {
    for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(50ms))
      if (pane().find(needle) != std::string::npos) return true;
    return false;
  };
  auto items = [&] {
    auto t = yoi(srv, {"transcript", "--json", ref});
    return parse(t.out).as_object().at("items").as_array();
  };
  auto wait_items = [&](std::size_t n) {
    for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(50ms))
      if (items().size() >= n) return true;
    return false;
  };
  ASSERT_TRUE(wait_pane("at the prompt quits.\n>")) << pane();  // capture-pane drops the prompt's space
  // "hellx", two Lefts, Backspace, "o w": the line is "heo wlx".
  ASSERT_EQ(tm({"send-keys", "-t", "0", "hellx", "Left", "Left", "BSpace", "o w", "Enter"}).exit_code, 0);
  ASSERT_TRUE(wait_items(2)) << pane();
  ASSERT_TRUE(wait_pane("echo: heo wlx")) << pane();
  // Up recalls it; Ctrl-A and a word in front edit it before sending again.
  ASSERT_EQ(tm({"send-keys", "-t", "0", "Up", "C-a", "say ", "Enter"}).exit_code, 0);
  ASSERT_TRUE(wait_items(4)) << pane();
  auto all = items();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(s(all[0].as_object(), "content"), "heo wlx");
  EXPECT_EQ(s(all[2].as_object(), "content"), "say heo wlx");
  for (const auto& i : all) EXPECT_EQ(s(i.as_object(), "content").find('\x1b'), std::string::npos);
  ASSERT_TRUE(wait_pane("echo: say heo wlx")) << pane();
  ASSERT_EQ(tm({"send-keys", "-t", "0", "C-d"}).exit_code, 0);
  bool gone = false;
  for (auto end = std::chrono::steady_clock::now() + 10s; !gone && std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(50ms))
    gone = tm({"has-session"}).exit_code != 0;
  EXPECT_TRUE(gone) << "Ctrl-D ends chat (and the pane): " << pane();
}

// Regression (issue 18, item 12): a reconnect note was printed in the middle
// of a streamed reply line.
TEST_F(CliTest, Issue18ReconnectNoteStartsOnItsOwnLine) {
  auto ref = create_worker(srv);
  // 2000 bytes: some 10 s of streaming, still going when the server restarts.
  Pty wait({yoi_bin(), "--server", srv.url(), "send", "--wait", ref, std::string(2000, 'q')},
           yoi_env(srv, {{"TERM", "dumb"}}));
  auto at = wait.expect("echo: qq", 15s);
  ASSERT_TRUE(at) << wait.output();
  ASSERT_TRUE(srv.restart());
  at = wait.expect("yoi: stream interrupted", 30s, *at);
  ASSERT_TRUE(at) << wait.output();
  auto note = wait.output().find("yoi: stream interrupted");
  ASSERT_GT(note, 0u);
  EXPECT_EQ(wait.output()[note - 1], '\n') << wait.output();
  wait.wait(30s);
}

// Regression (issue 18, item 12): `attach --from-start` opened with
// "stream resumed" although nothing had been interrupted.
TEST_F(CliTest, Issue18AttachFromStartDoesNotSayResumed) {
  auto ref = create_worker(srv);
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "hi"}).exit_code, 0);
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  auto r = yoi(srv, {"attach", "--from-start", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "> hi\necho: hi\n[worker stopped]\n");
  EXPECT_EQ(r.err.find("resumed"), std::string::npos) << r.err;
}

// Regression (issue 18, item 12): a failed `send --wait` whose run printed
// nothing still printed an empty line on stdout.
TEST(CliIssue18, FailedSendWaitPrintsNoEmptyLine) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  Server srv({}, {}, 60'000);  // no text before the cancel
  ASSERT_TRUE(srv.start());
  auto ref = create_worker(srv);
  Child waiter({yoi_bin(), "--server", srv.url(), "send", "--wait", ref, "unanswered"}, yoi_env(srv));
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    std::this_thread::sleep_for(20ms);
    running = yoi(srv, {"show", ref}).out.find("running") != std::string::npos;
  }
  ASSERT_TRUE(running);
  ASSERT_EQ(yoi(srv, {"cancel", ref}).exit_code, 0);
  EXPECT_EQ(waiter.wait_exit(15s), 1);
  EXPECT_EQ(waiter.stdout_text(), "");
  EXPECT_TRUE(has_line(waiter.stderr_text(), "cancelled: ")) << waiter.stderr_text();
}

// Regression (issue 18, items 9 and 11): after a create `yoi runtimes` showed
// the old worker count (cached summary) — embedded runtime here; and an
// unknown profile did not say which ones exist.
TEST_F(CliTest, Issue18RuntimesCountsAWriteAtOnceAndProfilesAreListed) {
  auto count = [&](const std::string& status) {
    auto r = yoi(srv, {"runtimes", "--json"});
    return parse(r.out).as_object().at("runtimes").as_array()[0].as_object().at("workers").as_object().at(status).to_number<int>();
  };
  EXPECT_EQ(count("total"), 0);
  auto ref = create_worker(srv);
  EXPECT_EQ(count("total"), 1);
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  EXPECT_EQ(count("stopped"), 1);
  auto bad = yoi(srv, {"create", "--runtime", "local", "--profile", "nope"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "invalid_request: unknown profile 'nope' (profiles: runtime_default)\n");
}

// A yoi-runtime "box-1" (echo profiles runtime_default and fast) behind a
// yoi-server; `server_token` is what the server presents (the runtime's own
// token when empty).
struct RemoteSetup {
  std::string dir = make_temp_dir();
  std::unique_ptr<Child> rt;
  std::unique_ptr<Server> srv;
  ::testing::AssertionResult start(const std::string& server_token = {}) {
    auto rt_bin = binary("yoi-runtime");
    if (rt_bin.empty()) return ::testing::AssertionFailure() << "yoi-runtime is not built";
    write_file(dir + "/rt.token", "remote-token-abcdef\n");
    write_file(dir + "/srv.token", (server_token.empty() ? "remote-token-abcdef" : server_token) + "\n");
    write_file(dir + "/rt.toml",
               "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_delay_ms = 10\n"
               "[profiles.fast]\nengine = \"echo\"\n");
    rt = std::make_unique<Child>(std::vector<std::string>{rt_bin, "--listen", "127.0.0.1:0", "--runtime-id", "box-1",
                                                          "--token-file", dir + "/rt.token", "--config",
                                                          dir + "/rt.toml", "--log-level", "warn"});
    auto line = rt->wait_line("yoi-runtime listening on http://", 15s);
    if (!line) return ::testing::AssertionFailure() << rt->stderr_text();
    auto url = line->substr(line->find("http://"));
    srv = std::make_unique<Server>("[[runtimes]]\nid = \"box-1\"\nbase_url = \"" + url + "\"\ntoken_file = \"" +
                                   dir + "/srv.token\"\n");
    return srv->start();
  }
  ~RemoteSetup() {
    srv.reset();
    rt.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Regression (issue 18, items 9 and 11), through a remote runtime: the
// backend answered GET /api/runtimes from a summary up to 5 s old, and the
// runtime's profile list must reach the CLI unchanged.
TEST(CliIssue18, RemoteRuntimeCountsAWriteAtOnceAndListsProfiles) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  RemoteSetup r;
  if (binary("yoi-runtime").empty()) GTEST_SKIP() << "yoi-runtime is not built";
  ASSERT_TRUE(r.start());
  auto count = [&](const std::string& status) {
    auto out = yoi(*r.srv, {"runtimes", "--json"});
    auto v = parse(out.out);
    for (const auto& rt : v.as_object().at("runtimes").as_array())
      if (s(rt.as_object(), "runtime_id") == "box-1")
        if (auto* w = rt.as_object().if_contains("workers"); w && w->is_object())
          return w->as_object().at(status).to_number<int>();
    return -1;
  };
  EXPECT_EQ(count("total"), 0);
  auto ref = create_worker(*r.srv, "box-1");
  EXPECT_EQ(count("total"), 1) << "right after the create";
  EXPECT_EQ(count("idle"), 1);
  ASSERT_EQ(yoi(*r.srv, {"stop", ref}).exit_code, 0);
  EXPECT_EQ(count("stopped"), 1) << "right after the stop";
  auto text = yoi(*r.srv, {"runtimes"});
  EXPECT_TRUE(std::regex_search(text.out, std::regex("box-1 .* ready +1 "))) << text.out;

  auto bad = yoi(*r.srv, {"create", "--runtime", "box-1", "--profile", "nope"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "invalid_request: unknown profile 'nope' (profiles: fast, runtime_default)\n");
}

// Regression (issue 18, item 12): yoi-server logged "runtime box-1 is
// auth_failed"; a status change reads as a sentence, without the token.
TEST(CliIssue18, RuntimeStatusIsLoggedAsASentence) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  RemoteSetup r;
  if (binary("yoi-runtime").empty()) GTEST_SKIP() << "yoi-runtime is not built";
  ASSERT_TRUE(r.start("not-the-runtime-token"));
  auto rts = yoi(*r.srv, {"runtimes"});
  EXPECT_EQ(rts.exit_code, 0) << rts.err;
  const std::string sentence =
      "runtime box-1: the runtime rejected the backend's credential (runtime_auth_failed)";
  bool logged = false;
  for (int i = 0; i < 200 && !logged; ++i) {
    logged = r.srv->log().find(sentence) != std::string::npos;
    if (!logged) std::this_thread::sleep_for(25ms);
  }
  EXPECT_TRUE(logged) << r.srv->log();
  EXPECT_EQ(r.srv->log().find("is auth_failed"), std::string::npos) << r.srv->log();
  EXPECT_EQ(r.srv->log().find("not-the-runtime-token"), std::string::npos);
  EXPECT_EQ(r.srv->log().find("remote-token-abcdef"), std::string::npos);
}

// Regression (issue 18, item 12): the "interrupted by a restart" warning was
// logged twice (by the runtime core and by its host).
TEST(CliIssue18, InterruptedRunIsLoggedOnce) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  Server srv({}, {}, 60'000);  // the run is still going when the server dies
  ASSERT_TRUE(srv.start());
  auto ref = create_worker(srv);
  ASSERT_EQ(yoi(srv, {"send", ref, "cut short"}).exit_code, 0);
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    running = yoi(srv, {"show", ref}).out.find("running") != std::string::npos;
    if (!running) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(running);
  int port = srv.port();
  srv.kill();
  ::testing::AssertionResult up = ::testing::AssertionFailure();
  for (int i = 0; i < 50 && !up; ++i) {
    up = srv.start(port);
    if (!up) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(up);
  auto log = srv.log();
  std::size_t n = 0;
  for (auto at = log.find("interrupted by a restart"); at != std::string::npos;
       at = log.find("interrupted by a restart", at + 1))
    ++n;
  EXPECT_EQ(n, 1u) << log;
}

}  // namespace
}  // namespace yoi::cli::test

namespace yoi::cli::test {
namespace {

// yoi-server's own profiles end to end through the embedded runtime (real
// processes): 'yoi profiles' lists them, 'yoi create --profile' pushes the
// bundle through the embedded source and pins the worker; after an edit of
// the config and a restart, a new worker gets the new digest and the old one
// keeps its own. No variable name a profile names reaches the log.
TEST(CliProfiles, ServerProfilesListCreatePinnedAcrossAConfigChange) {
  if (yoi_bin().empty() || binary("yoi-server").empty()) GTEST_SKIP() << "binaries not built";
  const std::string profile =
      "[profiles.srv]\nengine = \"echo\"\nmax_steps = 5\ndescription = \"Server side\"\ntools = [\"read\"]\n"
      "[profiles.llm]\nengine = \"openai\"\nmodel = \"m-canary\"\nbase_url_env = \"YOI_CANARY_URL_VAR\"\n"
      "api_key_env = \"YOI_CANARY_KEY_VAR\"\n";
  Server srv(profile);
  ASSERT_TRUE(srv.start());
  auto list = yoi(srv, {"profiles"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(std::regex_search(list.out, std::regex("srv +echo +- +read +Server side"))) << list.out;
  EXPECT_EQ(list.out.find("YOI_CANARY"), std::string::npos);
  auto ref = create_worker(srv, "local", {"--profile", "srv", "--id", "old"});
  auto show = yoi(srv, {"show", ref, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto old_digest = s(parse(show.out).as_object().at("config_bundle").as_object(), "digest");
  EXPECT_EQ(old_digest.size(), 64u);
  EXPECT_EQ(s(parse(show.out).as_object(), "profile"), "srv");

  // Edit and restart.
  std::ifstream in(srv.dir() + "/server.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("max_steps = 5"), 13, "max_steps = 6");
  write_file(srv.dir() + "/server.toml", text);
  ASSERT_TRUE(srv.restart());
  create_worker(srv, "local", {"--profile", "srv", "--id", "new"});
  auto new_show = parse(yoi(srv, {"show", "local/new", "--json"}).out).as_object();
  auto old_show = parse(yoi(srv, {"show", "local/old", "--json"}).out).as_object();
  auto new_digest = s(new_show.at("config_bundle").as_object(), "digest");
  EXPECT_EQ(new_digest.size(), 64u);
  EXPECT_NE(new_digest, old_digest);
  EXPECT_EQ(s(old_show.at("config_bundle").as_object(), "digest"), old_digest) << "the old worker keeps its bundle";
  auto sent = yoi(srv, {"send", "--wait", "local/old", "hello"});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  auto runtimes = parse(yoi(srv, {"runtimes", "--json"}).out).as_object();
  EXPECT_EQ(runtimes.at("runtimes").at(0).at("bundles").as_array().size(), 2u);
  EXPECT_EQ(srv.log().find("YOI_CANARY"), std::string::npos) << srv.log();
}

}  // namespace
}  // namespace yoi::cli::test
