#include <cstdlib>
#include <filesystem>
#include <set>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "yoi/ids.hpp"
#include "yoi/store/fs_store.hpp"

#include "harness.hpp"

#include "yoi/profiles/bundle.hpp"
#include "yoi/testing/temp_dir.hpp"

namespace yoi::rt::test {
namespace {

namespace bj = boost::json;

TEST(Runtime, LifecycleProducesTheDocumentedEventSequence) {
  Harness h;
  auto w = h.create_id("alpha");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->record.status, WorkerStatus::idle);
  EXPECT_EQ(w->runtime_id, "local");
  auto acc = h.input("alpha", "hello world");
  ASSERT_TRUE(acc) << acc.error().message;
  EXPECT_FALSE(acc->duplicate);
  ASSERT_TRUE(h.wait_status("alpha", WorkerStatus::idle));
  ASSERT_TRUE(h.run_until([&] { return h.rt->detail("alpha")->transcript_total == 2; }));

  auto evs = h.events("alpha");
  auto types = types_of(evs);
  std::vector<std::string> head{"worker_created", "input_accepted", "status", "run_started"};
  ASSERT_GE(types.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(types.begin(), types.begin() + 4), head);
  std::vector<std::string> tail{"usage", "text_done", "run_finished", "status"};
  EXPECT_EQ(std::vector<std::string>(types.end() - 4, types.end()), tail);
  std::string streamed;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    EXPECT_EQ(evs[i].at("seq").to_number<std::uint64_t>(), i + 1) << "seq must be 1, 2, 3 ... with no gaps";
    if (types[i] == "text_delta") streamed += evs[i].at("delta").as_string();
  }
  EXPECT_EQ(streamed, "echo: hello world");
  EXPECT_EQ(evs.back().at("status").as_string(), "idle");
  EXPECT_EQ(evs[evs.size() - 2].at("result").as_string(), "completed");

  auto t = h.rt->transcript("alpha", 0, 10);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[0].role, "user");
  EXPECT_EQ(t->items[0].content, "hello world");
  EXPECT_EQ(t->items[1].role, "assistant");
  EXPECT_EQ(t->items[1].content, "echo: hello world");
  EXPECT_EQ(t->items[1].result, "completed");
  EXPECT_EQ(h.rt->summary().worker_counts.at("total"), 1u);
}

// Concurrent puts of one bundle store it once: the first answers created,
// the second (in flight at the same time) not; a full runtime drops only an
// unused bundle, never one a worker is pinned to.
TEST(RuntimeBundles, ConcurrentPutsStoreOnceAndGcSparesBundlesInUse) {
  RuntimeOptions o;
  o.max_bundles = 1;
  Harness h(o);
  auto bundle = [](int steps) {
    auto profiles = bj::object{{"p", bj::object{{"engine", "echo"}, {"max_steps", steps}}}};
    return std::pair(yoi::profiles::digest(profiles), bj::value(bj::object{{"profiles", profiles}}));
  };
  auto [d1, b1] = bundle(1);
  std::vector<Result<BundlePut>> puts;
  h.rt->put_bundle(d1, b1, [&](Result<BundlePut> r) { puts.push_back(std::move(r)); });
  h.rt->put_bundle(d1, b1, [&](Result<BundlePut> r) { puts.push_back(std::move(r)); });
  ASSERT_TRUE(h.run_until([&] { return puts.size() == 2; }));
  ASSERT_TRUE(puts[0] && puts[1]);
  EXPECT_TRUE(puts[0]->created);
  EXPECT_FALSE(puts[1]->created);
  EXPECT_EQ(h.rt->bundles().size(), 1u);

  // Pinned: a second bundle does not fit while the first is in use.
  CreateWorker c;
  c.worker_id = "pinned";
  c.profile = "p";
  c.config_bundle = bj::object{{"digest", d1}};
  std::optional<Result<WorkerDetail>> made;
  h.rt->create(std::move(c), [&](Result<WorkerDetail> r) { made = std::move(r); });
  ASSERT_TRUE(h.run_until([&] { return made.has_value(); }));
  ASSERT_TRUE(*made) << (*made).error().message;
  auto [d2, b2] = bundle(2);
  std::optional<Result<BundlePut>> full;
  h.rt->put_bundle(d2, b2, [&](Result<BundlePut> r) { full = std::move(r); });
  ASSERT_TRUE(h.run_until([&] { return full.has_value(); }));
  ASSERT_FALSE(*full);
  EXPECT_EQ(full->error().code, Code::limit_exceeded);
  EXPECT_EQ(h.rt->bundles().at(0).digest, d1);
}

TEST(Runtime, GeneratedIdsAreValidAndDistinct) {
  Harness h;
  auto a = h.create();
  auto b = h.create();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(is_valid_id(a->record.worker_id));
  EXPECT_NE(a->record.worker_id, b->record.worker_id);
}

TEST(Runtime, CreateRejectsExistingIdsBadIdsAndUnknownProfiles) {
  Harness h;
  ASSERT_TRUE(h.create_id("dup"));
  auto again = h.create_id("dup");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::worker_exists);
  for (std::string bad : std::vector<std::string>{"../etc", "a/b", "", std::string(121, 'a'), "-lead", "a b", "é"}) {
    auto r = h.create_id(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::invalid_id) << bad;
  }
  EXPECT_TRUE(h.create_id(std::string(120, 'a')));
  CreateWorker req;
  req.profile = "nope";
  auto r = h.create(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::invalid_request);
  EXPECT_EQ(h.rt->summary().worker_counts.at("total"), 2u) << "failed creates change nothing";
}

// Regression (issue 18, item 11): "unknown profile 'x'" did not say which
// profiles exist. The list is bounded: 20 names at most, then "…".
TEST(Runtime, Issue18UnknownProfileErrorListsTheProfiles) {
  RuntimeOptions two;
  engines::ProfileConfig fast;
  fast.name = "fast";
  two.profiles.push_back(fast);
  Harness h(two);
  CreateWorker req;
  req.profile = "nope";
  auto r = h.create(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::invalid_request);
  EXPECT_EQ(r.error().message, "unknown profile 'nope' (profiles: fast, runtime_default)");

  RuntimeOptions many;
  for (int i = 0; i < 30; ++i) {
    engines::ProfileConfig p;
    p.name = fmt::format("p{:02}", i);
    many.profiles.push_back(p);
  }
  Harness big(many);
  auto m = big.create(req);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("p00, p01"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("p19, …)"), std::string::npos) << m.error().message;
  EXPECT_EQ(m.error().message.find("p20"), std::string::npos) << m.error().message;
  EXPECT_LE(m.error().message.size(), 300u) << "yoi-server passes at most 300 characters through";
}

TEST(Runtime, InputWhileRunningIsBusy) {
  Harness h(slow_echo(std::chrono::milliseconds(20)));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "a fairly long message to echo"));
  auto busy = h.input("w", "second");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Code::worker_busy);
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  EXPECT_TRUE(h.input("w", "third")) << "usable again after the run ends";
}

TEST(Runtime, ResendingAClientMessageIdReturnsTheFirstAcceptance) {
  Harness h(slow_echo(std::chrono::milliseconds(5)));
  ASSERT_TRUE(h.create_id("w"));
  auto first = h.input("w", "hi", "msg-1");
  ASSERT_TRUE(first);
  auto again = h.input("w", "hi", "msg-1");  // while the run is still going
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->run_id, first->run_id);
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto later = h.input("w", "hi", "msg-1");  // after it ended
  ASSERT_TRUE(later);
  EXPECT_TRUE(later->duplicate);
  auto types = types_of(h.events("w"));
  EXPECT_EQ(std::count(types.begin(), types.end(), "run_started"), 1);
  EXPECT_EQ(h.rt->transcript("w", 0, 10)->total, 2u);
  auto evs = h.events("w");
  EXPECT_EQ(evs[1].at("client_message_id").as_string(), "msg-1") << "the id is echoed in events";
}

// The window keeps the latest `dedupe_window` ids, oldest out first: an id
// pushed out starts a new run again; one still inside is a duplicate.
TEST(Runtime, TheDedupeWindowForgetsTheOldestIdFirst) {
  auto o = slow_echo(std::chrono::milliseconds(1));
  o.limits.dedupe_window = 2;
  Harness h(o);
  ASSERT_TRUE(h.create_id("w"));
  std::string first_run;
  for (const char* id : {"m-1", "m-2", "m-3"}) {
    auto a = h.input("w", "hi", id);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_FALSE(a->duplicate) << id;
    if (first_run.empty()) first_run = a->run_id;
    ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  }
  auto kept = h.input("w", "hi", "m-3");
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->duplicate) << "m-3 is inside the window";
  auto forgotten = h.input("w", "hi", "m-1");
  ASSERT_TRUE(forgotten) << forgotten.error().message;
  EXPECT_FALSE(forgotten->duplicate) << "m-1 was pushed out by m-2 and m-3";
  EXPECT_NE(forgotten->run_id, first_run);
}

TEST(Runtime, CancelMidStreamKeepsThePartialReplyAndLeavesTheWorkerUsable) {
  Harness h(slow_echo(std::chrono::milliseconds(10), 1));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "a message long enough to be interrupted"));
  ASSERT_TRUE(h.run_until([&] {
    auto s = h.rt->snapshot("w");
    return s && s->in_flight && s->in_flight->text.size() >= 4;
  }));
  auto c = h.cancel("w");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->cancelled);
  EXPECT_EQ(h.rt->detail("w")->record.status, WorkerStatus::idle);
  auto evs = h.events("w");
  auto types = types_of(evs);
  auto fin = std::find(types.begin(), types.end(), "run_finished") - types.begin();
  ASSERT_LT(fin, static_cast<long>(types.size()));
  EXPECT_EQ(evs[fin].at("result").as_string(), "cancelled");
  std::string partial(evs[fin - 1].at("text").as_string());
  EXPECT_GE(partial.size(), 4u);
  EXPECT_LT(partial.size(), std::string("echo: a message long enough to be interrupted").size());
  auto t = h.rt->transcript("w", 0, 10);
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[1].content, partial);
  EXPECT_EQ(t->items[1].result, "cancelled");
  // No more deltas arrive after the cancel.
  auto count = evs.size();
  h.run_until([] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(h.events("w").size(), count);
  // Usable again.
  ASSERT_TRUE(h.input("w", "again"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
}

// Issue 18: a run cancelled before any text left no assistant item, so the
// transcript showed the input unanswered.
TEST(Runtime, Issue18CancelBeforeAnyTextLeavesACancelledAssistantItem) {
  Harness h(slow_echo(std::chrono::seconds(5)));  // the first delta is 5 s away
  ASSERT_TRUE(h.create_id("w"));
  auto acc = h.input("w", "never answered");
  ASSERT_TRUE(acc) << acc.error().message;
  auto c = h.cancel("w");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->cancelled);
  auto t = h.rt->transcript("w", 0, 10);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->total, 2u);
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[0].role, "user");
  EXPECT_EQ(t->items[1].role, "assistant");
  EXPECT_EQ(t->items[1].run_id, acc->run_id);
  EXPECT_EQ(t->items[1].content, "");
  EXPECT_EQ(t->items[1].result, "cancelled");
  EXPECT_FALSE(t->items[1].error.has_value());
  auto s = h.rt->snapshot("w");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->transcript_tail.size(), 2u);
  EXPECT_EQ(s->transcript_tail[1].result, "cancelled");
  // The empty reply is not shown to the engine: the next run still works.
  ASSERT_TRUE(h.cancel("w"));
  auto again = h.input("w", "again");
  ASSERT_TRUE(again);
  ASSERT_TRUE(h.cancel("w"));
  EXPECT_EQ(h.rt->transcript("w", 0, 10)->total, 4u);
}

TEST(Runtime, CancelWithNothingRunningSucceedsAndSaysSo) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  auto c = h.cancel("w");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->cancelled);
  EXPECT_EQ(h.events("w").size(), 1u) << "nothing was appended";
  auto missing = h.cancel("ghost");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::worker_not_found);
}

TEST(Runtime, StopDuringARunCancelsItAndIsTerminal) {
  Harness h(slow_echo(std::chrono::milliseconds(10), 1));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "long running message"));
  ASSERT_TRUE(h.run_until([&] { return h.rt->snapshot("w")->in_flight.has_value(); }));
  auto s = h.stop("w");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->record.status, WorkerStatus::stopped);
  auto types = types_of(h.events("w"));
  ASSERT_GE(types.size(), 4u);
  EXPECT_EQ(types.back(), "worker_stopped");
  EXPECT_EQ(types[types.size() - 2], "status");
  EXPECT_EQ(types[types.size() - 3], "run_finished");
  auto in = h.input("w", "more");
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().code, Code::worker_stopped);
  auto n = types.size();
  auto again = h.stop("w");
  ASSERT_TRUE(again) << "stop is idempotent";
  EXPECT_EQ(h.events("w").size(), n);
  auto c = h.cancel("w");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->cancelled);
}

TEST(Runtime, TranscriptPagingIsBounded) {
  RuntimeOptions o;
  o.limits.max_page = 5;
  Harness h(o);
  ASSERT_TRUE(h.create_id("w"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(h.input("w", "m" + std::to_string(i)));
    ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  }
  ASSERT_TRUE(h.run_until([&] { return h.rt->transcript("w", 0, 1)->total == 12; }));
  auto p = h.rt->transcript("w", 0, 1000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->items.size(), 5u) << "limit is clamped to max_page";
  EXPECT_EQ(p->next, 5u);
  auto last = h.rt->transcript("w", 10, 5);
  EXPECT_EQ(last->items.size(), 2u);
  EXPECT_FALSE(last->next);
  EXPECT_EQ(last->items[0].index, 10u);
  auto beyond = h.rt->transcript("w", 50, 5);
  ASSERT_TRUE(beyond);
  EXPECT_TRUE(beyond->items.empty());
  EXPECT_EQ(beyond->total, 12u);
}

TEST(Runtime, ReadAfterResumesStrictlyAfterTheCursor) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "one two three"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto all = h.rt->read_after("w", "", 1000);
  ASSERT_TRUE(all);
  ASSERT_GE(all->events.size(), 5u);
  for (std::size_t k : {0ul, 2ul, all->events.size() - 1}) {
    auto page = h.rt->read_after("w", all->events[k].cursor, 1000);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->events.size(), all->events.size() - k - 1);
    if (!page->events.empty()) {
      EXPECT_EQ(page->events.front().seq, all->events[k].seq + 1);
    }
  }
  // At the end: empty page, cursor unchanged, valid for later.
  auto end = h.rt->read_after("w", all->cursor, 10);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->events.empty());
  ASSERT_TRUE(h.input("w", "later"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto more = h.rt->read_after("w", end->cursor, 1000);
  ASSERT_TRUE(more);
  ASSERT_FALSE(more->events.empty());
  EXPECT_EQ(more->events.front().seq, all->events.back().seq + 1);
  // Paging with a small limit walks the whole log without gaps.
  std::string c;
  std::uint64_t expect = 1;
  for (;;) {
    auto p = h.rt->read_after("w", c, 3);
    ASSERT_TRUE(p);
    if (p->events.empty()) break;
    for (auto& e : p->events) EXPECT_EQ(e.seq, expect++);
    c = p->cursor;
  }
  EXPECT_EQ(expect - 1, h.rt->detail("w")->last_seq);
}

TEST(Runtime, CursorErrorsAreTyped) {
  RuntimeOptions o;
  o.limits.retention_events = 4;
  Harness h(o);
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.create_id("other"));
  auto start = h.rt->cursor_for("w", 1);
  ASSERT_TRUE(h.input("w", "enough text for many events"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto expired = h.rt->read_after("w", start, 10);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Code::cursor_expired);

  auto future = h.rt->read_after("w", h.rt->cursor_for("w", 10'000), 10);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, Code::cursor_unknown);

  Harness other_epoch;
  ASSERT_TRUE(other_epoch.create_id("w"));
  auto foreign = h.rt->read_after("w", other_epoch.rt->cursor_for("w", 1), 10);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, Code::cursor_unknown);

  auto wrong_worker = h.rt->read_after("w", h.rt->cursor_for("other", 1), 10);
  ASSERT_FALSE(wrong_worker);
  EXPECT_EQ(wrong_worker.error().code, Code::cursor_invalid);

  for (std::string bad : std::vector<std::string>{"garbage", "r1..x.1", "r1.abc.000000000000.-1", "r1.abc.000000000000.1x",
                          std::string(500, 'r')}) {
    auto r = h.rt->read_after("w", bad, 10);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::cursor_invalid) << bad;
  }
  // Without a cursor, reading starts at the oldest retained event.
  auto oldest = h.rt->read_after("w", "", 10);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->events.size(), 4u);
}

TEST(Runtime, SnapshotShowsTheInFlightReplyAsOfItsCursor) {
  Harness h(slow_echo(std::chrono::milliseconds(10), 1));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "watch me"));
  ASSERT_TRUE(h.run_until([&] {
    auto s = h.rt->snapshot("w");
    return s && s->in_flight && s->in_flight->text.size() >= 3;
  }));
  auto s = h.rt->snapshot("w");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->detail.record.status, WorkerStatus::running);
  ASSERT_EQ(s->transcript_tail.size(), 1u);
  EXPECT_EQ(s->transcript_tail[0].content, "watch me");
  // The in-flight text is exactly the deltas up to the snapshot's cursor.
  auto page = h.rt->read_after("w", "", 1000);
  std::string upto;
  for (auto& e : page->events) {
    if (e.seq > s->seq) break;
    auto ev = bj::parse(e.json).as_object();
    if (ev.at("type") == "text_delta") upto += ev.at("delta").as_string();
  }
  EXPECT_EQ(s->in_flight->text, upto);
  auto after = h.rt->read_after("w", s->cursor, 1000);
  ASSERT_TRUE(after);
  if (!after->events.empty()) {
    EXPECT_EQ(after->events.front().seq, s->seq + 1);
  }
}

// A snapshot's transcript tail is the newest items that fit the byte
// budget: a worker with big replies still has a small snapshot (issue 22:
// three 4.8 MB replies made a 14 MB snapshot frame, past yoi-server's 8 MiB
// upstream frame limit, and its clients never got one).
TEST(Runtime, SnapshotTailIsTheNewestItemsWithinItsByteBudget) {
  auto opts = slow_echo(std::chrono::milliseconds(0), 64);
  opts.limits.snapshot_transcript_bytes = 100;
  Harness h(std::move(opts));
  ASSERT_TRUE(h.create_id("w"));
  for (const std::string& content : {std::string(10, 'a'), std::string(200, 'b'), std::string(30, 'c')}) {
    ASSERT_TRUE(h.input("w", content));
    ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  }
  // Newest first: "echo: ccc…" (36), "ccc…" (30) fit in 100; the 206-byte
  // reply does not, and ends the tail.
  auto s = h.rt->snapshot("w");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->transcript_tail.size(), 2u);
  EXPECT_EQ(s->transcript_tail[0].content, std::string(30, 'c'));
  EXPECT_EQ(s->transcript_tail[1].content, "echo: " + std::string(30, 'c'));
  EXPECT_EQ(s->detail.transcript_total, 6u);
  // An item bigger than the whole budget: nothing before it either.
  ASSERT_TRUE(h.input("w", std::string(150, 'd')));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  s = h.rt->snapshot("w");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->transcript_tail.empty());
}

// A model is untrusted input: its reply stops at max_reply_bytes, cut on a
// character's boundary, and the run fails with payload_too_large; every
// event and item carrying the reply stays within the bound, and the worker
// takes the next input (without the bound, a reply over yoi-server's 8 MiB
// upstream frame limit stalled every observer of the worker).
TEST(Runtime, AReplyPastMaxReplyBytesEndsTheRunAtTheBound) {
  auto opts = slow_echo(std::chrono::milliseconds(0), 7);
  opts.limits.max_reply_bytes = 1024;
  Harness h(std::move(opts));
  ASSERT_TRUE(h.create_id("w"));
  // "echo: x" and 600 two-byte characters: 1,207 bytes; the bound falls
  // inside the 509th character, which is left out.
  std::string content = "x";
  for (int i = 0; i < 600; ++i) content += "\xc3\xa9";
  const std::string reply = "echo: " + content;
  ASSERT_TRUE(h.input("w", content));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  const std::string kept = reply.substr(0, 1023);
  auto page = h.rt->read_after("w", "", 1000);
  ASSERT_TRUE(page);
  std::string streamed, done;
  bj::object finished;
  for (const auto& e : page->events) {
    auto ev = bj::parse(e.json).as_object();
    if (ev.at("type") == "text_delta") streamed += ev.at("delta").as_string();
    if (ev.at("type") == "text_done") done = ev.at("text").as_string();
    if (ev.at("type") == "run_finished") finished = ev;
  }
  EXPECT_EQ(streamed, kept);
  EXPECT_EQ(done, kept);
  ASSERT_FALSE(finished.empty());
  EXPECT_EQ(finished.at("result"), "failed");
  EXPECT_EQ(finished.at("error").at("code"), "payload_too_large");
  auto t = h.rt->transcript("w", 0, 10);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[1].content, kept);
  EXPECT_EQ(t->items[1].result, "failed");
  // A reply within the bound is whole.
  ASSERT_TRUE(h.input("w", "short"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  t = h.rt->transcript("w", 0, 10);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->items.size(), 4u);
  EXPECT_EQ(t->items[3].content, "echo: short");
  EXPECT_EQ(t->items[3].result, "completed");
}

// text_delta events are serialised by hand on the hot path: they must be
// the very bytes the JSON DOM path writes for the same fields, escapes
// included.
TEST(Runtime, TextDeltaJsonIsWhatTheDomWouldWrite) {
  Harness h(slow_echo(std::chrono::milliseconds(0), 1));
  ASSERT_TRUE(h.create_id("w"));
  const std::string content = "q\"b\\s/n\nt\tc\x01\x1f e\xc3\xa9 \xf0\x9f\x99\x82 <&>";
  ASSERT_TRUE(h.input("w", content));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto page = h.rt->read_after("w", "", 1000);
  ASSERT_TRUE(page);
  std::string streamed;
  int deltas = 0;
  for (const auto& e : page->events) {
    auto ev = bj::parse(e.json).as_object();
    if (ev.at("type") != "text_delta") continue;
    ++deltas;
    bj::object dom;
    dom["type"] = "text_delta";
    dom["seq"] = e.seq;
    dom["time"] = ev.at("time");
    dom["run_id"] = ev.at("run_id");
    dom["delta"] = ev.at("delta");
    EXPECT_EQ(e.json, bj::serialize(dom));
    streamed += ev.at("delta").as_string();
  }
  EXPECT_GT(deltas, 10);
  EXPECT_EQ(streamed, "echo: " + content);
}

// Under a store whose durability lags (fs, fsync always), every snapshot
// taken mid-run shows exactly the deltas up to its cursor, and nothing
// beyond the durable watermark is readable.
TEST(Runtime, SnapshotsStayConsistentWhileDurabilityLags) {
  yoi::testing::TempDir tmp("rt-lag");
  std::string dir = tmp.path.string();
  Harness h;  // for its io_context and deadline loop
  // A second runtime on the same io_context, over an fs store.
  store::FsOptions fo;
  fo.dir = dir;
  auto opened = Runtime::open(h.io, slow_echo(std::chrono::milliseconds(1), 1), store::make_fs_store(h.io, fo));
  ASSERT_TRUE(opened) << opened.error().message;
  auto& rt = **opened;
  std::optional<Result<WorkerDetail>> created;
  CreateWorker req;
  req.worker_id = "w";
  rt.create(req, [&](Result<WorkerDetail> r) { created = std::move(r); });
  ASSERT_TRUE(h.run_until([&] { return created.has_value(); }));
  ASSERT_TRUE(*created);
  std::optional<Result<InputAccepted>> accepted;
  rt.input("w", Input{std::string(60, 'x'), std::nullopt}, [&](Result<InputAccepted> r) { accepted = std::move(r); });
  int checked = 0;
  ASSERT_TRUE(h.run_until([&] {
    auto s = rt.snapshot("w");
    EXPECT_TRUE(s);
    if (!s) return true;
    auto page = rt.read_after("w", "", 1000);
    EXPECT_TRUE(page);
    if (!page) return true;
    for (auto& e : page->events) EXPECT_LE(e.seq, s->seq) << "nothing past the published seq is readable";
    if (s->in_flight) {
      std::string upto;
      for (auto& e : page->events) {
        if (e.seq > s->seq) break;
        auto ev = bj::parse(e.json).as_object();
        if (ev.at("type") == "text_delta") upto += ev.at("delta").as_string();
      }
      EXPECT_EQ(s->in_flight->text, upto) << "at seq " << s->seq;
      ++checked;
    }
    return s->detail.record.status == WorkerStatus::idle && accepted.has_value();
  }, std::chrono::seconds(30)));
  ASSERT_TRUE(*accepted);
  EXPECT_GT(checked, 0);
  auto snap = rt.snapshot("w");
  ASSERT_TRUE(snap);
  EXPECT_FALSE(snap->in_flight);
  ASSERT_EQ(snap->transcript_tail.size(), 2u);
  EXPECT_EQ(snap->transcript_tail[1].content, "echo: " + std::string(60, 'x'));
  opened->reset();
}

TEST(Runtime, SubscribersAreWokenAfterAppendsAndNotAfterUnsubscribing) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  int wakes = 0;
  auto sub = h.rt->subscribe("w", [&] { ++wakes; });
  ASSERT_TRUE(sub);
  ASSERT_TRUE(h.input("w", "ping"));
  ASSERT_TRUE(h.run_until([&] { return wakes > 0; }));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  sub->reset();
  int before = wakes;
  ASSERT_TRUE(h.input("w", "pong"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  EXPECT_EQ(wakes, before);
  auto missing = h.rt->subscribe("ghost", [] {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::worker_not_found);
}

TEST(Runtime, InputValidation) {
  RuntimeOptions o;
  o.limits.max_content_bytes = 16;
  Harness h(o);
  ASSERT_TRUE(h.create_id("w"));
  auto empty = h.input("w", "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Code::invalid_request);
  auto big = h.input("w", std::string(17, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Code::payload_too_large);
  auto bad_id = h.input("../w", "x");
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code, Code::invalid_id);
  auto missing = h.input("ghost", "x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::worker_not_found);
  EXPECT_EQ(h.events("w").size(), 1u) << "rejected input appends nothing";
}

TEST(Runtime, ListIsPagedAndFiltered) {
  Harness h;
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(h.create_id(fmt::format("w{:02}", i)));
  ASSERT_TRUE(h.stop("w03"));
  std::set<std::string> seen;
  ListWorkers req;
  req.limit = 10;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = h.rt->list(req);
    ASSERT_TRUE(page);
    for (auto& w : page->workers) EXPECT_TRUE(seen.insert(w.record.worker_id).second);
    if (!page->next) break;
    req.after = page->next;
  }
  EXPECT_EQ(seen.size(), 25u);
  ListWorkers stopped;
  stopped.status = WorkerStatus::stopped;
  auto s = h.rt->list(stopped);
  ASSERT_EQ(s->workers.size(), 1u);
  EXPECT_EQ(s->workers[0].record.worker_id, "w03");
  ListWorkers bad;
  bad.after = "../x";
  EXPECT_FALSE(h.rt->list(bad));
}

TEST(Runtime, TenThousandWorkers) {
  Harness h;
  int created = 0;
  for (int i = 0; i < 10'000; ++i) {
    CreateWorker req;
    req.worker_id = fmt::format("worker-{}", i);
    h.rt->create(req, [&](Result<WorkerDetail> r) { created += r.has_value(); });
  }
  ASSERT_TRUE(h.run_until([&] { return created == 10'000; }));
  EXPECT_EQ(h.rt->summary().worker_counts.at("total"), 10'000u);
  ASSERT_TRUE(h.input("worker-9999", "still responsive"));
  ASSERT_TRUE(h.wait_status("worker-9999", WorkerStatus::idle));
  EXPECT_EQ(h.rt->detail("worker-5000")->record.worker_id, "worker-5000");
}

TEST(Runtime, MaxWorkersIsATypedLimit) {
  RuntimeOptions o;
  o.limits.max_workers = 2;
  Harness h(o);
  ASSERT_TRUE(h.create());
  ASSERT_TRUE(h.create());
  auto third = h.create();
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, Code::limit_exceeded);
}

TEST(Runtime, HistoryIsBoundedByTheProfile) {
  // The echo reply only depends on the last message, but the engine sees the
  // conversation: check the core passes history by running two turns.
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "first"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  ASSERT_TRUE(h.input("w", "second"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  auto evs = h.events("w");
  std::vector<std::uint64_t> usage_in;
  for (auto& e : evs)
    if (e.at("type") == "usage") usage_in.push_back(e.at("input_tokens").to_number<std::uint64_t>());
  ASSERT_EQ(usage_in.size(), 2u);
  EXPECT_GT(usage_in[1], usage_in[0]) << "the second turn carries the first as history";
}


// ---- deleting workers (ARCHITECTURE §17) ----

TEST(DeleteWorker, RefusesIdleAndRunningWorkersWithWorkerNotStopped) {
  Harness h(slow_echo(std::chrono::milliseconds(20), 1));
  ASSERT_TRUE(h.create_id("w"));
  auto idle = h.remove("w");
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error().code, Code::worker_not_stopped);
  ASSERT_TRUE(h.input("w", "a long enough message"));
  auto running = h.remove("w");
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error().code, Code::worker_not_stopped);
  // Refused means unchanged: the worker and its run go on.
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  EXPECT_EQ(h.rt->transcript("w", 0, 10)->total, 2u);
  auto unknown = h.remove("nobody");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::worker_not_found);
  auto bad = h.remove("../x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::invalid_id);
}

TEST(DeleteWorker, RemovesAStoppedWorkerAndFreesItsId) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.create_id("other"));
  ASSERT_TRUE(h.input("w", "hello"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  ASSERT_TRUE(h.stop("w"));
  auto r = h.remove("w");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(h.rt->detail("w").error().code, Code::worker_not_found);
  EXPECT_EQ(h.rt->read_after("w", "", 10).error().code, Code::worker_not_found);
  EXPECT_EQ(h.rt->summary().worker_counts.at("total"), 1u);
  auto again = h.remove("w");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::worker_not_found);

  auto fresh = h.create_id("w");
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(fresh->record.status, WorkerStatus::idle);
  EXPECT_EQ(h.rt->transcript("w", 0, 10)->total, 0u) << "the old transcript is gone";
  auto types = types_of(h.events("w"));
  ASSERT_EQ(types.size(), 1u) << "the new worker's log starts afresh";
  EXPECT_EQ(types[0], "worker_created");
}

TEST(DeleteWorker, DeleteRightAfterStopWaitsForTheStopAndAnswersBoth) {
  Harness h(slow_echo(std::chrono::milliseconds(10), 1));
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "long running message"));
  std::optional<Result<WorkerDetail>> stopped;
  std::optional<Result<void>> removed;
  h.rt->stop("w", std::nullopt, [&](Result<WorkerDetail> r) { stopped = std::move(r); });
  h.rt->remove("w", [&](Result<void> r) { removed = std::move(r); });
  ASSERT_TRUE(h.run_until([&] { return stopped && removed; }));
  EXPECT_TRUE(*stopped);
  EXPECT_TRUE(*removed) << removed->error().message;
  EXPECT_EQ(h.rt->detail("w").error().code, Code::worker_not_found);
}

TEST(DeleteWorker, SubscribersAreWokenAndFindTheWorkerGone) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.stop("w"));
  int woken = 0;
  auto sub = h.rt->subscribe("w", [&] { ++woken; });
  ASSERT_TRUE(sub);
  ASSERT_TRUE(h.remove("w"));
  EXPECT_GE(woken, 1);
  EXPECT_EQ(h.rt->read_after("w", "", 10).error().code, Code::worker_not_found);
  sub->reset();  // outliving the worker is harmless
}

TEST(DeleteWorker, OldCursorNeverYieldsNewWorkersEvents) {
  Harness h;
  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.stop("w"));
  auto old = h.rt->read_after("w", "", 100);
  ASSERT_TRUE(old);
  std::string old_cursor = old->cursor;
  std::string old_start = h.rt->cursor_for("w", 0);
  ASSERT_TRUE(h.remove("w"));

  ASSERT_TRUE(h.create_id("w"));
  ASSERT_TRUE(h.input("w", "new life"));
  ASSERT_TRUE(h.wait_status("w", WorkerStatus::idle));
  ASSERT_GT(h.rt->detail("w")->last_seq, old->last_seq) << "the new log must reach past the old cursor";
  for (const auto& c : {old_cursor, old_start}) {
    auto page = h.rt->read_after("w", c, 100);
    ASSERT_FALSE(page) << "an old cursor read " << page->events.size() << " events of the new worker";
    EXPECT_EQ(page.error().code, Code::cursor_unknown);
    EXPECT_EQ(h.rt->cursor_seq("w", c).error().code, Code::cursor_unknown);
  }
  auto snap = h.rt->snapshot("w");
  ASSERT_TRUE(snap);
  EXPECT_NE(snap->epoch, old->epoch);
  EXPECT_TRUE(h.rt->read_after("w", snap->cursor, 100)) << "the new worker's own cursors work";
}

}  // namespace
}  // namespace yoi::rt::test
