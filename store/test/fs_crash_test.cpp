// Crash test with real processes: fs_crash_child commits under policy
// `always` and prints every acknowledged commit; we SIGKILL it at random
// points, reopen the store, and check that every acknowledged seq is present
// exactly once, that restored state never lags a commit that replaced it,
// and that every file still parses.

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json/parse.hpp>

#include "fs_test_util.hpp"

extern char** environ;

namespace yoi::store::test {
namespace {

namespace fsys = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string buf;

  // Reads complete lines until `until`; returns false on EOF.
  bool read_lines(Clock::time_point until, std::vector<std::string>& lines) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return true;
      pollfd p{out, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n <= 0) continue;
      char tmp[65536];
      ssize_t r = ::read(out, tmp, sizeof tmp);
      if (r <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(r));
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        lines.push_back(buf.substr(0, nl));
        buf.erase(0, nl + 1);
      }
    }
  }
};

Child spawn_child(const std::string& dir, std::string policy, std::vector<std::string> extra = {}) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::string exe = YOI_FS_CRASH_CHILD;
  std::vector<char*> argv{exe.data(), const_cast<char*>(dir.c_str()), policy.data()};
  for (auto& a : extra) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  int rc = ::posix_spawn(&c.pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) throw std::runtime_error("posix_spawn " + exe);
  c.out = fds[0];
  return c;
}

struct Acked {
  std::uint64_t seq = 0;
  std::uint64_t transcript = 0;
};

// `expect_files`: something was acknowledged, so some log must exist (a
// child killed before its first group landed may leave none).
void check_files_parse(const std::string& root, bool expect_files) {
  std::size_t files = 0;
  for (auto& e : fsys::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::string path = e.path().string();
    std::string content = read_file(path);
    if (path.ends_with(".jsonl")) {
      ++files;
      ASSERT_TRUE(content.empty() || content.back() == '\n') << path << " ends mid-line";
      std::istringstream in(content);
      std::string line;
      std::size_t n = 0;
      while (std::getline(in, line)) {
        ++n;
        boost::json::error_code ec;
        auto v = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << path << " line " << n << " does not parse";
        ASSERT_TRUE(v.is_object() && v.as_object().contains("seq")) << path << " line " << n;
      }
    } else if (path.ends_with("state.json")) {
      auto nl = content.find('\n');
      ASSERT_NE(nl, std::string::npos) << path;
      boost::json::error_code ec;
      (void)boost::json::parse(content.substr(0, nl), ec);
      ASSERT_FALSE(ec) << path;
      (void)boost::json::parse(content.substr(nl + 1), ec);
      ASSERT_FALSE(ec) << path;
    } else if (path.ends_with("store.json")) {
      boost::json::error_code ec;
      (void)boost::json::parse(content, ec);
      ASSERT_FALSE(ec) << path;
    }
  }
  if (expect_files) {
    EXPECT_GT(files, 0u);
  }
}

void verify(const std::string& dir, const std::map<std::string, Acked>& acked, int round) {
  SCOPED_TRACE(::testing::Message() << "after round " << round);
  boost::asio::io_context io;
  FsOptions o;
  o.dir = dir;
  auto s = make_fs_store(io, o);
  auto r = s->open();
  ASSERT_TRUE(r) << r.error().message;
  std::map<std::string, RestoredWorker> by_id;
  for (auto& w : r->workers) by_id[w.worker_id] = w;
  for (const auto& [id, a] : acked) {
    SCOPED_TRACE(id);
    ASSERT_TRUE(by_id.count(id)) << "acknowledged worker missing";
    const RestoredWorker& w = by_id[id];
    EXPECT_GE(w.last_seq, a.seq) << "acknowledged seq lost";
    EXPECT_GE(w.transcript_total, a.transcript) << "acknowledged transcript item lost";

    auto state = boost::json::parse(w.state).as_object();
    std::uint64_t through = state.at("through").to_number<std::uint64_t>();
    EXPECT_LE(through, w.last_seq);
    EXPECT_LE(state.at("transcript").to_number<std::uint64_t>(), w.transcript_total);

    std::set<std::uint64_t> seen;
    std::uint64_t after = 0;
    for (;;) {
      auto page = s->read_events(id, after, 1000);
      ASSERT_TRUE(page) << page.error().message;
      if (page->events.empty()) break;
      for (const auto& e : page->events) {
        ASSERT_EQ(e.seq, after + 1) << "gap or duplicate";
        ASSERT_TRUE(seen.insert(e.seq).second) << "seq " << e.seq << " twice";
        auto v = boost::json::parse(e.json).as_object();
        ASSERT_EQ(v.at("seq").to_number<std::uint64_t>(), e.seq);
        // A restored commit that replaced the state is covered by the state.
        if (v.at("st").as_bool()) {
          EXPECT_LE(e.seq, through) << "state lags its commit";
        }
        after = e.seq;
      }
    }
    EXPECT_EQ(seen.size(), w.last_seq);
    for (std::uint64_t q = 1; q <= a.seq; ++q) ASSERT_TRUE(seen.count(q)) << "acked seq " << q;

    auto items = s->read_transcript(id, 0, 100000);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), w.transcript_total);
    for (std::size_t i = 0; i < items->size(); ++i) {
      EXPECT_EQ((*items)[i].index, i);
      auto v = boost::json::parse((*items)[i].json).as_object();
      EXPECT_EQ(v.at("index").to_number<std::uint64_t>(), i);
    }
  }
  s.reset();
  check_files_parse(dir, !acked.empty());
}

void crash_rounds(const std::string& policy, int kRounds) {
  TempDir tmp;
  std::string dir = tmp.path() + "/store";
  SeededRandom random(20261124);
  std::map<std::string, Acked> acked;
  auto test_deadline = Clock::now() + std::chrono::seconds(120);
  std::size_t total_acks = 0;
  for (int round = 1; round <= kRounds; ++round) {
    ASSERT_LT(Clock::now(), test_deadline) << "crash test ran out of time";
    Child c = spawn_child(dir, policy);
    std::vector<std::string> lines;
    if (round % 3 == 0) {
      // Every third round dies early, possibly while open() repairs.
      c.read_lines(Clock::now() + std::chrono::milliseconds(random.uniform(40)), lines);
    } else {
      auto ready_by = Clock::now() + std::chrono::seconds(20);
      while (Clock::now() < ready_by && lines.empty())
        if (!c.read_lines(Clock::now() + std::chrono::milliseconds(20), lines)) break;
      if (lines.empty() || lines.front() != "ready") {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
        ::close(c.out);
        FAIL() << "child did not start: " << (lines.empty() ? "(no output)" : lines.front());
      }
    }
    // Kill at a random point while it is committing.
    auto kill_at = Clock::now() + std::chrono::milliseconds(round % 3 == 0 ? 0 : 5 + random.uniform(150));
    c.read_lines(kill_at, lines);
    ::kill(c.pid, SIGKILL);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early";
    c.read_lines(Clock::now() + std::chrono::milliseconds(200), lines);  // drain to EOF
    ::close(c.out);
    for (const auto& l : lines) {
      if (l == "ready") continue;
      std::istringstream in(l);
      std::string word, id;
      Acked a;
      in >> word >> id >> a.seq >> a.transcript;
      ASSERT_EQ(word, "ack") << l;
      Acked& m = acked[id];
      m.seq = std::max(m.seq, a.seq);
      m.transcript = std::max(m.transcript, a.transcript);
      ++total_acks;
    }
    verify(dir, acked, round);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(total_acks, static_cast<std::size_t>(kRounds)) << "the child barely committed";
  std::printf("crash test (%s): %d rounds, %zu acknowledged commits\n", policy.c_str(), kRounds,
              total_acks);
}

TEST(FsCrashTest, AcknowledgedCommitsSurviveSigkill) { crash_rounds("always", 24); }

// batch acknowledges only after its group's sync too: the same guarantees.
TEST(FsCrashTest, AcknowledgedCommitsSurviveSigkillUnderBatch) { crash_rounds("batch", 12); }


// A removal killed at a chosen point (the child SIGKILLs itself there, on
// the writer thread): restore gives the whole worker or nothing, never a
// worker that fails to restore, and never touches the bystander.
struct RemoveCrash {
  bool killed = false;
  bool removed_acked = false;
  std::vector<std::string> lines;
};

RemoveCrash crash_remove_at(const std::string& dir, const std::string& point) {
  RemoveCrash out;
  Child c = spawn_child(dir, "always", {"remove", point});
  auto until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < until && c.read_lines(Clock::now() + std::chrono::milliseconds(50), out.lines)) {
  }
  // Its output ended (or the deadline passed): reap it, within a deadline.
  int status = 0;
  auto reap_by = Clock::now() + std::chrono::seconds(10);
  pid_t got = 0;
  while ((got = ::waitpid(c.pid, &status, WNOHANG)) == 0 && Clock::now() < reap_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (got == 0) {
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, &status, 0);
    ADD_FAILURE() << "the child neither died nor finished within the deadline";
  }
  ::close(c.out);
  out.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  for (const auto& l : out.lines) out.removed_acked = out.removed_acked || l == "removed";
  return out;
}

void expect_worker_or_nothing(const std::string& dir, bool victim_expected) {
  boost::asio::io_context io;
  FsOptions o;
  o.dir = dir;
  auto s = make_fs_store(io, o);
  auto r = s->open();
  ASSERT_TRUE(r) << "restore failed: " << r.error().message;
  std::map<std::string, RestoredWorker> by_id;
  for (auto& w : r->workers) by_id[w.worker_id] = w;
  ASSERT_TRUE(by_id.count("bystander"));
  EXPECT_EQ(by_id["bystander"].last_seq, 3u);
  if (victim_expected) {
    ASSERT_TRUE(by_id.count("victim")) << "a removal that had not begun lost the worker";
    const auto& v = by_id["victim"];
    EXPECT_EQ(v.last_seq, 3u);
    EXPECT_EQ(v.transcript_total, 1u);
    EXPECT_EQ(v.state, R"({"through":3,"transcript":1})");
    auto page = s->read_events("victim", 0, 10);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->events.size(), 3u);
  } else {
    EXPECT_FALSE(by_id.count("victim")) << "a removed worker came back";
  }
  s.reset();
  for (auto& e : fsys::directory_iterator(dir + "/workers"))
    EXPECT_FALSE(e.path().filename().string().starts_with(".deleting-")) << "tombstone left after open";
  check_files_parse(dir, true);
}

TEST(FsStoreCrash, DeleteKilledBeforeRenameLeavesTheWholeWorker) {
  TempDir tmp;
  std::string dir = tmp.path() + "/store";
  auto run = crash_remove_at(dir, "remove:before_rename");
  ASSERT_TRUE(run.killed) << "the child was not killed at the point";
  EXPECT_FALSE(run.removed_acked);
  expect_worker_or_nothing(dir, true);
}

TEST(FsStoreCrash, DeleteHalfwayLeavesWorkerOrNothing) {
  // Killed after the rename (and its directory sync), before any file went:
  // the worker is gone and open() clears the tombstone.
  TempDir tmp;
  std::string dir = tmp.path() + "/store";
  auto run = crash_remove_at(dir, "remove:renamed");
  ASSERT_TRUE(run.killed) << "the child was not killed at the point";
  bool tombstone = false;
  for (auto& e : fsys::directory_iterator(dir + "/workers"))
    tombstone = tombstone || e.path().filename().string().starts_with(".deleting-");
  EXPECT_TRUE(tombstone) << "the kill point did not fall between rename and removal";
  expect_worker_or_nothing(dir, false);
}

TEST(FsStoreCrash, DeleteThatCompletesIsGoneAfterRestore) {
  TempDir tmp;
  std::string dir = tmp.path() + "/store";
  auto run = crash_remove_at(dir, "none");
  EXPECT_FALSE(run.killed);
  ASSERT_TRUE(run.removed_acked);
  expect_worker_or_nothing(dir, false);
}

}  // namespace
}  // namespace yoi::store::test
