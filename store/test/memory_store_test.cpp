#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "yoi/store/store.hpp"

namespace yoi::store {
namespace {

Commit events(std::string id, std::uint64_t from, std::uint64_t n, std::size_t size = 10) {
  Commit c;
  c.worker_id = std::move(id);
  for (std::uint64_t s = from; s < from + n; ++s) c.events.push_back({s, std::string(size, 'x')});
  return c;
}

TEST(MemoryStore, CommitsCompleteAsynchronouslyInOrder) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {});
  ASSERT_TRUE(st->open());
  std::vector<int> order;
  st->commit(events("w", 1, 3), [&](Result<void> r) { EXPECT_TRUE(r); order.push_back(1); });
  st->commit(events("w", 4, 1), [&](Result<void> r) { EXPECT_TRUE(r); order.push_back(2); });
  EXPECT_TRUE(order.empty()) << "never inline";
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  auto r = st->read_events("w", 1, 10);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events.front().seq, 2u);
  EXPECT_EQ(r->last_seq, 4u);
}

TEST(MemoryStore, RejectsASeqGap) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {});
  std::optional<Result<void>> res;
  st->commit(events("w", 2, 1), [&](Result<void> r) { res = r; });
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(res);
  EXPECT_FALSE(*res);
}

TEST(MemoryStore, RetentionDropsTheOldestByCountAndBytes) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {5, 1 << 20});
  st->commit(events("w", 1, 12), [](Result<void>) {});
  auto r = st->read_events("w", 0, 100);
  EXPECT_EQ(r->first_seq, 8u);
  EXPECT_EQ(r->events.size(), 5u);
  auto bytes = make_memory_store(io, {1000, 35});
  bytes->commit(events("w", 1, 10, 10), [](Result<void>) {});
  EXPECT_EQ(bytes->read_events("w", 0, 100)->events.size(), 3u);
  io.run_for(std::chrono::seconds(1));
}

TEST(MemoryStore, TranscriptPagesAndUnknownWorkers) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {});
  Commit c;
  c.worker_id = "w";
  for (std::uint64_t i = 0; i < 10; ++i) c.transcript.push_back({i, "{}"});
  st->commit(std::move(c), [](Result<void>) {});
  auto page = st->read_transcript("w", 8, 5);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].index, 8u);
  EXPECT_EQ(st->read_transcript("ghost", 0, 5).error().code, Code::worker_not_found);
  EXPECT_EQ(st->read_events("ghost", 0, 5).error().code, Code::worker_not_found);
  io.run_for(std::chrono::seconds(1));
}

TEST(MemoryStore, EachStartHasANewEpoch) {
  boost::asio::io_context io;
  auto a = make_memory_store(io, {})->open();
  auto b = make_memory_store(io, {})->open();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->epoch.empty());
  EXPECT_NE(a->epoch, b->epoch);
}

}  // namespace
}  // namespace yoi::store
