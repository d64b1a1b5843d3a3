// `yoi tui`'s model and picture without a terminal: frames in, keys in,
// actions and a grid of cells out.
#include "tui_model.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <clocale>

#include "tui_view.hpp"
#include "yoi/json.hpp"

namespace yoi::cli::tui {
namespace {

namespace bj = boost::json;

Frame frame(std::string_view json_text) {
  auto v = bj::parse(json_text);
  Frame f;
  f.obj = v.as_object();
  f.type = std::string(f.obj.at("type").as_string());
  f.raw = std::string(json_text);
  return f;
}

Frame event(std::uint64_t seq, const bj::object& e) {
  bj::object o;
  o["type"] = "event";
  o["seq"] = seq;
  o["cursor"] = "c" + std::to_string(seq);
  o["runtime_id"] = "local";
  o["worker_id"] = "w1";
  o["event"] = e;
  Frame f;
  f.type = "event";
  f.obj = std::move(o);
  return f;
}

bj::object ev(std::string_view json_text) {
  return bj::parse(json_text).as_object();
}

Frame snapshot(std::string_view status, std::string_view tail, std::string_view in_flight = "null",
               std::string_view extra_worker = "") {
  return frame(
      std::string(
          R"({"type":"snapshot","cursor":"c0","seq":0,"runtime_id":"local","worker_id":"w1",)") +
      R"("worker":{"runtime_id":"local","worker_id":"w1","status":")" + std::string(status) + "\"" +
      std::string(extra_worker) + R"(},"transcript_tail":)" + std::string(tail) +
      R"(,"in_flight":)" + std::string(in_flight) + "}");
}

// The grid as text, one line per row.
std::string text(const Grid& g) {
  std::string out;
  for (int r = 0; r < g.height; ++r) out += g.row_text(r) + "\n";
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

Model opened() {
  Model m;
  m.select({"local", "w1"});
  m.set_focus(Model::Focus::composer);
  m.apply(snapshot("idle", "[]"));
  return m;
}

void type(Model& m, std::u32string_view s) {
  for (char32_t c : s) m.on_key(key_char(c));
}

class Tui : public ::testing::Test {
 protected:
  // wcwidth() needs a UTF-8 locale to measure wide characters.
  void SetUp() override { std::setlocale(LC_ALL, "C.UTF-8"); }
};

TEST_F(Tui, SnapshotThenEventsBuildTheConsoleAndStatusLine) {
  Model m;
  m.select({"local", "w1"});
  m.apply(snapshot("idle", R"([{"role":"user","content":"hi","run_id":"r1"},
                               {"role":"assistant","content":"echo: hi","run_id":"r1","result":"completed"}])"));
  m.apply(event(5, ev(R"({"type":"input_accepted","run_id":"r2","content":"again"})")));
  m.apply(event(6, ev(R"({"type":"run_started","run_id":"r2"})")));
  m.apply(event(7, ev(R"({"type":"status","status":"running"})")));
  m.apply(event(8, ev(R"({"type":"text_delta","run_id":"r2","delta":"echo: ag"})")));
  m.apply(event(9, ev(R"({"type":"text_delta","run_id":"r2","delta":"ain"})")));
  m.apply(event(10, ev(R"({"type":"usage","run_id":"r2","input_tokens":12,"output_tokens":3})")));
  const auto& c = m.console();
  ASSERT_EQ(c.entries.size(), 4u);
  EXPECT_EQ(c.entries[3].text, "echo: again");
  EXPECT_TRUE(c.entries[3].streaming);
  EXPECT_EQ(c.status, "running");
  auto g = text(render(m, 80, 24));
  EXPECT_NE(g.find("> again"), std::string::npos) << g;
  EXPECT_NE(g.find("echo: again"), std::string::npos) << g;
  EXPECT_NE(g.find("local/w1 · running · run r2 · tokens 12 in / 3 out"), std::string::npos) << g;
  m.apply(event(11, ev(R"({"type":"text_done","run_id":"r2","step":1,"text":"echo: again"})")));
  m.apply(event(12, ev(R"({"type":"run_finished","run_id":"r2","result":"cancelled"})")));
  m.apply(event(13, ev(R"({"type":"status","status":"idle"})")));
  EXPECT_FALSE(c.entries[3].streaming);
  EXPECT_TRUE(c.run_id.empty());
  g = text(render(m, 80, 24));
  EXPECT_NE(g.find("[cancelled]"), std::string::npos) << g;
}

TEST_F(Tui, ResyncSnapshotReplacesTheConsoleSoNothingShowsTwice) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"input_accepted","run_id":"r1","content":"go"})")));
  m.apply(event(2, ev(R"({"type":"text_delta","run_id":"r1","delta":"echo: g"})")));
  // After a resync the snapshot carries the same run, further along.
  m.apply(snapshot("running", R"([{"role":"user","content":"go","run_id":"r1"}])",
                   R"({"run_id":"r1","step":1,"text":"echo: go","calls":[]})"));
  const auto& c = m.console();
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_EQ(c.entries[1].text, "echo: go");
  m.apply(event(4, ev(R"({"type":"text_done","run_id":"r1","step":1,"text":"echo: go"})")));
  auto g = text(render(m, 80, 24));
  EXPECT_EQ(count(g, "echo: go"), 1u) << g;
  EXPECT_EQ(count(g, "> go"), 1u) << g;
}

// Regression: a run interrupted by a runtime restart ends with an empty
// text_done; the TUI blanked the reply it had already shown.
TEST_F(Tui, Issue24InterruptedRunKeepsItsStreamedText) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"text_delta","run_id":"r1","delta":"echo: QQQ"})")));
  m.apply(event(2, ev(R"({"type":"text_done","run_id":"r1","step":1,"text":""})")));
  m.apply(event(3, ev(R"({"type":"run_finished","run_id":"r1","result":"failed",
                          "error":{"code":"interrupted","message":"the runtime restarted during the run"}})")));
  auto g = text(render(m, 80, 24));
  EXPECT_NE(g.find("echo: QQQ"), std::string::npos) << g;
  EXPECT_NE(g.find("[failed: interrupted: the runtime restarted"), std::string::npos) << g;
}

TEST_F(Tui, ToolCallIsOneLineThatExpandsAndBashOutputStreamsUnderIt) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"tool_call","run_id":"r1","step":1,"call_id":"c1","name":"bash",
                          "arguments":"{\"command\":\"seq 3\"}"})")));
  m.apply(event(
      2,
      ev(R"({"type":"tool_output","run_id":"r1","call_id":"c1","stream":"stdout","delta":"1\n2\n"})")));
  auto g = text(render(m, 80, 24));
  EXPECT_NE(g.find("→ bash seq 3  …"), std::string::npos) << g;
  EXPECT_NE(g.find("  │ 1\n"), std::string::npos) << g;  // streaming under its entry
  EXPECT_NE(g.find("  │ 2\n"), std::string::npos) << g;
  m.apply(event(3, ev(R"({"type":"tool_result","run_id":"r1","call_id":"c1","name":"bash","ok":true,
                          "output":"1\n2\n3\n","truncated":false,"exit_code":0,"duration_ms":4})")));
  g = text(render(m, 80, 24));
  EXPECT_NE(g.find("→ bash seq 3  ok (3 lines, exit 0, 4 ms)"), std::string::npos) << g;
  EXPECT_EQ(g.find("  │ 3"), std::string::npos) << "a finished call is one line until expanded:\n"
                                                << g;
  m.on_key(key_ctrl('o'));
  g = text(render(m, 80, 24));
  EXPECT_NE(g.find("  │ 3\n"), std::string::npos) << g;
}

TEST_F(Tui, ApprovalKeysAnswerThePendingCallAndTheComposerYields) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"tool_call","run_id":"r1","step":1,"call_id":"c1","name":"write",
                          "arguments":"{\"path\":\"a.txt\",\"content\":\"x\"}"})")));
  m.apply(event(2, ev(R"({"type":"approval_requested","run_id":"r1","call_id":"c1","name":"write",
                          "arguments":"{\"path\":\"a.txt\",\"content\":\"x\"}","rule":"default"})")));
  m.apply(event(3, ev(R"({"type":"status","status":"awaiting_approval"})")));
  ASSERT_TRUE(m.approving());
  auto g = text(render(m, 80, 24));
  EXPECT_NE(g.find("⚠ write a.txt waits for approval (default)"), std::string::npos) << g;
  EXPECT_NE(g.find("y approve · n deny · a always allow"), std::string::npos) << g;
  // Typed text does not reach the composer while the call waits.
  m.on_key(key_char('x'));
  EXPECT_TRUE(m.composer().empty());
  auto a = m.on_key(key_char('y'));
  EXPECT_EQ(a.kind, Action::approve);
  EXPECT_EQ(a.call_id, "c1");
  EXPECT_FALSE(a.remember);
  a = m.on_key(key_char('a'));
  EXPECT_EQ(a.kind, Action::approve);
  EXPECT_TRUE(a.remember);
  EXPECT_EQ(m.on_key(key_char('n')).kind, Action::none);
  EXPECT_EQ(m.mode(), Model::Mode::reason);
  type(m, U"not now");
  a = m.on_key(key(Key::enter));
  EXPECT_EQ(a.kind, Action::deny);
  EXPECT_EQ(a.call_id, "c1");
  EXPECT_EQ(a.text, "not now");
  m.apply(event(
      4,
      ev(R"({"type":"approval_resolved","run_id":"r1","call_id":"c1","decision":"denied","remember":false})")));
  EXPECT_FALSE(m.approving());
  EXPECT_EQ(m.console().entries.back().state, Entry::State::denied);
}

TEST_F(Tui, ApprovalRuleReadsAsToolPatternAction) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"approval_requested","run_id":"r1","call_id":"c2","name":"bash",
                          "arguments":{"command":"rm -rf build"},"rule":{"tool":"bash","pattern":"rm *","action":"ask"}})")));
  auto g = text(render(m, 80, 24));
  EXPECT_NE(g.find("⚠ bash rm -rf build waits for approval (bash rm * ask)"), std::string::npos)
      << g;
}

TEST_F(Tui, SnapshotOfAParkedRunListsItsPendingApproval) {
  Model m;
  m.select({"local", "w1"});
  m.apply(snapshot("awaiting_approval", "[]",
                   R"({"run_id":"r1","step":1,"text":"","calls":[{"call_id":"c9","name":"edit",
                        "arguments":{"path":"b.md"},"state":"awaiting_approval"}]})"));
  ASSERT_TRUE(m.approving());
  EXPECT_EQ(m.console().pending.front().call_id, "c9");
  EXPECT_EQ(m.on_key(key_char('y')).call_id, "c9");
}

TEST_F(Tui, ComposerEditsSendsAndRecallsHistory) {
  auto m = opened();
  type(m, U"hellx");
  m.on_key(key(Key::left));
  m.on_key(key(Key::backspace));
  type(m, U"o");
  m.on_key(key_ctrl('e'));
  m.on_key(key(Key::alt_enter));
  type(m, U"two");
  auto a = m.on_key(key(Key::enter));
  ASSERT_EQ(a.kind, Action::send);
  EXPECT_EQ(a.text, "helox\ntwo");
  EXPECT_TRUE(m.composer().empty());
  m.on_key(key(Key::up));
  EXPECT_EQ(utf8(m.composer()), "helox\ntwo");
  m.on_key(key_ctrl('u'));
  EXPECT_TRUE(m.composer().empty());
  // Blank input is not sent.
  type(m, U"  ");
  EXPECT_EQ(m.on_key(key(Key::enter)).kind, Action::none);
}

TEST_F(Tui, ListFiltersAndAsksBeforeCreateStopDelete) {
  Model m;
  Catalog c;
  c.runtimes.push_back({"local", "Local", "embedded", "ready", ""});
  c.workers.push_back({"local", "alpha", "", "idle", "runtime_default", 0});
  c.workers.push_back({"local", "beta", "", "awaiting_approval", "coder", 0});
  m.set_catalog(c);
  EXPECT_EQ(m.visible_workers().size(), 2u);
  m.on_key(key_char('/'));
  type(m, U"BET");
  m.on_key(key(Key::enter));
  ASSERT_EQ(m.visible_workers().size(), 1u);
  EXPECT_EQ(m.visible_workers()[0]->worker_id, "beta");
  EXPECT_EQ(m.on_key(key_char('s')).kind, Action::none);
  EXPECT_EQ(m.mode(), Model::Mode::confirm);
  EXPECT_EQ(m.on_key(key_char('n')).kind, Action::none);  // not confirmed: nothing
  m.on_key(key_char('s'));
  auto a = m.on_key(key_char('y'));
  EXPECT_EQ(a.kind, Action::stop);
  EXPECT_EQ(a.ref.worker_id, "beta");
  m.on_key(key_char('d'));
  EXPECT_EQ(m.on_key(key_char('y')).kind, Action::remove);
  m.on_key(key_char('c'));
  a = m.on_key(key_char('y'));
  EXPECT_EQ(a.kind, Action::create);
  EXPECT_EQ(a.runtime_id, "local");
  a = m.on_key(key(Key::enter));
  EXPECT_EQ(a.kind, Action::open);
  EXPECT_EQ(m.focus(), Model::Focus::composer);
}

TEST_F(Tui, OutageAndRecoveryShowOnTheStatusLine) {
  auto m = opened();
  m.apply(frame(
      R"({"type":"diagnostic","code":"runtime_unavailable","message":"runtime 'far' is unreachable","action":"wait"})"));
  auto g = render(m, 80, 24);
  EXPECT_NE(g.row_text(22).find("⚠ runtime_unavailable: runtime 'far' is unreachable; waiting"),
            std::string::npos)
      << text(g);
  m.apply(frame(
      R"({"type":"diagnostic","code":"runtime_recovered","message":"back","action":"resync"})"));
  EXPECT_EQ(render(m, 80, 24).row_text(22).find("⚠"), std::string::npos) << text(render(m, 80, 24));
  m.stream_note("stream interrupted (the connection was lost); reconnecting in 0.2s");
  EXPECT_NE(render(m, 80, 24).row_text(22).find("stream interrupted"), std::string::npos);
}

TEST_F(Tui, OpenedWorkerIsHighlightedOnceTheListArrives) {
  auto m = opened();  // local/w1, before any catalog
  Catalog c;
  c.runtimes.push_back({"local", "Local", "embedded", "ready", ""});
  c.workers.push_back({"local", "a0", "", "idle", "", 0});
  c.workers.push_back({"local", "w1", "", "idle", "", 0});
  m.set_catalog(c);
  EXPECT_EQ(m.cursor(), 1);
}

TEST_F(Tui, AClickOnAWorkerOpensItAndTheWheelScrolls) {
  Model m;
  Catalog c;
  c.runtimes.push_back({"local", "Local", "embedded", "ready", ""});
  c.workers.push_back({"local", "alpha", "", "idle", "", 0});
  c.workers.push_back({"local", "beta", "", "idle", "", 0});
  m.set_catalog(c);
  auto g = render(m, 80, 24);
  int row = -1;
  for (int r = 0; r < g.height; ++r)
    if (g.row_text(r).find("· beta") != std::string::npos) row = r;
  ASSERT_GE(row, 0) << text(g);
  ASSERT_EQ(g.worker_at_row[static_cast<std::size_t>(row)], 1);
  EXPECT_GT(g.list_width, 0);
  auto a = m.click_worker(g.worker_at_row[static_cast<std::size_t>(row)]);
  EXPECT_EQ(a.kind, Action::open);
  EXPECT_EQ(a.ref.worker_id, "beta");
  EXPECT_EQ(m.click_worker(-1).kind, Action::none);  // a click on a runtime's line
  for (int i = 0; i < 40; ++i)
    m.apply(event(static_cast<std::uint64_t>(i + 1),
                  bj::object{{"type", "input_accepted"},
                             {"run_id", "r"},
                             {"content", "line " + std::to_string(i)}}));
  m.wheel(3);
  auto t = text(render(m, 80, 24));
  EXPECT_NE(t.find("3 newer lines"), std::string::npos) << t;
  EXPECT_EQ(t.find("> line 39"), std::string::npos) << t;
  m.wheel(-10);
  EXPECT_EQ(m.scroll(), 0);
}

TEST_F(Tui, CtrlCQuitsFromAnywhereAndQOnlyOutsideTheComposer) {
  auto m = opened();
  EXPECT_EQ(m.on_key(key_char('q')).kind, Action::none);  // typed into the composer
  EXPECT_EQ(utf8(m.composer()), "q");
  EXPECT_EQ(m.on_key(key_ctrl('c')).kind, Action::quit);
  m.on_key(key(Key::tab));
  EXPECT_EQ(m.on_key(key_char('q')).kind, Action::quit);
  m.on_key(key_char('/'));
  EXPECT_EQ(m.on_key(key_ctrl('c')).kind, Action::quit);
}

TEST_F(Tui, EscCancelsTheRunInFlight) {
  auto m = opened();
  EXPECT_EQ(m.on_key(key(Key::esc)).kind, Action::none);
  m.apply(event(1, ev(R"({"type":"run_started","run_id":"r1"})")));
  auto a = m.on_key(key(Key::esc));
  EXPECT_EQ(a.kind, Action::cancel);
  EXPECT_EQ(a.ref.worker_id, "w1");
}

TEST_F(Tui, FitsIn80x24AndMarksWorkersWaitingForAPerson) {
  Model m;
  Catalog c;
  c.runtimes.push_back({"local", "Local", "embedded", "ready", ""});
  c.runtimes.push_back(
      {"far", "Far", "remote", "unavailable", "runtime_unreachable: connection refused"});
  c.workers.push_back({"local", "alpha", "", "idle", "runtime_default", 1000});
  c.workers.push_back({"local", "beta", "", "awaiting_approval", "coder", 1000});
  m.set_catalog(c);
  m.set_now_ms(61000);
  auto g = render(m, 80, 24);
  ASSERT_EQ(g.width, 80);
  ASSERT_EQ(g.height, 24);
  auto t = text(g);
  EXPECT_NE(g.row_text(0).find("yoi tui"), std::string::npos) << t;
  EXPECT_NE(t.find("! beta"), std::string::npos) << t;
  EXPECT_NE(t.find("approval?"), std::string::npos) << t;
  EXPECT_NE(t.find("1m ago"), std::string::npos) << t;
  EXPECT_NE(t.find("runtime_unreachable"), std::string::npos) << t;
  EXPECT_NE(g.row_text(23).find("Enter open"), std::string::npos) << t;
  // Too small: it says so instead of drawing a mess.
  EXPECT_NE(render(m, 30, 8).row_text(0).find("terminal too small"), std::string::npos);
}

TEST_F(Tui, ControlCharactersFromTheModelAreShownNotObeyed) {
  auto m = opened();
  m.apply(event(
      1,
      ev(R"({"type":"text_delta","run_id":"r1","delta":"evil \u001b[2J\u001b]0;title\u0007 \u202e done"})")));
  auto g = render(m, 80, 24);
  for (const auto& cell : g.cells) {
    EXPECT_FALSE(cell.ch != 0 && cell.ch < 0x20) << "a control character reached the grid";
    EXPECT_NE(cell.ch, U'\u202e');
  }
  auto t = text(g);
  EXPECT_NE(t.find("evil ^[[2J^[]0;title^G \\u202e done"), std::string::npos) << t;
}

TEST_F(Tui, CodeBlocksAreSetApart) {
  auto m = opened();
  m.apply(event(
      1,
      ev(R"({"type":"text_done","run_id":"r1","step":1,"text":"Run:\n```python\nprint(1)\n```\nDone."})")));
  auto g = render(m, 80, 24);
  auto t = text(g);
  EXPECT_NE(t.find("┌── python"), std::string::npos) << t;
  EXPECT_NE(t.find("│ print(1)"), std::string::npos) << t;
  EXPECT_NE(t.find("└──"), std::string::npos) << t;
  for (int r = 0; r < g.height; ++r)
    if (g.row_text(r).find("print(1)") != std::string::npos) {
      bool code = false;
      for (int c = 0; c < g.width; ++c) code = code || g.at(r, c).style == Style::code;
      EXPECT_TRUE(code) << "a code line has its own style";
    }
}

TEST_F(Tui, WideCharactersTakeTwoCellsAndAreNotCut) {
  auto m = opened();
  m.apply(event(1, ev(R"({"type":"text_done","run_id":"r1","step":1,"text":"日本語のテキスト"})")));
  auto g = render(m, 80, 24);
  auto t = text(g);
  EXPECT_NE(t.find("日本語のテキスト"), std::string::npos) << t;
}

}  // namespace
}  // namespace yoi::cli::tui
