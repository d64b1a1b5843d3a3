// The Runtime over an fs store, reopened over the same directory: workers,
// transcripts and events come back, seq continues, the epoch is kept, a
// cursor issued before the restart still resumes, and a run cut short by the
// restart is closed as interrupted.

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "fs_test_util.hpp"
#include "yoi/runtime/runtime.hpp"

namespace yoi::store::test {
namespace {

using namespace yoi::rt;

class FsRuntimeRestoreTest : public ::testing::Test {
 protected:
  void open(RuntimeOptions opts = {}, FsOptions o = {}) {
    rt.reset();
    o.dir = dir.path() + "/rt";
    auto r = Runtime::open(io, std::move(opts), make_fs_store(io, o));
    ASSERT_TRUE(r) << r.error().message;
    rt = std::move(*r);
  }

  bool run_until(const std::function<bool()>& done) {
    return yoi::testing::run_until(io, done, std::chrono::seconds(15));
  }

  template <class T>
  Result<T> wait(const std::function<void(Callback<T>)>& start) {
    std::optional<Result<T>> out;
    start([&](Result<T> r) { out = std::move(r); });
    if (!run_until([&] { return out.has_value(); })) {
      ADD_FAILURE() << "operation did not complete within the deadline";
      return fail(Code::internal, "deadline");
    }
    return std::move(*out);
  }

  Result<WorkerDetail> create(const std::string& id) {
    CreateWorker req;
    req.worker_id = id;
    return wait<WorkerDetail>([&](auto cb) { rt->create(req, std::move(cb)); });
  }
  Result<InputAccepted> input(const std::string& id, const std::string& text) {
    return wait<InputAccepted>([&](auto cb) { rt->input(id, Input{text, std::nullopt}, std::move(cb)); });
  }
  bool wait_idle_with(const std::string& id, std::uint64_t transcript_total) {
    return run_until([&] {
      auto d = rt->detail(id);
      return d && d->record.status == WorkerStatus::idle && d->transcript_total == transcript_total;
    });
  }
  std::vector<std::string> events(const std::string& id, std::string cursor = "") {
    std::vector<std::string> out;
    for (;;) {
      auto page = rt->read_after(id, cursor, 1000);
      EXPECT_TRUE(page) << (page ? "" : page.error().message);
      if (!page || page->events.empty()) break;
      for (auto& e : page->events) out.push_back(e.json);
      cursor = page->cursor;
    }
    return out;
  }

  TempDir dir;
  boost::asio::io_context io;
  std::unique_ptr<Runtime> rt;
};

TEST_F(FsRuntimeRestoreTest, WorkersTranscriptEventsAndCursorsSurviveARestart) {
  open();
  EXPECT_EQ(rt->summary().store, "fs");
  ASSERT_TRUE(create("alpha"));
  ASSERT_TRUE(create("beta:2"));
  ASSERT_TRUE(input("alpha", "hello there"));
  ASSERT_TRUE(wait_idle_with("alpha", 2));
  ASSERT_TRUE(input("beta:2", "second worker"));
  ASSERT_TRUE(wait_idle_with("beta:2", 2));
  ASSERT_TRUE(input("alpha", "again"));
  ASSERT_TRUE(wait_idle_with("alpha", 4));

  const std::string epoch = rt->epoch();
  auto alpha_events = events("alpha");
  auto beta_events = events("beta:2");
  auto alpha_detail = *rt->detail("alpha");
  auto transcript = rt->transcript("alpha", 0, 100);
  ASSERT_TRUE(transcript);
  auto first3 = rt->read_after("alpha", "", 3);
  ASSERT_TRUE(first3);
  ASSERT_EQ(first3->events.size(), 3u);
  const std::string old_cursor = first3->cursor;

  ASSERT_TRUE(wait<void>([&](auto cb) { rt->flush(std::move(cb)); }));
  open();

  EXPECT_EQ(rt->epoch(), epoch);
  EXPECT_TRUE(rt->diagnostics().empty());
  auto list = rt->list(ListWorkers{});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->workers.size(), 2u);
  auto d = rt->detail("alpha");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::idle);
  EXPECT_EQ(d->last_seq, alpha_detail.last_seq);
  EXPECT_EQ(d->transcript_total, 4u);
  EXPECT_EQ(events("alpha"), alpha_events);
  EXPECT_EQ(events("beta:2"), beta_events);
  auto t2 = rt->transcript("alpha", 0, 100);
  ASSERT_TRUE(t2);
  ASSERT_EQ(t2->items.size(), transcript->items.size());
  for (std::size_t i = 0; i < t2->items.size(); ++i) {
    EXPECT_EQ(t2->items[i].content, transcript->items[i].content);
    EXPECT_EQ(t2->items[i].role, transcript->items[i].role);
  }

  // The cursor issued before the restart resumes right after seq 3.
  auto resumed = events("alpha", old_cursor);
  ASSERT_EQ(resumed.size(), alpha_events.size() - 3);
  EXPECT_EQ(resumed, std::vector<std::string>(alpha_events.begin() + 3, alpha_events.end()));

  // seq continues after the restart.
  auto acc = input("alpha", "after restart");
  ASSERT_TRUE(acc) << acc.error().message;
  EXPECT_EQ(acc->seq, alpha_detail.last_seq + 1);
  ASSERT_TRUE(wait_idle_with("alpha", 6));
}

TEST_F(FsRuntimeRestoreTest, RunCutShortByARestartComesBackInterrupted) {
  RuntimeOptions slow;
  engines::ProfileConfig p;
  p.echo_chunk_bytes = 1;
  p.echo_chunk_delay = std::chrono::milliseconds(20);
  slow.profiles.push_back(p);
  open(slow);
  ASSERT_TRUE(create("w"));
  ASSERT_TRUE(input("w", "a long enough message"));
  ASSERT_TRUE(run_until([&] {
    auto s = rt->snapshot("w");
    return s && s->in_flight && s->in_flight->text.size() >= 3;
  }));
  // Drop the runtime mid-run: what was committed is what a crash leaves.
  open(slow);
  auto d = rt->detail("w");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.status, WorkerStatus::idle);
  ASSERT_FALSE(rt->diagnostics().empty());
  ASSERT_TRUE(run_until([&] {
    auto evs = events("w");
    for (auto& e : evs) {
      auto o = boost::json::parse(e).as_object();
      if (o.at("type").as_string() == "run_finished" && o.at("result").as_string() == "failed")
        return true;
    }
    return false;
  })) << "no run_finished failed after restart";
  // And it survives another restart, with seqs still gap-free.
  ASSERT_TRUE(wait<void>([&](auto cb) { rt->flush(std::move(cb)); }));
  auto before = events("w");
  open(slow);
  EXPECT_EQ(events("w"), before);
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(boost::json::parse(before[i]).at("seq").to_number<std::uint64_t>(), i + 1);
}

// Issue 18: the run closed as interrupted at restart left no assistant item,
// so the transcript showed the input unanswered.
TEST_F(FsRuntimeRestoreTest, Issue18InterruptedRunLeavesAFailedAssistantItem) {
  RuntimeOptions slow;
  engines::ProfileConfig p;
  p.echo_chunk_bytes = 1;
  p.echo_chunk_delay = std::chrono::seconds(5);  // no text before the "crash"
  slow.profiles.push_back(p);
  open(slow);
  ASSERT_TRUE(create("w"));
  auto acc = input("w", "cut short");
  ASSERT_TRUE(acc) << acc.error().message;
  open(slow);  // drop the runtime mid-run
  ASSERT_TRUE(wait_idle_with("w", 2)) << "the interrupted run leaves its reply item";
  auto check = [&] {
    auto t = rt->transcript("w", 0, 10);
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_EQ(t->items.size(), 2u);
    EXPECT_EQ(t->items[0].role, "user");
    EXPECT_EQ(t->items[1].role, "assistant");
    EXPECT_EQ(t->items[1].run_id, acc->run_id);
    EXPECT_EQ(t->items[1].content, "");
    EXPECT_EQ(t->items[1].result, "failed");
    ASSERT_TRUE(t->items[1].error.has_value());
    EXPECT_EQ(t->items[1].error->code, Code::interrupted);
  };
  check();
  // As written to disk, too.
  ASSERT_TRUE(wait<void>([&](auto cb) { rt->flush(std::move(cb)); }));
  open(slow);
  check();
}

TEST_F(FsRuntimeRestoreTest, CursorBeforeRetainedSegmentsIsExpiredAcrossRestarts) {
  FsOptions small;
  small.segment_max_events = 16;
  small.retention.max_events = 40;
  open({}, small);
  ASSERT_TRUE(create("r"));
  auto first = rt->read_after("r", "", 1);
  ASSERT_TRUE(first);
  const std::string old_cursor = first->cursor;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(input("r", fmt::format("message number {} with some length", i)));
    ASSERT_TRUE(wait_idle_with("r", 2 * (i + 1)));
  }
  auto check = [&] {
    auto expired = rt->read_after("r", old_cursor, 10);
    ASSERT_FALSE(expired);
    EXPECT_EQ(expired.error().code, Code::cursor_expired) << expired.error().message;
    auto page = rt->read_after("r", "", 1000);
    ASSERT_TRUE(page);
    ASSERT_FALSE(page->events.empty());
    EXPECT_GT(page->events.front().seq, 1u);
    EXPECT_LE(page->events.size(), 40u + 16u);
    EXPECT_EQ(page->events.back().seq, page->last_seq);
  };
  check();
  open({}, small);
  check();
  auto t = rt->transcript("r", 0, 100);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->items.size(), 24u) << "the transcript is never trimmed";
}


TEST_F(FsRuntimeRestoreTest, DeletedWorkerStaysGoneAndItsCursorStaysUnknownAcrossARestart) {
  open();
  ASSERT_TRUE(create("w"));
  ASSERT_TRUE(create("keep"));
  ASSERT_TRUE(input("w", "hello"));
  ASSERT_TRUE(wait_idle_with("w", 2));
  ASSERT_TRUE(wait<WorkerDetail>([&](auto cb) { rt->stop("w", std::nullopt, std::move(cb)); }));
  auto old = rt->read_after("w", "", 1000);
  ASSERT_TRUE(old);
  auto removed = wait<void>([&](auto cb) { rt->remove("w", std::move(cb)); });
  ASSERT_TRUE(removed) << removed.error().message;
  ASSERT_TRUE(wait<void>([&](auto cb) { rt->flush(std::move(cb)); }));

  open();
  EXPECT_EQ(rt->detail("w").error().code, Code::worker_not_found) << "a deleted worker came back";
  EXPECT_TRUE(rt->detail("keep"));
  EXPECT_TRUE(rt->diagnostics().empty());
  ASSERT_TRUE(create("w"));
  ASSERT_TRUE(input("w", "a longer message, so the new log passes the old cursor"));
  ASSERT_TRUE(wait_idle_with("w", 2));
  ASSERT_TRUE(wait<void>([&](auto cb) { rt->flush(std::move(cb)); }));
  const std::string fresh_cursor = rt->snapshot("w")->cursor;

  open();  // the new worker's incarnation is durable too
  ASSERT_GT(rt->detail("w")->last_seq, old->last_seq);
  auto stale = rt->read_after("w", old->cursor, 1000);
  ASSERT_FALSE(stale) << "an old cursor read the new worker's events after a restart";
  EXPECT_EQ(stale.error().code, Code::cursor_unknown);
  EXPECT_TRUE(rt->read_after("w", fresh_cursor, 10)) << "the new worker's cursors survive the restart";
}

}  // namespace
}  // namespace yoi::store::test
