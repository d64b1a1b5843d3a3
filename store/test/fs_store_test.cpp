// The fs store: round trip, paging, retention, repair and damage rules,
// fsync grouping. The crash test with real processes is fs_crash_test.cpp.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "fs_test_util.hpp"
#include "yoi/ids.hpp"

namespace yoi::store::test {
namespace {

namespace fsys = std::filesystem;

class FsStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<FsStore> make(FsOptions o = {}) {
    if (o.dir.empty()) o.dir = dir.path() + "/store";
    return make_fs_store(io, std::move(o), random);
  }
  // Opens a fresh store over the same directory (destroying the old one first).
  Restored reopen(std::unique_ptr<FsStore>& s, FsOptions o = {}) {
    s.reset();
    s = make(std::move(o));
    auto r = s->open();
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : Restored{};
  }
  std::string worker_dir(const std::string& id) {
    return dir.path() + "/store/workers/" + encode_for_path(id);
  }
  std::string segment(const std::string& id, std::uint64_t first) {
    return fmt::format("{}/events/{:020}.jsonl", worker_dir(id), first);
  }

  TempDir dir;
  boost::asio::io_context io;
  SeededRandom random{42};
};

TEST_F(FsStoreTest, PolicyNames) {
  EXPECT_EQ(*fsync_policy_from_name("always"), FsyncPolicy::always);
  EXPECT_EQ(*fsync_policy_from_name("batch"), FsyncPolicy::batch);
  EXPECT_EQ(*fsync_policy_from_name("none"), FsyncPolicy::none);
  auto bad = fsync_policy_from_name("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::config_invalid);
}

TEST_F(FsStoreTest, RoundTripRestoresEverythingAndKeepsEpoch) {
  auto s = make();
  auto first = s->open();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(s->kind(), "fs");
  EXPECT_TRUE(first->workers.empty());
  EXPECT_FALSE(first->epoch.empty());

  const std::string a = "w:1", b = "worker_b";
  Commit c1 = make_commit(a, 0, 3, R"({"status":"idle","n":1})");
  c1.transcript.push_back(TranscriptRecord{0, item_json(0, 3, "first")});
  ASSERT_TRUE(commit_sync(io, *s, std::move(c1)));
  ASSERT_TRUE(commit_sync(io, *s, make_commit(b, 0, 1, R"({"status":"running"})")));
  Commit c2 = make_commit(a, 3, 2);
  c2.transcript.push_back(TranscriptRecord{1, item_json(1, 5, "second")});
  ASSERT_TRUE(commit_sync(io, *s, std::move(c2)));
  ASSERT_TRUE(commit_sync(io, *s, make_commit(a, 5, 1, R"({"status":"idle","n":2})")));

  // Ids are encoded on disk, never raw.
  EXPECT_TRUE(fsys::is_directory(worker_dir(a)));
  EXPECT_FALSE(fsys::exists(dir.path() + "/store/workers/w:1"));

  auto r = reopen(s);
  EXPECT_EQ(r.epoch, first->epoch);
  EXPECT_TRUE(r.diagnostics.empty());
  ASSERT_EQ(r.workers.size(), 2u);
  const auto& ra = r.workers[0].worker_id == a ? r.workers[0] : r.workers[1];
  const auto& rb = r.workers[0].worker_id == a ? r.workers[1] : r.workers[0];
  EXPECT_EQ(ra.worker_id, a);
  EXPECT_EQ(ra.state, R"({"status":"idle","n":2})");
  EXPECT_EQ(ra.first_seq, 1u);
  EXPECT_EQ(ra.last_seq, 6u);
  EXPECT_EQ(ra.transcript_total, 2u);
  EXPECT_EQ(rb.state, R"({"status":"running"})");
  EXPECT_EQ(rb.last_seq, 1u);
  EXPECT_EQ(rb.transcript_total, 0u);

  auto ev = s->read_events(a, 0, 100);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->events.size(), 6u);
  for (std::uint64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(ev->events[i].seq, i + 1);
    EXPECT_EQ(ev->events[i].json, event_json(i + 1));
  }
  auto tr = s->read_transcript(a, 0, 10);
  ASSERT_TRUE(tr);
  ASSERT_EQ(tr->size(), 2u);
  EXPECT_EQ((*tr)[1].json, item_json(1, 5, "second"));

  // seq continues; a gap is refused and changes nothing.
  ASSERT_TRUE(commit_sync(io, *s, make_commit(a, 6, 1)));
  auto gap = commit_sync(io, *s, make_commit(a, 9, 1));
  ASSERT_FALSE(gap);
  auto after = s->read_events(a, 6, 10);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->events.size(), 1u);
  EXPECT_EQ(after->last_seq, 7u);
  auto r2 = reopen(s);
  EXPECT_EQ(r2.epoch, first->epoch);
  EXPECT_EQ(r2.workers[0].last_seq + r2.workers[1].last_seq, 8u);
}

TEST_F(FsStoreTest, BadInputIsATypedErrorAndChangesNothing) {
  auto s = make();
  ASSERT_TRUE(s->open());
  auto bad_id = commit_sync(io, *s, make_commit("../etc", 0, 1));
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code, Code::invalid_id);
  Commit not_json = make_commit("w", 0, 1);
  not_json.events[0].json = "{\"seq\":1,";
  EXPECT_FALSE(commit_sync(io, *s, std::move(not_json)));
  auto missing = s->read_events("w", 0, 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::worker_not_found);
  EXPECT_FALSE(fsys::exists(worker_dir("w")));
  // Newlines in a record are whitespace and must not split the line.
  Commit pretty = make_commit("w", 0, 1);
  pretty.events[0].json = "{\n\"seq\": 1,\n\"type\": \"x\"\n}";
  ASSERT_TRUE(commit_sync(io, *s, std::move(pretty)));
  auto r = reopen(s);
  ASSERT_EQ(r.workers.size(), 1u);
  auto ev = s->read_events("w", 0, 10);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->events.size(), 1u);
  auto v = boost::json::parse(ev->events[0].json);
  EXPECT_EQ(v.at("type").as_string(), "x");
}

TEST_F(FsStoreTest, PagedReadsAcrossSegmentsBeforeAndAfterReopen) {
  FsOptions o;
  o.fsync = FsyncPolicy::none;
  o.segment_max_events = 100;
  auto s = make(o);
  ASSERT_TRUE(s->open());
  std::uint64_t last = 0;
  for (int i = 0; i < 150; ++i) {
    std::size_t n = 1 + i % 13;
    Commit c = make_commit("w", last, n);
    c.transcript.push_back(TranscriptRecord{static_cast<std::uint64_t>(i), item_json(i, last + n)});
    ASSERT_TRUE(commit_sync(io, *s, std::move(c)));
    last += n;
  }
  auto check = [&] {
    for (std::uint64_t after : std::vector<std::uint64_t>{0, 1, 63, 64, 99, 100, 101, 500, last - 3, last}) {
      auto page = s->read_events("w", after, 77);
      ASSERT_TRUE(page) << page.error().message;
      EXPECT_EQ(page->first_seq, 1u);
      EXPECT_EQ(page->last_seq, last);
      std::uint64_t expect_n = std::min<std::uint64_t>(77, last - after);
      ASSERT_EQ(page->events.size(), expect_n) << "after " << after;
      for (std::size_t i = 0; i < page->events.size(); ++i) {
        EXPECT_EQ(page->events[i].seq, after + 1 + i);
        EXPECT_EQ(page->events[i].json, event_json(after + 1 + i));
      }
    }
    for (std::uint64_t start : std::vector<std::uint64_t>{0, 63, 64, 140, 149, 150}) {
      auto items = s->read_transcript("w", start, 20);
      ASSERT_TRUE(items);
      ASSERT_EQ(items->size(), std::min<std::uint64_t>(20, 150 - start));
      for (std::size_t i = 0; i < items->size(); ++i) EXPECT_EQ((*items)[i].index, start + i);
    }
  };
  check();
  auto r = reopen(s, o);
  ASSERT_EQ(r.workers.size(), 1u);
  EXPECT_EQ(r.workers[0].last_seq, last);
  EXPECT_EQ(r.workers[0].transcript_total, 150u);
  check();
  // More than one segment was written, and each holds whole commits.
  std::size_t segs = 0;
  for (auto& e : fsys::directory_iterator(worker_dir("w") + "/events")) segs += e.is_regular_file();
  EXPECT_GT(segs, 5u);
}

TEST_F(FsStoreTest, RetentionDropsOldSegmentsAndSurvivesReopen) {
  FsOptions o;
  o.fsync = FsyncPolicy::none;
  o.segment_max_events = 100;
  o.retention.max_events = 250;
  auto s = make(o);
  ASSERT_TRUE(s->open());
  for (std::uint64_t last = 0; last < 1000; last += 10)
    ASSERT_TRUE(commit_sync(io, *s, make_commit("w", last, 10)));
  auto page = s->read_events("w", 0, 5);
  ASSERT_TRUE(page);
  EXPECT_GT(page->first_seq, 700u);
  EXPECT_LE(1000 - page->first_seq + 1, 250u);
  ASSERT_FALSE(page->events.empty());
  EXPECT_EQ(page->events[0].seq, page->first_seq);
  EXPECT_FALSE(fsys::exists(segment("w", 1)));
  auto r = reopen(s, o);
  ASSERT_EQ(r.workers.size(), 1u);
  EXPECT_EQ(r.workers[0].first_seq, page->first_seq);
  EXPECT_EQ(r.workers[0].last_seq, 1000u);
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 1000, 1)));
}

TEST_F(FsStoreTest, TornTailIsTruncatedWithADiagnostic) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 3, "{}")));
  Commit c = make_commit("w", 3, 1);
  c.transcript.push_back(TranscriptRecord{0, item_json(0, 4)});
  ASSERT_TRUE(commit_sync(io, *s, std::move(c)));
  s.reset();
  std::string seg = segment("w", 1);
  auto size_before = fsys::file_size(seg);
  append_file(seg, R"({"seq":5,"f":1,"r":{"seq":5,"ty)");
  append_file(worker_dir("w") + "/transcript.jsonl", R"({"index":1,"se)");

  auto r = reopen(s);
  ASSERT_EQ(r.workers.size(), 1u);
  EXPECT_EQ(r.workers[0].last_seq, 4u);
  EXPECT_EQ(r.workers[0].transcript_total, 1u);
  ASSERT_EQ(r.diagnostics.size(), 2u);
  EXPECT_NE(r.diagnostics[0].find(seg), std::string::npos) << r.diagnostics[0];
  EXPECT_NE(r.diagnostics[0].find("torn"), std::string::npos) << r.diagnostics[0];
  EXPECT_NE(r.diagnostics[1].find("transcript.jsonl"), std::string::npos) << r.diagnostics[1];
  EXPECT_EQ(fsys::file_size(seg), size_before);
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 4, 1)));
  auto r2 = reopen(s);
  EXPECT_TRUE(r2.diagnostics.empty());
  EXPECT_EQ(r2.workers[0].last_seq, 5u);
}

TEST_F(FsStoreTest, CommitWhoseStateNeverLandedIsDropped) {
  // A crash between the log sync and the state rename leaves a complete
  // commit in the log that replaced the state, but the old state file. It was
  // never acknowledged; keeping its events would contradict the state.
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 2, R"({"v":1})")));
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 2, 1)));
  s.reset();
  append_file(segment("w", 1), R"({"seq":4,"f":0,"r":{"seq":4}})" "\n"
                               R"({"seq":5,"f":3,"r":{"seq":5}})" "\n");
  append_file(worker_dir("w") + "/transcript.jsonl", R"({"index":0,"seq":5,"r":{}})" "\n");
  auto r = reopen(s);
  ASSERT_EQ(r.workers.size(), 1u);
  EXPECT_EQ(r.workers[0].last_seq, 3u);
  EXPECT_EQ(r.workers[0].transcript_total, 0u);
  EXPECT_EQ(r.workers[0].state, R"({"v":1})");
  EXPECT_EQ(r.diagnostics.size(), 2u);
}

TEST_F(FsStoreTest, CorruptMiddleLineIsStoreCorruptNamingFileAndLine) {
  auto s = make();
  ASSERT_TRUE(s->open());
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(commit_sync(io, *s, make_commit("w", i, 1)));
  s.reset();
  std::string seg = segment("w", 1);
  std::string content = read_file(seg);
  auto l2 = content.find('\n') + 1;
  content.replace(l2, 6, "garbag");
  write_file(seg, content);
  auto again = make();
  auto r = again->open();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::store_corrupt);
  EXPECT_NE(r.error().message.find(seg), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
}

TEST_F(FsStoreTest, SeqGapInTheMiddleIsStoreCorrupt) {
  auto s = make();
  ASSERT_TRUE(s->open());
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(commit_sync(io, *s, make_commit("w", i, 1)));
  s.reset();
  std::string seg = segment("w", 1);
  std::string content = read_file(seg);
  auto l2 = content.find('\n') + 1;
  auto l3 = content.find('\n', l2) + 1;
  write_file(seg, content.substr(0, l2) + content.substr(l3));
  auto again = make();
  auto r = again->open();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::store_corrupt);
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
}

TEST_F(FsStoreTest, MissingFilesAreStoreCorrupt) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("a", 0, 1, "{}")));
  ASSERT_TRUE(commit_sync(io, *s, make_commit("b", 0, 1, "{}")));
  s.reset();
  fsys::remove(worker_dir("a") + "/state.json");
  {
    auto again = make();
    auto r = again->open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::store_corrupt);
    EXPECT_NE(r.error().message.find(worker_dir("a") + "/state.json"), std::string::npos)
        << r.error().message;
  }
  fsys::remove_all(worker_dir("a"));
  fsys::remove(worker_dir("b") + "/transcript.jsonl");
  {
    auto again = make();
    auto r = again->open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::store_corrupt);
    EXPECT_NE(r.error().message.find("transcript.jsonl"), std::string::npos) << r.error().message;
  }
  fsys::remove(dir.path() + "/store/store.json");
  {
    auto again = make();
    auto r = again->open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::store_corrupt);
    EXPECT_NE(r.error().message.find("store.json"), std::string::npos) << r.error().message;
  }
  // With no workers left a missing store.json is simply a new store.
  fsys::remove_all(worker_dir("b"));
  auto fresh = make();
  ASSERT_TRUE(fresh->open());
  ASSERT_TRUE(commit_sync(io, *fresh, make_commit("c", 0, 1)));
}

TEST_F(FsStoreTest, UnreadableDirectoryIsStoreIo) {
  // Tests run as root, where chmod 000 does not stop reads: put regular files
  // where directories must be instead.
  write_file(dir.path() + "/plain", "not a directory");
  {
    FsOptions o;
    o.dir = dir.path() + "/plain";
    auto s = make(o);
    auto r = s->open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::store_io) << r.error().message;
  }
  {
    auto s = make();
    ASSERT_TRUE(s->open());
    ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 1, "{}")));
    s.reset();
    fsys::remove_all(worker_dir("w") + "/events");
    write_file(worker_dir("w") + "/events", "x");
    auto again = make();
    auto r = again->open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::store_io) << r.error().message;
    EXPECT_NE(r.error().message.find("events"), std::string::npos) << r.error().message;
  }
}

TEST_F(FsStoreTest, SecondProcessOnTheSameDirectoryIsRefused) {
  auto s = make();
  ASSERT_TRUE(s->open());
  auto other = make();
  auto r = other->open();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::store_io);
}

TEST_F(FsStoreTest, UnfinishedWorkerDirectoryIsRemoved) {
  auto s = make();
  ASSERT_TRUE(s->open());
  s.reset();
  fsys::create_directories(worker_dir("ghost") + ".tmp/events");
  auto r = reopen(s);
  EXPECT_TRUE(r.workers.empty());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_FALSE(fsys::exists(worker_dir("ghost") + ".tmp"));
}

// A config bundle is the whole file or nothing (ARCHITECTURE §16): a put
// cut short by a crash leaves only its .tmp (written, fsynced, then renamed),
// which the next open removes; the bundles put before it are all there.
TEST_F(FsStoreTest, BundlePutCutShortByACrashLeavesTheWholeBundleOrNone) {
  auto s = make();
  ASSERT_TRUE(s->open());
  std::optional<Result<void>> put;
  s->put_bundle("aa11", R"({"digest":"aa11","profiles":{}})", [&](Result<void> r) { put = r; });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return put.has_value(); }, std::chrono::seconds(20)));
  ASSERT_TRUE(*put) << put->error().message;
  s.reset();
  const std::string bundles = dir.path() + "/store/bundles";
  ASSERT_TRUE(fsys::exists(bundles + "/aa11.json"));
  {  // the crash: a second put's temporary file, half written, never renamed
    std::ofstream torn(bundles + "/bb22.json.tmp");
    torn << R"({"digest":"bb22","prof)";
  }
  auto r = reopen(s);
  ASSERT_EQ(r.bundles.size(), 1u);
  EXPECT_EQ(r.bundles[0].digest, "aa11");
  EXPECT_EQ(r.bundles[0].json, R"({"digest":"aa11","profiles":{}})");
  EXPECT_FALSE(fsys::exists(bundles + "/bb22.json.tmp"));
  EXPECT_FALSE(fsys::exists(bundles + "/bb22.json"));
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].find("unfinished bundle"), std::string::npos) << r.diagnostics[0];
}

TEST_F(FsStoreTest, ConcurrentCommitsShareOneSync) {
  FsOptions o;
  o.fsync = FsyncPolicy::always;
  auto s = make(o);
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 1, "{}")));
  auto base = s->stats();
  // 16 writers, each keeping one commit in flight on the same worker.
  constexpr int kWriters = 16, kRounds = 40;
  std::uint64_t last = 1;
  int outstanding = 0, completed = 0, errors = 0;
  std::function<void(int)> issue = [&](int left) {
    ++outstanding;
    s->commit(make_commit("w", last, 1), [&, left](Result<void> r) {
      --outstanding;
      ++completed;
      if (!r) ++errors;
      if (left > 1) issue(left - 1);
    });
    ++last;
  };
  for (int i = 0; i < kWriters; ++i) issue(kRounds);
  std::optional<bool> done;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (completed < kWriters * kRounds && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(completed, kWriters * kRounds) << "commits did not complete within the deadline";
  EXPECT_EQ(errors, 0);
  auto st = s->stats();
  std::uint64_t commits = st.commits - base.commits;
  std::uint64_t syncs = st.file_syncs - base.file_syncs;
  EXPECT_EQ(commits, static_cast<std::uint64_t>(kWriters * kRounds));
  // One sync per group; groups carry many commits each.
  EXPECT_LE(syncs, commits / 8) << "groups: " << st.groups - base.groups;
  auto page = s->read_events("w", 0, 1000);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->last_seq, last);
}

TEST_F(FsStoreTest, BatchIntervalGathersStaggeredCommits) {
  for (auto policy : {FsyncPolicy::batch, FsyncPolicy::always}) {
    FsOptions o;
    o.dir = dir.path() + "/store-" + std::string(fsync_policy_name(policy));
    o.fsync = policy;
    o.batch_interval = std::chrono::milliseconds(500);
    o.batch_max = 1000;
    auto s = make(o);
    ASSERT_TRUE(s->open());
    auto base = s->stats();
    // Ten commits 3 ms apart: under batch they fit one 500 ms window.
    int completed = 0;
    std::uint64_t last = 0;
    boost::asio::steady_timer timer(io);
    std::function<void(int)> tick = [&](int left) {
      s->commit(make_commit("w", last, 1, last == 0 ? std::optional<std::string>("{}") : std::nullopt),
                [&](Result<void> r) { completed += r ? 1 : 0; });
      ++last;
      if (left <= 1) return;
      timer.expires_after(std::chrono::milliseconds(3));
      timer.async_wait([&, left](boost::system::error_code) { tick(left - 1); });
    };
    tick(10);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (completed < 10 && std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(completed, 10);
    auto groups = s->stats().groups - base.groups;
    // Margins are wide on purpose (a loaded disk can take many ms per sync):
    // batch holds the window open; always never waits for company, so ten
    // commits spread over ~30 ms cannot all land in one group.
    if (policy == FsyncPolicy::batch)
      EXPECT_LE(groups, 2u);
    else
      EXPECT_GE(groups, 2u);
  }
}

TEST_F(FsStoreTest, WriteFailureIsStoreIoAndSticky) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("ok", 0, 1, "{}")));
  // A regular file where the new worker's directory must go: the rename fails.
  write_file(worker_dir("x"), "in the way");
  auto r = commit_sync(io, *s, make_commit("x", 0, 1, "{}"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::store_io) << r.error().message;
  auto missing = s->read_events("x", 0, 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::worker_not_found);
  // Nothing is acknowledged after a failed write, even for other workers.
  auto after = commit_sync(io, *s, make_commit("ok", 1, 1));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Code::store_io);
  auto page = s->read_events("ok", 0, 10);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->last_seq, 1u);
  // Reopening cleans up the half-built worker and refuses the stray file.
  fsys::remove(worker_dir("x"));
  auto again = reopen(s);
  ASSERT_EQ(again.workers.size(), 1u);
  EXPECT_EQ(again.workers[0].last_seq, 1u);
}

TEST_F(FsStoreTest, StoreMayBeDestroyedFromACompletion) {
  auto s = make();
  ASSERT_TRUE(s->open());
  int later = 0;
  std::optional<bool> flushed;
  s->commit(make_commit("w", 0, 1, "{}"), [](Result<void>) {});
  s->flush([&](Result<void> r) {
    flushed = static_cast<bool>(r);
    s.reset();  // the owner shuts down once everything is durable
  });
  s->commit(make_commit("w", 1, 1), [&](Result<void>) { ++later; });
  ASSERT_TRUE(run_until(io, flushed));
  EXPECT_TRUE(*flushed);
  EXPECT_EQ(s, nullptr);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(later, 0) << "no completion runs after the store is gone";
  // The commit queued before destruction was still written.
  auto r = reopen(s);
  ASSERT_EQ(r.workers.size(), 1u);
  EXPECT_EQ(r.workers[0].last_seq, 2u);
}

TEST_F(FsStoreTest, FlushUnderPolicyNone) {
  FsOptions o;
  o.fsync = FsyncPolicy::none;
  auto s = make(o);
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 5, "{}")));
  EXPECT_EQ(s->stats().file_syncs, 0u);
  ASSERT_TRUE(flush_sync(io, *s));
  EXPECT_GE(s->stats().file_syncs, 1u);
  auto r = reopen(s, o);
  EXPECT_EQ(r.workers[0].last_seq, 5u);
}


// ---- removing a worker (README, "Removing a worker") ----

TEST_F(FsStoreTest, RemoveDeletesTheWorkerDirectoryAndFreesTheId) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("gone", 0, 3, R"({"v":1})")));
  ASSERT_TRUE(commit_sync(io, *s, make_commit("kept", 0, 2, R"({"v":2})")));
  ASSERT_TRUE(fsys::exists(worker_dir("gone")));
  auto r = remove_sync(io, *s, "gone");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(fsys::exists(worker_dir("gone")));
  for (auto& e : fsys::directory_iterator(dir.path() + "/store/workers"))
    EXPECT_EQ(e.path().filename().string(), encode_for_path("kept")) << "nothing left but the other worker";
  EXPECT_EQ(s->read_events("gone", 0, 10).error().code, Code::worker_not_found);
  EXPECT_EQ(remove_sync(io, *s, "gone").error().code, Code::worker_not_found);
  EXPECT_EQ(remove_sync(io, *s, "never").error().code, Code::worker_not_found);

  // The id starts over: seq 1 again, and only the new worker comes back.
  ASSERT_TRUE(commit_sync(io, *s, make_commit("gone", 0, 1, R"({"v":3})")));
  auto restored = reopen(s);
  ASSERT_EQ(restored.workers.size(), 2u);
  EXPECT_EQ(restored.workers[0].worker_id, "gone");
  EXPECT_EQ(restored.workers[0].state, R"({"v":3})");
  EXPECT_EQ(restored.workers[0].last_seq, 1u);
  EXPECT_EQ(restored.workers[1].last_seq, 2u);
}

// Commits, a removal and a re-creation of the same id handed to the writer
// in one group keep their order: the new worker is not swallowed by the
// removal, and the old one's last commit does not resurrect it.
TEST_F(FsStoreTest, RemoveBetweenCommitsOfOneGroupKeepsCallOrder) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 2, R"({"v":"old"})")));
  std::vector<std::string> order;
  s->commit(make_commit("w", 2, 2, R"({"v":"old2"})"), [&](Result<void> r) {
    EXPECT_TRUE(r);
    order.push_back("old commit");
  });
  s->remove("w", [&](Result<void> r) {
    EXPECT_TRUE(r) << r.error().message;
    order.push_back("remove");
  });
  s->commit(make_commit("w", 0, 1, R"({"v":"new"})"), [&](Result<void> r) {
    EXPECT_TRUE(r) << r.error().message;
    order.push_back("new commit");
  });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return order.size() == 3; }, std::chrono::seconds(20)));
  EXPECT_EQ(order, (std::vector<std::string>{"old commit", "remove", "new commit"}));
  auto restored = reopen(s);
  ASSERT_EQ(restored.workers.size(), 1u);
  EXPECT_EQ(restored.workers[0].state, R"({"v":"new"})");
  EXPECT_EQ(restored.workers[0].last_seq, 1u);
}

TEST_F(FsStoreTest, OpenFinishesARemovalCutShortAfterItsRename) {
  auto s = make();
  ASSERT_TRUE(s->open());
  ASSERT_TRUE(commit_sync(io, *s, make_commit("w", 0, 2, R"({"v":1})")));
  s.reset();
  // What a crash right after the rename leaves: a tombstone.
  std::string tomb = dir.path() + "/store/workers/.deleting-" + encode_for_path("w") + "-00ff";
  fsys::rename(worker_dir("w"), tomb);
  auto restored = reopen(s);
  EXPECT_TRUE(restored.workers.empty());
  EXPECT_FALSE(fsys::exists(tomb));
  ASSERT_EQ(restored.diagnostics.size(), 1u);
  EXPECT_NE(restored.diagnostics[0].find("deleted worker"), std::string::npos);
}

}  // namespace
}  // namespace yoi::store::test
