// The runner with real bubblewrap and real processes (ARCHITECTURE §14).
// Each test has a deadline (run_until); process checks read /proc.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "yoi/sandbox/sandbox.hpp"
#include "yoi/testing/process.hpp"
#include "yoi/testing/run_until.hpp"
#include "yoi/testing/sanitizers.hpp"

namespace yoi::sandbox {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using yoi::testing::run_until;

struct TmpDir {
  fs::path path;
  TmpDir() {
    std::string t = (fs::temp_directory_path() / "yoi-sandbox-test-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TmpDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path sub(const std::string& name) const {
    fs::create_directories(path / name);
    return path / name;
  }
};

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

struct Ran {
  std::string stdout_text, stderr_text;
  std::size_t chunks = 0;
  std::optional<Outcome> outcome;
};

class Runner : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  TmpDir dir;
  fs::path home = dir.sub("home");
  Policy policy;

  Command command(std::string text, std::chrono::milliseconds timeout = 20'000ms) {
    Command c;
    c.command = std::move(text);
    c.view.home_host_path = home.string();
    c.timeout = timeout;
    return c;
  }

  std::unique_ptr<Handle> start(Command c, Ran& ran) {
    return run(io, policy, std::move(c),
               [&ran](Stream s, std::string_view bytes) {
                 auto& text = s == Stream::stdout_ ? ran.stdout_text : ran.stderr_text;
                 if (text.size() < (1u << 20)) text.append(bytes.substr(0, (1u << 20) - text.size()));
                 ++ran.chunks;
               },
               [&ran](Outcome o) { ran.outcome = std::move(o); });
  }

  Outcome run_to_end(Command c, Ran& ran, std::chrono::milliseconds deadline = 30'000ms) {
    auto h = start(std::move(c), ran);
    EXPECT_TRUE(run_until(io, [&] { return ran.outcome.has_value(); }, deadline)) << "the command never finished";
    return ran.outcome.value_or(Outcome{});
  }

  Outcome run_cmd(const std::string& text) {
    Ran ran;
    return run_to_end(command(text), ran);
  }
};

std::vector<int> processes_with(const std::string& marker) { return yoi::testing::pids_with_cmdline(marker); }

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string unique_marker() {
  std::random_device rd;
  return "yoi-mark-" + std::to_string(rd()) + std::to_string(::getpid());
}

// Children that ignore SIGTERM: one in the group, one in a session of its
// own (setsid leaves the process group; only the pid namespace holds it).
std::string stubborn(const std::string& marker) {
  return "(trap '' TERM; exec -a " + marker + " sleep 1000) & "
         "setsid bash -c \"trap '' TERM; exec -a " + marker + " sleep 1000\" & "
         "echo started; wait";
}

TEST_F(Runner, StreamsStdoutAndStderrAndReportsTheExitCode) {
  Ran ran;
  auto o = run_to_end(command("echo out; echo err >&2; exit 3"), ran);
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(ran.stdout_text, "out\n");
  EXPECT_EQ(ran.stderr_text, "err\n");
  EXPECT_NE(o.output.find("out\n"), std::string::npos);
  EXPECT_NE(o.output.find("err\n"), std::string::npos);
  EXPECT_FALSE(o.truncated);
}

TEST_F(Runner, RunsInTheWorkersHomeAsWork) {
  auto o = run_cmd("pwd; echo $HOME; echo made > made.txt");
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.output, "/work\n/work\n");
  std::ifstream in(home / "made.txt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "made");
}

TEST_F(Runner, EnvironmentIsClearedOfTheRuntimes) {
  ::setenv("YOI_SANDBOX_TEST_SECRET", "s3cret", 1);
  auto o = run_cmd("env");
  ::unsetenv("YOI_SANDBOX_TEST_SECRET");
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.output.find("s3cret"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("HOME=/work"), std::string::npos) << o.output;
}

TEST_F(Runner, OutputStreamsBeforeTheCommandEnds) {
  Ran ran;
  auto h = start(command("echo first; sleep 30"), ran);
  ASSERT_TRUE(run_until(io, [&] { return ran.stdout_text == "first\n"; }, 10'000ms)) << "no output while running";
  EXPECT_FALSE(ran.outcome);
  h->cancel();
  ASSERT_TRUE(run_until(io, [&] { return ran.outcome.has_value(); }, 10'000ms));
  EXPECT_EQ(ran.outcome->error->code, tools::ToolCode::cancelled);
}


TEST_F(Runner, TimeoutKillsAChildThatIgnoresSigterm) {
  auto marker = unique_marker();
  Ran ran;
  auto h = start(command(stubborn(marker), 4000ms), ran);
  ASSERT_TRUE(run_until(io, [&] { return processes_with(marker).size() == 2; }, 10'000ms)) << "children never started";
  ASSERT_TRUE(run_until(io, [&] { return ran.outcome.has_value(); }, 15'000ms)) << "the timeout never fired";
  ASSERT_TRUE(ran.outcome->error);
  EXPECT_EQ(ran.outcome->error->code, tools::ToolCode::tool_timeout);
  EXPECT_FALSE(ran.outcome->exit_code);
  EXPECT_TRUE(wait_for([&] { return processes_with(marker).empty(); }, 5'000ms)) << "a child outlived the timeout";
  EXPECT_NE(::kill(h->pid(), 0), 0) << "bwrap itself is still there";
}

TEST_F(Runner, CancelKillsAChildThatIgnoresSigterm) {
  auto marker = unique_marker();
  Ran ran;
  auto h = start(command(stubborn(marker)), ran);
  ASSERT_TRUE(run_until(io, [&] { return processes_with(marker).size() == 2; }, 10'000ms)) << "children never started";
  h->cancel();
  ASSERT_TRUE(run_until(io, [&] { return ran.outcome.has_value(); }, 10'000ms));
  EXPECT_EQ(ran.outcome->error->code, tools::ToolCode::cancelled);
  EXPECT_TRUE(wait_for([&] { return processes_with(marker).empty(); }, 5'000ms)) << "a child outlived the cancel";
}

TEST_F(Runner, DroppingTheHandleKillsEverything) {
  auto marker = unique_marker();
  Ran ran;
  auto h = start(command(stubborn(marker)), ran);
  ASSERT_TRUE(run_until(io, [&] { return processes_with(marker).size() == 2; }, 10'000ms)) << "children never started";
  int pid = h->pid();
  h.reset();
  EXPECT_TRUE(wait_for([&] { return processes_with(marker).empty(); }, 5'000ms)) << "a child outlived its handle";
  EXPECT_NE(::kill(pid, 0), 0);
  io.restart();
  io.poll();
  EXPECT_FALSE(ran.outcome) << "no outcome after the handle is gone";
}

TEST_F(Runner, AGigabyteOfOutputStaysBounded) {
  Ran ran;
  auto before = yoi::testing::rss_bytes(::getpid());
  auto c = command("head -c 1073741824 /dev/zero; echo; echo the-end", 120'000ms);
  c.max_output_bytes = 32 * 1024;
  auto o = run_to_end(std::move(c), ran, 120'000ms);
  auto after = yoi::testing::rss_bytes(::getpid());
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.output_bytes, (1ull << 30) + 1 + 8);
  EXPECT_TRUE(o.truncated);
  EXPECT_LE(o.output.size(), 32u * 1024 + 100);
  EXPECT_NE(o.output.find("bytes elided"), std::string::npos);
  EXPECT_TRUE(o.output.ends_with("\nthe-end\n")) << "the tail is kept";
  if (yoi::testing::kRssMeaningful) {
    EXPECT_LT(after, before + (64u << 20)) << "RSS grew from " << before << " to " << after;
  }
}

TEST_F(Runner, SandboxUnavailableWhenBwrapIsMissing) {
  policy.bwrap_path = (dir.path / "no-such-bwrap").string();
  auto o = run_cmd("echo never");
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, tools::ToolCode::sandbox_unavailable);
  EXPECT_FALSE(o.exit_code);
  EXPECT_EQ(o.output, "");
}

TEST_F(Runner, SandboxUnavailableWhenBwrapCannotSetUp) {
  // A bwrap that fails as a real one does when namespaces are refused: a
  // message on stderr, exit 1, no child started.
  auto fake = dir.path / "bwrap";
  write_file(fake, "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n");
  fs::permissions(fake, fs::perms::owner_all);
  policy.bwrap_path = fake.string();
  auto o = run_cmd("echo never");
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, tools::ToolCode::sandbox_unavailable);
  EXPECT_NE(o.error->message.find("No permissions"), std::string::npos) << o.error->message;
}

TEST_F(Runner, NoSandboxModeRunsBashInTheHomeAndKillsItsGroup) {
  policy.mode = Mode::none;
  auto o = run_cmd("pwd");
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.output, fs::canonical(home).string() + "\n");
  auto marker = unique_marker();
  Ran ran;
  auto h = start(command("(trap '' TERM; exec -a " + marker + " sleep 1000) & wait", 1000ms), ran);
  ASSERT_TRUE(run_until(io, [&] { return ran.outcome.has_value(); }, 15'000ms));
  EXPECT_EQ(ran.outcome->error->code, tools::ToolCode::tool_timeout);
  EXPECT_TRUE(wait_for([&] { return processes_with(marker).empty(); }, 5'000ms));
}

// ---- what a sandboxed command cannot do (ARCHITECTURE §14) ----

TEST_F(Runner, EscapeCannotSeeHostProcesses) {
  auto o = run_cmd("ls /proc | grep -c '^[0-9]'; test -e /proc/" + std::to_string(::getpid()) + " && echo visible");
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_LE(std::stoi(o.output), 4) << o.output;  // bwrap's init, bash, ls, grep
  EXPECT_EQ(o.output.find("visible"), std::string::npos);
}

TEST_F(Runner, EscapeCannotReadAnotherWorkersHome) {
  auto other = dir.sub("other-home");
  write_file(other / "secret.txt", "other worker's secret");
  auto o = run_cmd("cat " + (other / "secret.txt").string() + "; ls /; grep -rs 'worker.s secret' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr");
  EXPECT_EQ(o.output.find("other worker's secret"), std::string::npos) << o.output;
}

TEST_F(Runner, EscapeCannotWriteAReadOnlyWorkspace) {
  auto ro = dir.sub("repo");
  write_file(ro / "a.txt", "original");
  auto c = command("cat /workspaces/repo/a.txt; echo changed > /workspaces/repo/a.txt; touch /workspaces/repo/new; "
                   "echo rc=$?");
  c.view.mounts.push_back(tools::MountSpec{"repo", ro.string(), tools::Access::read});
  Ran ran;
  auto o = run_to_end(std::move(c), ran);
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_NE(o.output.find("original"), std::string::npos) << "readable";
  EXPECT_NE(o.output.find("Read-only file system"), std::string::npos) << o.output;
  std::ifstream in(ro / "a.txt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "original");
  EXPECT_FALSE(fs::exists(ro / "new"));
}

TEST_F(Runner, AWritableWorkspaceIsWritable) {
  auto rw = dir.sub("scratch");
  auto c = command("echo hi > /workspaces/scratch/b.txt");
  c.view.mounts.push_back(tools::MountSpec{"scratch", rw.string(), tools::Access::write});
  Ran ran;
  auto o = run_to_end(std::move(c), ran);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_TRUE(fs::exists(rw / "b.txt"));
}

TEST_F(Runner, EscapeHiddenPathsUnderSystemDirsStayHidden) {
  // A secret beneath a directory the sandbox shows (here /usr/local via a
  // hidden list entry; the runtime passes its data dir, config and token).
  auto secret_dir = fs::path("/usr/local/share") / unique_marker();
  fs::create_directories(secret_dir);
  write_file(secret_dir / "token", "tok-123");
  policy.hidden = {secret_dir.string()};
  auto o = run_cmd("cat " + (secret_dir / "token").string());
  auto listed = run_cmd("ls -A " + secret_dir.string());
  fs::remove_all(secret_dir);
  EXPECT_EQ(o.output.find("tok-123"), std::string::npos) << o.output;
  EXPECT_EQ(listed.output, "") << "the directory shows empty";
}

// A listening socket on 127.0.0.1:0 in this process.
struct Listener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  Listener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    socklen_t n = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

TEST_F(Runner, EscapeNoNetworkWithoutTheProfileSayingSo) {
  Listener l;
  auto o = run_cmd("echo x > /dev/tcp/127.0.0.1/" + std::to_string(l.port) + " && echo connected");
  EXPECT_EQ(o.output.find("connected"), std::string::npos) << o.output;
  o = run_cmd("ls /sys/class/net 2>/dev/null; cat /proc/net/dev | tail -n +3 | cut -d: -f1");
  EXPECT_EQ(o.output.find("eth"), std::string::npos) << "only lo: " << o.output;
}

TEST_F(Runner, NetworkTrueReachesTheHostLoopback) {
  Listener l;
  policy.network = true;
  auto o = run_cmd("echo x > /dev/tcp/127.0.0.1/" + std::to_string(l.port) + " && echo connected");
  EXPECT_NE(o.output.find("connected"), std::string::npos) << o.output;
}

TEST(BwrapArgv, ShowsTheViewAndNothingElse) {
  Policy p;
  Command c;
  c.command = "true";
  c.view.home_host_path = "/data/homes/h-1";
  c.view.mounts = {{"repo", "/srv/repo", tools::Access::read}, {"out", "/srv/out", tools::Access::write}};
  auto a = bwrap_argv(p, c, 5);
  auto has = [&](std::vector<std::string> seq) { return std::search(a.begin(), a.end(), seq.begin(), seq.end()) != a.end(); };
  EXPECT_TRUE(has({"--bind", "/data/homes/h-1", "/work"}));
  EXPECT_TRUE(has({"--ro-bind", "/srv/repo", "/workspaces/repo"}));
  EXPECT_TRUE(has({"--bind", "/srv/out", "/workspaces/out"}));
  EXPECT_TRUE(has({"--unshare-net"}));
  EXPECT_TRUE(has({"--tmpfs", "/tmp"}));
  EXPECT_TRUE(has({"--die-with-parent"}));
  EXPECT_TRUE(has({"--new-session"}));
  EXPECT_TRUE(has({"--json-status-fd", "5"}));
  EXPECT_FALSE(has({"--ro-bind", "/etc", "/etc"})) << "never /etc whole";
  EXPECT_EQ(a.back(), "true");
  p.network = true;
  a = bwrap_argv(p, c, -1);
  EXPECT_FALSE(has({"--unshare-net"}));
}

}  // namespace
}  // namespace yoi::sandbox
