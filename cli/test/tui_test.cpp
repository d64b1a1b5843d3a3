// `yoi tui` for real: the binary in tmux (new-session -d, send-keys,
// capture-pane) against a real yoi-server with its embedded runtime. Every
// wait polls the pane with a deadline; no sleep is an assertion.
#include <algorithm>
#include <functional>
#include <set>

#include "fixture.hpp"
#include "yoi/json.hpp"

namespace yoi::cli::test {
namespace {

using clock = std::chrono::steady_clock;

class Tmux {
 public:
  Tmux() : dir_(make_temp_dir()), sock_(dir_ + "/tmux.sock") {
    auto which = run({"/bin/sh", "-c", "command -v tmux"}, {}, std::nullopt, 5s);
    if (which.exit_code == 0) bin_ = which.out.substr(0, which.out.find('\n'));
  }
  ~Tmux() {
    if (!bin_.empty()) cmd({"kill-server"});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool available() const { return !bin_.empty(); }
  Run cmd(std::vector<std::string> args) {
    std::vector<std::string> argv{bin_, "-S", sock_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, {}, std::nullopt, 10s);
    EXPECT_FALSE(r.timed_out) << "tmux " << args[0];
    return r;
  }
  // A detached session of `width`×`height` running `shell_command`.
  ::testing::AssertionResult start(const std::string& shell_command, int width, int height) {
    auto r = cmd({"-f", "/dev/null", "new-session", "-d", "-x", std::to_string(width), "-y",
                  std::to_string(height), shell_command});
    if (r.exit_code != 0) return ::testing::AssertionFailure() << "tmux new-session: " << r.err;
    return ::testing::AssertionSuccess();
  }
  void keys(std::vector<std::string> keys) {
    std::vector<std::string> args{"send-keys", "-t", "0"};
    args.insert(args.end(), keys.begin(), keys.end());
    EXPECT_EQ(cmd(args).exit_code, 0);
  }
  // Text typed literally (no key names).
  void type(const std::string& text) {
    EXPECT_EQ(cmd({"send-keys", "-t", "0", "-l", text}).exit_code, 0);
  }
  std::string pane() { return cmd({"capture-pane", "-p", "-t", "0"}).out; }
  std::string pane_with_escapes() { return cmd({"capture-pane", "-p", "-e", "-t", "0"}).out; }
  std::string format(const std::string& f) {
    auto out = cmd({"display-message", "-p", "-t", "0", f}).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // Polls the pane until `ok` holds; false on the deadline.
  bool wait(const std::function<bool(const std::string&)>& ok,
            std::chrono::milliseconds deadline = 15s) {
    for (auto end = clock::now() + deadline; clock::now() < end; std::this_thread::sleep_for(40ms))
      if (ok(pane())) return true;
    return false;
  }
  bool wait_for(const std::string& needle, std::chrono::milliseconds deadline = 15s) {
    return wait([&](const std::string& p) { return p.find(needle) != std::string::npos; },
                deadline);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, sock_, bin_;
};

// The shell command that runs `yoi tui ARGS` against `srv`, in a UTF-8
// locale, with the token found the way a user's yoi finds it.
std::string tui_command(const Server& srv, const std::string& args,
                        const std::string& extra_env = "") {
  return fmt::format(
      "env LANG=C.UTF-8 LC_ALL=C.UTF-8 YOI_ACCESS_TOKEN= YOI_DATA_DIR={}/data {} {} --server {} "
      "tui {}",
      srv.dir(), extra_env, yoi_bin(), srv.url(), args);
}

std::size_t count_char(const std::string& s, char c) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), c));
}

class TuiTmux : public ::testing::Test {
 protected:
  void SetUp() override {
    if (yoi_bin().empty()) GTEST_FAIL() << "the yoi binary is not built (YOI_BUILD_DIR)";
    if (binary("yoi-server").empty()) GTEST_SKIP() << "yoi-server is not built";
    if (!tmux.available()) GTEST_SKIP() << "tmux is not installed (scripts/setup installs it)";
    ASSERT_TRUE(srv.start());
  }
  bj::array items(const std::string& ref) {
    auto t = yoi(srv, {"transcript", "--json", ref});
    return parse(t.out).as_object().at("items").as_array();
  }
  Server srv;
  Tmux tmux;
};

TEST(TuiUsage, NeedsATerminalAndHasNoJson) {
  if (yoi_bin().empty()) GTEST_FAIL() << "the yoi binary is not built (YOI_BUILD_DIR)";
  // stdin is not a terminal here: a usage error before anything is drawn.
  auto r = run({yoi_bin(), "--server", "127.0.0.1:9", "tui"}, {{"YOI_ACCESS_TOKEN", ""}},
               std::string(), 10s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("yoi tui needs a terminal"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "nothing is drawn";
  r = run({yoi_bin(), "--server", "127.0.0.1:9", "tui", "not a worker"}, {{"YOI_ACCESS_TOKEN", ""}},
          std::string(), 10s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("RUNTIME/WORKER"), std::string::npos) << r.err;
}

TEST_F(TuiTmux, PicksAWorkerSendsAMessageAndSeesTheReplyStream) {
  create_worker(srv, "local", {"--id", "alpha"});
  create_worker(srv, "local", {"--id", "beta"});
  ASSERT_TRUE(tmux.start(tui_command(srv, ""), 120, 36));
  // Both workers are listed, the first highlighted; nothing is open yet.
  ASSERT_TRUE(tmux.wait([](const std::string& p) {
    return p.find("alpha") != std::string::npos && p.find("beta") != std::string::npos;
  })) << tmux.pane();
  EXPECT_NE(tmux.pane().find("no worker open"), std::string::npos) << tmux.pane();
  tmux.keys({"Down", "Enter"});
  ASSERT_TRUE(tmux.wait_for("local/beta · idle")) << tmux.pane();
  // The composer has the focus: typed text and Enter send a message. The
  // echo engine streams it back in 8-byte chunks 40 ms apart, so the reply
  // is seen growing before it is whole.
  std::string msg = "hello from the tui, " + std::string(120, 'z');
  tmux.type(msg);
  tmux.keys({"Enter"});
  bool partial = false;
  auto full = [](const std::string& p) {
    return count_char(p, 'z') >= 240;
  };  // message + whole reply
  ASSERT_TRUE(tmux.wait([&](const std::string& p) {
    if (p.find("echo: hello from the tui") != std::string::npos && !full(p)) partial = true;
    return full(p);
  })) << tmux.pane();
  EXPECT_TRUE(partial) << "the reply was never seen in part: it did not stream";
  bj::array it;
  for (auto end = clock::now() + 15s; clock::now() < end && it.size() < 2;
       std::this_thread::sleep_for(50ms))
    it = items("local/beta");
  ASSERT_EQ(it.size(), 2u);
  EXPECT_EQ(s(it[0].as_object(), "content"), msg);
  EXPECT_TRUE(tmux.wait_for("local/beta · idle")) << tmux.pane();
}

TEST_F(TuiTmux, RunsAToolThroughTheEchoDriver) {
  auto ref = create_worker(srv, "local", {"--id", "tools"});
  ASSERT_TRUE(tmux.start(tui_command(srv, ref), 120, 36));
  ASSERT_TRUE(tmux.wait_for("local/tools · idle")) << tmux.pane();
  tmux.type(R"(/glob {"pattern":"*"})");
  tmux.keys({"Enter"});
  // One line for the call and its result, then the echo engine's summary.
  ASSERT_TRUE(tmux.wait_for("→ glob *  ok")) << tmux.pane();
  // The run ends with the echo engine's summary; the worker is idle again.
  ASSERT_TRUE(tmux.wait([](const std::string& p) {
    return p.find("glob ok: ") != std::string::npos &&
           p.find("tools · idle · tokens") != std::string::npos;
  })) << tmux.pane();
  tmux.type(R"(/read {"path":"missing.md"})");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("→ read missing.md  failed: not_found")) << tmux.pane();
}

TEST_F(TuiTmux, ResizesTo80x24) {
  auto ref = create_worker(srv, "local", {"--id", "small"});
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "before the resize"}).exit_code, 0);
  ASSERT_TRUE(tmux.start(tui_command(srv, ref), 140, 40));
  ASSERT_TRUE(tmux.wait_for("echo: before the resize")) << tmux.pane();
  ASSERT_EQ(tmux.cmd({"resize-window", "-t", "0", "-x", "80", "-y", "24"}).exit_code, 0);
  // Redrawn for 80×24: the header, the conversation, the status line on row
  // 23 and the keys on row 24, nothing past column 80.
  ASSERT_TRUE(tmux.wait([](const std::string& p) {
    std::vector<std::string> rows;
    std::size_t at = 0;
    while (at < p.size()) {
      auto nl = p.find('\n', at);
      rows.push_back(p.substr(at, nl - at));
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
    return rows.size() >= 24 && rows[22].find("local/small · idle") != std::string::npos &&
           rows[0].find("yoi tui") != std::string::npos;
  })) << tmux.pane();
  auto p = tmux.pane();
  EXPECT_NE(p.find("echo: before the resize"), std::string::npos) << p;
  EXPECT_EQ(tmux.format("#{window_width}x#{window_height}"), "80x24");
  // Still working at that size.
  tmux.type("after");
  tmux.keys({"Enter"});
  EXPECT_TRUE(tmux.wait_for("echo: after")) << tmux.pane();
}

TEST_F(TuiTmux, ServerRestartMidStreamResumesWithoutDuplicatedText) {
  auto ref = create_worker(srv, "local", {"--id", "resume"});
  ASSERT_TRUE(tmux.start(tui_command(srv, ref), 200, 40));
  ASSERT_TRUE(tmux.wait_for("local/resume · idle")) << tmux.pane();
  // 'Q' appears nowhere else on the screen: counting it counts the text.
  const std::string msg(300, 'Q');
  tmux.type(msg);
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("echo: QQ")) << tmux.pane();
  ASSERT_TRUE(srv.restart());
  // The status line says what happened, then the stream resumes by cursor.
  ASSERT_TRUE(tmux.wait([&](const std::string& p) {
    return p.find("stream interrupted") != std::string::npos ||
           p.find("stream resumed") != std::string::npos;
  })) << tmux.pane();
  // The restart interrupted the run: its end is shown once the stream is back.
  ASSERT_TRUE(tmux.wait_for("[failed: interrupted", 20s)) << tmux.pane();
  // And the worker is usable afterwards, through the same stream.
  tmux.type("after the restart");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("echo: after the restart", 20s)) << tmux.pane();
  // What the screen shows of the reply is exactly what the worker's event log
  // holds of it (its text_deltas, each once): nothing replayed twice across
  // the reconnect, nothing skipped.
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  auto log = yoi(srv, {"attach", "--from-start", "--json", ref});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::size_t logged = 0;
  std::set<std::int64_t> seqs;
  for (const auto& f : json_lines(log.out)) {
    if (s(f, "type") != "event") continue;
    const auto& e = f.at("event").as_object();
    if (s(e, "type") == "text_delta" && s(e, "run_id") == "run-1" &&
        seqs.insert(f.at("seq").to_number<std::int64_t>()).second)
      logged += count_char(s(e, "delta"), 'Q');
  }
  ASSERT_GT(logged, 0u);
  auto shown = 300 + logged;
  EXPECT_TRUE(tmux.wait([&](const std::string& p) { return count_char(p, 'Q') == shown; }, 10s))
      << "expected " << shown << " Q on screen, saw " << count_char(tmux.pane(), 'Q') << "\n"
      << tmux.pane();
}

// ARCHITECTURE §15: a write outside *.md asks (the fixture's profile); the
// TUI answers with single keys — y approves, n denies with a reason, a
// always allows that tool and pattern.
TEST_F(TuiTmux, ApprovesAPendingCallWithSingleKeys) {
  auto ref = create_worker(srv, "local", {"--id", "ask"});
  ASSERT_TRUE(tmux.start(tui_command(srv, ref), 120, 30));
  ASSERT_TRUE(tmux.wait_for("local/ask · idle")) << tmux.pane();
  auto idle = [&] { return tmux.wait_for("ask · idle · tokens"); };

  tmux.type(R"(/write {"path":"a.txt","content":"one"})");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("⚠ write a.txt waits for approval")) << tmux.pane();
  // The list marks the worker that waits for a person.
  ASSERT_TRUE(tmux.wait_for("! ask")) << tmux.pane();
  tmux.keys({"y"});
  ASSERT_TRUE(tmux.wait_for("→ write a.txt  ok")) << tmux.pane();
  ASSERT_TRUE(idle()) << tmux.pane();

  tmux.type(R"(/write {"path":"b.txt","content":"two"})");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("⚠ write b.txt waits for approval")) << tmux.pane();
  tmux.keys({"n"});
  ASSERT_TRUE(tmux.wait_for("deny; reason")) << tmux.pane();
  tmux.type("not that one");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("→ write b.txt  failed: denied")) << tmux.pane();
  ASSERT_TRUE(idle()) << tmux.pane();

  tmux.type(R"(/write {"path":"c.txt","content":"three"})");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("⚠ write c.txt waits for approval")) << tmux.pane();
  tmux.keys({"a"});
  ASSERT_TRUE(tmux.wait_for("→ write c.txt  ok")) << tmux.pane();
  ASSERT_TRUE(idle()) << tmux.pane();
  // Always allowed: the same write again runs without asking.
  tmux.type(R"(/write {"path":"c.txt","content":"four"})");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait([](const std::string& p) {
    std::size_t n = 0;
    for (auto at = p.find("→ write c.txt  ok"); at != std::string::npos; at = p.find("→ write c.txt  ok", at + 1)) ++n;
    return n == 2;
  })) << tmux.pane();

  // The log says the same: three requests, answered approved, denied with the
  // reason typed, approved with remember.
  ASSERT_TRUE(idle()) << tmux.pane();
  ASSERT_EQ(yoi(srv, {"stop", ref}).exit_code, 0);
  auto log = yoi(srv, {"attach", "--from-start", "--json", ref});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::vector<bj::object> resolved;
  std::size_t requested = 0;
  for (const auto& f : json_lines(log.out)) {
    if (s(f, "type") != "event") continue;
    const auto& e = f.at("event").as_object();
    if (s(e, "type") == "approval_requested") ++requested;
    if (s(e, "type") == "approval_resolved") resolved.push_back(e);
  }
  EXPECT_EQ(requested, 3u);
  ASSERT_EQ(resolved.size(), 3u);
  EXPECT_EQ(s(resolved[0], "decision"), "approved");
  EXPECT_EQ(s(resolved[1], "decision"), "denied");
  EXPECT_EQ(s(resolved[1], "reason"), "not that one");
  EXPECT_EQ(s(resolved[2], "decision"), "approved");
  EXPECT_TRUE(resolved[2].at("remember").as_bool());
}

TEST_F(TuiTmux, CreateStopAndDeleteAskFirst) {
  ASSERT_TRUE(tmux.start(tui_command(srv, ""), 120, 30));
  ASSERT_TRUE(tmux.wait_for("no workers (c creates one)")) << tmux.pane();
  tmux.keys({"c"});
  ASSERT_TRUE(tmux.wait_for("create a worker on local? (y/n)")) << tmux.pane();
  tmux.keys({"n"});
  ASSERT_TRUE(tmux.wait_for("not done")) << tmux.pane();
  auto listed = [&] {
    return parse(yoi(srv, {"workers", "--json"}).out).as_object().at("workers").as_array();
  };
  EXPECT_TRUE(listed().empty());
  tmux.keys({"c"});
  ASSERT_TRUE(tmux.wait_for("create a worker on local? (y/n)")) << tmux.pane();
  tmux.keys({"y"});
  // Created, opened, composer focused: a message goes straight to it.
  ASSERT_TRUE(tmux.wait_for("created local/")) << tmux.pane();
  auto all = listed();
  ASSERT_EQ(all.size(), 1u);
  auto id = s(all[0].as_object(), "worker_id");
  ASSERT_TRUE(tmux.wait_for("local/" + id + " · idle")) << tmux.pane();
  tmux.type("first words");
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("echo: first words")) << tmux.pane();
  tmux.keys({"Tab", "s"});
  ASSERT_TRUE(tmux.wait_for("stop local/" + id + " for good? (y/n)")) << tmux.pane();
  tmux.keys({"y"});
  ASSERT_TRUE(tmux.wait_for("[worker stopped]")) << tmux.pane();
  EXPECT_EQ(s(listed()[0].as_object(), "status"), "stopped");
  tmux.keys({"d"});
  ASSERT_TRUE(tmux.wait_for("delete local/" + id + " and its history? (y/n)")) << tmux.pane();
  tmux.keys({"y"});
  ASSERT_TRUE(tmux.wait_for("deleted local/" + id)) << tmux.pane();
  EXPECT_TRUE(listed().empty());
  EXPECT_TRUE(tmux.wait_for("no workers (c creates one)")) << tmux.pane();
}

TEST_F(TuiTmux, EscCancelsTheRun) {
  auto ref = create_worker(srv, "local", {"--id", "esc"});
  ASSERT_TRUE(tmux.start(tui_command(srv, ref), 120, 30));
  ASSERT_TRUE(tmux.wait_for("local/esc · idle")) << tmux.pane();
  // 2000 bytes at 8 bytes per 40 ms: some 10 s of reply, cancelled early.
  tmux.type(std::string(2000, 'k'));
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("echo: kk")) << tmux.pane();
  tmux.keys({"Escape"});
  ASSERT_TRUE(tmux.wait_for("[cancelled]")) << tmux.pane();
  ASSERT_TRUE(tmux.wait_for("local/esc · idle")) << tmux.pane();
  auto it = items(ref);
  ASSERT_EQ(it.size(), 2u);
  EXPECT_EQ(s(it[1].as_object(), "result"), "cancelled");
}

// Ctrl-C, SIGTERM and a crash (SIGSEGV) all give the terminal back: the
// alternate screen is left, the cursor shows, and the shell's own screen is
// there again.
TEST_F(TuiTmux, QuitRestoresTheTerminal) {
  auto ref = create_worker(srv, "local", {"--id", "quit"});
  ASSERT_TRUE(tmux.start("env PS1='prompt$ ' sh", 120, 30));
  ASSERT_TRUE(tmux.wait_for("prompt$")) << tmux.pane();
  auto session = [&](const std::string& tag) {
    tmux.type(tui_command(srv, ref) + "; echo " + tag + "=$?");
    tmux.keys({"Enter"});
    return tmux.wait_for("local/quit · idle") && tmux.format("#{alternate_on}") == "1";
  };
  auto yoi_pid = [&] {
    auto shell = tmux.format("#{pane_pid}");
    auto r = run({"/usr/bin/pgrep", "-P", shell, "yoi"}, {}, std::nullopt, 5s);
    return r.out.substr(0, r.out.find('\n'));
  };
  auto restored = [&](const std::string& tag, const std::string& code) {
    if (!tmux.wait_for(tag + "=" + code))
      return ::testing::AssertionFailure() << "no exit line:\n" << tmux.pane();
    if (tmux.format("#{alternate_on}") != "0")
      return ::testing::AssertionFailure() << "still on the alternate screen";
    if (tmux.format("#{cursor_flag}") != "1")
      return ::testing::AssertionFailure() << "the cursor is hidden";
    auto p = tmux.pane();
    if (p.find("yoi tui ·") != std::string::npos)
      return ::testing::AssertionFailure() << "the TUI is still drawn:\n" << p;
    if (p.find("prompt$ env LANG") == std::string::npos)
      return ::testing::AssertionFailure() << "the shell's screen is not back:\n" << p;
    return ::testing::AssertionSuccess();
  };

  ASSERT_TRUE(session("A")) << tmux.pane();
  tmux.keys({"C-c"});
  EXPECT_TRUE(restored("A", "0"));

  ASSERT_TRUE(session("B")) << tmux.pane();
  auto pid = yoi_pid();
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(run({"/usr/bin/kill", "-TERM", pid}, {}, std::nullopt, 5s).exit_code, 0);
  EXPECT_TRUE(restored("B", "0"));

  ASSERT_TRUE(session("C")) << tmux.pane();
  pid = yoi_pid();
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(run({"/usr/bin/kill", "-SEGV", pid}, {}, std::nullopt, 5s).exit_code, 0);
  EXPECT_TRUE(restored("C", "139"));
}

TEST_F(TuiTmux, NoColorLeavesColoursOut) {
  auto ref = create_worker(srv, "local", {"--id", "plain"});
  ASSERT_EQ(yoi(srv, {"send", "--wait", ref, "some text"}).exit_code, 0);
  ASSERT_TRUE(tmux.start(tui_command(srv, ref, "TERM=xterm-256color"), 120, 30));
  ASSERT_TRUE(tmux.wait_for("echo: some text")) << tmux.pane();
  auto coloured = tmux.pane_with_escapes();
  tmux.keys({"C-c"});
  ASSERT_TRUE(tmux.wait([&](const std::string&) {
    return tmux.cmd({"has-session"}).exit_code != 0;
  })) << "Ctrl-C ends the TUI (and the pane)";
  ASSERT_TRUE(tmux.start(tui_command(srv, ref, "TERM=xterm-256color NO_COLOR=1"), 120, 30));
  ASSERT_TRUE(tmux.wait_for("echo: some text")) << tmux.pane();
  auto plain = tmux.pane_with_escapes();
  // Foreground colours are SGR 30–37 / 38;…; attributes (bold, reverse) stay.
  auto has_colour = [](const std::string& s) {
    return std::regex_search(s, std::regex("\x1b\\[([0-9;]*;)?(3[0-8])(;[0-9;]*)?m"));
  };
  EXPECT_TRUE(has_colour(coloured)) << "the test cannot see colours at all";
  EXPECT_FALSE(has_colour(plain)) << plain;
}

}  // namespace
}  // namespace yoi::cli::test
