// yoi_testing against /bin/sh children: ready lines, env, stderr capture,
// signals (stop/continue/term), deadlines, /proc figures, run().
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "yoi/testing/process.hpp"

namespace yoi::testing {
namespace {

using namespace std::chrono_literals;

TEST(Process, ReadyLinePortAndStderr) {
  Process p({"/bin/sh", "-c", "echo oops >&2; echo 'yoi-x listening on http://127.0.0.1:4321'; sleep 30"});
  EXPECT_EQ(p.wait_ready("yoi-x listening on ", 5s), 4321);
  EXPECT_EQ(p.wait_listening(1s), 4321);
  EXPECT_EQ(p.stderr_text(), "oops\n");
  EXPECT_GT(p.rss_bytes(), 0u);
  EXPECT_GE(p.open_fds(), 3);
  EXPECT_EQ(p.stop(SIGTERM, 5s), 128 + SIGTERM);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(p.rss_bytes(), 0u);
}

TEST(Process, WrongFirstLineOrExitIsZero) {
  Process a({"/bin/sh", "-c", "echo hello; sleep 30"});
  EXPECT_EQ(a.wait_ready("yoi-x listening on ", 5s), 0);
  Process b({"/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(b.wait_ready("yoi-x listening on ", 5s), 0);
  EXPECT_EQ(b.wait_exit(5s), std::optional<int>(3));
  auto t0 = std::chrono::steady_clock::now();
  Process c({"/bin/sh", "-c", "sleep 30"});
  EXPECT_EQ(c.wait_ready("x", 300ms), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(Process, EnvSetAndRemoved) {
  ::setenv("YOI_TESTING_GONE", "1", 1);
  Process p({"/bin/sh", "-c", "echo \"a=$YOI_TESTING_A b=${YOI_TESTING_GONE-unset}\""},
            {{"YOI_TESTING_A", "x"}, {"YOI_TESTING_GONE", ""}});
  ASSERT_TRUE(p.wait_line("a=", 5s));
  EXPECT_EQ(p.wait_exit(5s), std::optional<int>(0));
  EXPECT_EQ(p.stdout_text(), "a=x b=unset\n");
}

TEST(Process, StopAndContinue) {
  Process p({"/bin/sh", "-c", "while true; do echo tick; sleep 0.05; done"});
  ASSERT_TRUE(p.wait_line("tick", 5s));
  p.pause();
  std::this_thread::sleep_for(300ms);
  auto before = p.stdout_text().size();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(p.stdout_text().size(), before) << "a stopped process kept writing";
  p.resume();
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(p.stdout_text().size(), before);
  EXPECT_EQ(p.wait_exit(100ms), std::nullopt);
  p.kill();
  EXPECT_EQ(p.wait_exit(1s), std::optional<int>(128 + SIGKILL));
}

TEST(Process, RunWithDeadline) {
  auto r = run({"/bin/sh", "-c", "cat; echo err >&2; exit 4"}, {}, std::string("in\n"), 5s);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "in\n");
  EXPECT_EQ(r.err, "err\n");
  auto slow = run({"/bin/sh", "-c", "sleep 30"}, {}, std::nullopt, 200ms);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_EQ(slow.exit_code, -1);
}

TEST(Process, ProcFiguresOfOtherPids) {
  EXPECT_GT(rss_bytes(::getpid()), 0u);
  EXPECT_GE(open_fds(::getpid()), 3);
  EXPECT_EQ(open_fds(-5), -1);
}

}  // namespace
}  // namespace yoi::testing
