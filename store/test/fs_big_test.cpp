// A 1,000,000-event log: restore and page reads touch a bounded amount of
// memory (resident set growth from /proc/self/statm), never a whole file.

#include <unistd.h>

#include <fstream>

#include "fs_test_util.hpp"
#include "yoi/testing/sanitizers.hpp"

namespace yoi::store::test {
namespace {

using yoi::testing::kRssMeaningful;

std::size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(FsBigTest, MillionEventLogReadsAreBounded) {
  constexpr std::uint64_t kEvents = 1'000'000, kPerCommit = 1000;
  TempDir dir;
  boost::asio::io_context io;
  FsOptions o;
  o.dir = dir.path() + "/store";
  o.fsync = FsyncPolicy::none;
  o.retention.max_events = 2'000'000;
  o.retention.max_bytes = std::size_t(1) << 32;
  const std::string pad(80, 'p');
  {
    auto s = make_fs_store(io, o);
    ASSERT_TRUE(s->open());
    int completed = 0, failed = 0;
    for (std::uint64_t last = 0; last < kEvents; last += kPerCommit) {
      Commit c;
      c.worker_id = "big";
      if (last == 0) c.state = "{}";
      for (std::uint64_t i = 1; i <= kPerCommit; ++i)
        c.events.push_back(EventRecord{last + i, event_json(last + i, pad)});
      c.transcript.push_back(TranscriptRecord{last / kPerCommit, item_json(last / kPerCommit, last + kPerCommit)});
      s->commit(std::move(c), [&](Result<void> r) { r ? ++completed : ++failed; });
      // Keep a bounded number of commits in flight.
      while (completed + failed + 8 < static_cast<int>(last / kPerCommit + 1)) {
        io.restart();
        io.run_for(std::chrono::milliseconds(1));
      }
    }
    std::optional<bool> all;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (completed + failed < static_cast<int>(kEvents / kPerCommit) &&
           std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(completed, static_cast<int>(kEvents / kPerCommit)) << failed << " failed";
  }

  std::size_t before_open = rss_bytes();
  auto s = make_fs_store(io, o);
  auto r = s->open();
  ASSERT_TRUE(r) << r.error().message;
  std::size_t after_open = rss_bytes();
  ASSERT_EQ(r->workers.size(), 1u);
  EXPECT_EQ(r->workers[0].last_seq, kEvents);
  EXPECT_EQ(r->workers[0].first_seq, 1u);
  EXPECT_EQ(r->workers[0].transcript_total, kEvents / kPerCommit);
  // The log is ~150 MB; restoring it keeps only a sparse index.
  if (kRssMeaningful) {
    EXPECT_LT(after_open > before_open ? after_open - before_open : 0, std::size_t(32) << 20)
        << "restore grew RSS from " << before_open << " to " << after_open;
  }

  // Warm up once (first-touch of code and allocator), then measure.
  ASSERT_TRUE(s->read_events("big", 500'000, 100));
  std::size_t base = rss_bytes();
  SeededRandom random(7);
  for (int i = 0; i < 200; ++i) {
    std::uint64_t after = random.uniform(kEvents);
    auto page = s->read_events("big", after, 100);
    ASSERT_TRUE(page) << page.error().message;
    ASSERT_EQ(page->events.size(), std::min<std::uint64_t>(100, kEvents - after));
    if (!page->events.empty()) {
      EXPECT_EQ(page->events.front().seq, after + 1);
      EXPECT_EQ(page->events.front().json, event_json(after + 1, pad));
    }
    auto items = s->read_transcript("big", random.uniform(kEvents / kPerCommit), 50);
    ASSERT_TRUE(items);
  }
  std::size_t grown = rss_bytes() - std::min(rss_bytes(), base);
  if (kRssMeaningful) {
    EXPECT_LT(grown, std::size_t(4) << 20) << "page reads grew RSS by " << grown << " bytes";
  }
  std::printf("1M events: RSS before open %zu KiB, after open %zu KiB, after 200 page reads %zu KiB\n",
              before_open >> 10, after_open >> 10, rss_bytes() >> 10);
}

}  // namespace
}  // namespace yoi::store::test
