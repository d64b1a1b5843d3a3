#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
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
  auto bytes = make_memory_store(io, {1000, 35});
  bytes->commit(events("w", 1, 10, 10), [](Result<void>) {});
  io.run_for(std::chrono::seconds(1));
  auto r = st->read_events("w", 0, 100);
  EXPECT_EQ(r->first_seq, 8u);
  EXPECT_EQ(r->events.size(), 5u);
  EXPECT_EQ(r->events.front().seq, 8u);
  EXPECT_EQ(bytes->read_events("w", 0, 100)->events.size(), 3u);
}

TEST(MemoryStore, TranscriptPagesAndUnknownWorkers) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {});
  Commit c;
  c.worker_id = "w";
  for (std::uint64_t i = 0; i < 10; ++i) c.transcript.push_back({i, "{}"});
  st->commit(std::move(c), [](Result<void>) {});
  io.run_for(std::chrono::seconds(1));
  auto page = st->read_transcript("w", 8, 5);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].index, 8u);
  EXPECT_EQ(st->read_transcript("ghost", 0, 5).error().code, Code::worker_not_found);
  EXPECT_EQ(st->read_events("ghost", 0, 5).error().code, Code::worker_not_found);
}

// The core's path: a Log resolved once, events appended, durability told
// through the listener (never inline), readers never past the watermark.
TEST(MemoryStore, LogAppendsAreReportedByTheWatermarkListener) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {1000, 1 << 20});
  std::vector<std::pair<std::string, std::uint64_t>> told;
  st->set_durable_listener([&](Log& l, const Result<std::uint64_t>& r) {
    ASSERT_TRUE(r);
    told.emplace_back(l.worker_id(), *r);
  });
  auto a = st->log("a");
  auto b = st->log("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(st->log("a").value(), *a) << "one handle per worker";
  EXPECT_EQ(st->log("../x").error().code, Code::invalid_id);
  for (std::uint64_t s = 1; s <= 100; ++s) {
    (*a)->append(s, R"({"seq":1})");
    (*a)->commit();
  }
  (*b)->append(1, R"({"x":1})");
  (*b)->commit(std::string("{}"));
  EXPECT_TRUE(told.empty()) << "never inline";
  EXPECT_EQ(st->read_events("a", 0, 10).error().code, Code::worker_not_found)
      << "not readable before durable";
  io.run_for(std::chrono::seconds(1));
  ASSERT_EQ(told.size(), 2u) << "once per log per round, not per commit";
  EXPECT_EQ(told[0], std::make_pair(std::string("a"), std::uint64_t{100}));
  EXPECT_EQ(told[1], std::make_pair(std::string("b"), std::uint64_t{1}));
  EXPECT_EQ((*a)->durable_seq(), 100u);
  auto page = st->read_events("a", 90, 100);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), 10u);
  EXPECT_EQ(page->events[0].seq, 91u);
  EXPECT_EQ(page->events[0].json, R"({"seq":1})");
  // An open commit is not durable until commit().
  (*a)->append(101, R"({"seq":101})");
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(st->read_events("a", 0, 1000)->last_seq, 100u);
  (*a)->commit();
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(st->read_events("a", 0, 1000)->last_seq, 101u);
}

TEST(MemoryStore, ARefusedCommitChangesNothingAndIsReported) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {1000, 1 << 20});
  int failures = 0;
  st->set_durable_listener([&](Log&, const Result<std::uint64_t>& r) { failures += !r; });
  Log& l = *st->log("w").value();
  l.append(1, "{}");
  l.commit();
  l.append(2, "{}");
  l.append(4, "{}");  // a gap
  std::optional<Result<void>> res;
  l.commit(std::nullopt, [&](Result<void> r) { res = r; });
  io.run_for(std::chrono::seconds(1));
  ASSERT_TRUE(res);
  EXPECT_FALSE(*res);
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(l.last_seq(), 1u);
  l.append(2, R"({"ok":2})");
  l.commit();
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  auto page = st->read_events("w", 0, 10);
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[1].json, R"({"ok":2})");
}

// Retention across chunk boundaries: big events, count and byte limits.
TEST(MemoryStore, RetentionAcrossChunks) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {500, 1 << 20});
  Log& l = *st->log("w").value();
  for (std::uint64_t s = 1; s <= 3000; ++s) {
    l.append(s, fmt::format(R"({{"seq":{},"pad":"{}"}})", s, std::string(s % 700, 'p')));
    l.commit();
  }
  io.run_for(std::chrono::seconds(1));
  auto page = st->read_events("w", 0, 10'000);
  ASSERT_TRUE(page);
  std::size_t bytes = 0;
  for (const auto& e : page->events) bytes += e.json.size();
  EXPECT_LE(page->events.size(), 500u);
  EXPECT_LE(bytes, std::size_t{1} << 20);
  EXPECT_EQ(page->events.back().seq, 3000u);
  EXPECT_EQ(page->first_seq, page->events.front().seq);
  for (std::size_t i = 0; i < page->events.size(); ++i) {
    std::uint64_t s = page->first_seq + i;
    ASSERT_EQ(page->events[i].seq, s);
    ASSERT_EQ(page->events[i].json, fmt::format(R"({{"seq":{},"pad":"{}"}})", s, std::string(s % 700, 'p')));
  }
  auto mid = st->read_events("w", 2900, 7);
  ASSERT_EQ(mid->events.size(), 7u);
  EXPECT_EQ(mid->events[0].seq, 2901u);
}

TEST(MemoryStore, EachStartHasANewEpoch) {
  boost::asio::io_context io;
  auto a = make_memory_store(io, {})->open();
  auto b = make_memory_store(io, {})->open();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->epoch.empty());
  EXPECT_NE(a->epoch, b->epoch);
}


TEST(MemoryStore, RemoveForgetsTheWorkerAfterItsCommitsAndFreesTheId) {
  boost::asio::io_context io;
  auto st = make_memory_store(io, {});
  ASSERT_TRUE(st->open());
  std::vector<std::string> order;
  int reports = 0;
  st->set_durable_listener([&](Log& log, const Result<std::uint64_t>&) {
    ++reports;
    EXPECT_EQ(log.worker_id(), "w") << "a removed log may still be reported, and must be alive then";
  });
  st->commit(events("w", 1, 3), [&](Result<void> r) { EXPECT_TRUE(r); order.push_back("commit"); });
  st->remove("w", [&](Result<void> r) { EXPECT_TRUE(r); order.push_back("remove"); });
  st->commit(events("w", 1, 1), [&](Result<void> r) { EXPECT_TRUE(r); order.push_back("new"); });
  io.run_for(std::chrono::seconds(2));
  EXPECT_EQ(order, (std::vector<std::string>{"commit", "remove", "new"}));
  EXPECT_GE(reports, 1);
  auto r = st->read_events("w", 0, 10);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 1u) << "only the new worker's event";
  EXPECT_EQ(r->last_seq, 1u);

  std::optional<Result<void>> unknown;
  st->remove("nobody", [&](Result<void> x) { unknown = x; });
  io.restart();
  io.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(unknown);
  ASSERT_FALSE(*unknown);
  EXPECT_EQ(unknown->error().code, Code::worker_not_found);
}

}  // namespace
}  // namespace yoi::store
