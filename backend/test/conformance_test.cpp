// The source conformance suite (ARCHITECTURE §2): the same tests against the
// embedded source (an in-process Runtime) and the remote source (a real
// yoi-runtime process over HTTP). A behaviour that works through one and not
// the other fails here.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/store.hpp"

namespace yoi::backend::test {
namespace {

class Conformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    registry = std::make_unique<RuntimeRegistry>(io);
    if (GetParam() == "embedded") {
      rt::RuntimeOptions o;
      o.runtime_id = "upstream";
      engines::ProfileConfig p;
      p.echo_chunk_bytes = 1;
      p.echo_chunk_delay = std::chrono::milliseconds(20);
      p.permissions = {tools::Rule{"write", "a.txt", tools::Action::allow}};  // other writes ask (§15)
      o.profiles.push_back(p);
      auto r = rt::Runtime::open(io, std::move(o), store::make_memory_store(io, {}));
      ASSERT_TRUE(r) << r.error().message;
      runtime = std::move(*r);
      ASSERT_TRUE(registry->add(make_embedded_source(io, *runtime, "rt1", "Runtime one")));
    } else {
      proc.token = "conformance-token";
      proc.extra_toml = "[[profiles.runtime_default.permissions]]\ntool = \"write\"\npattern = \"a.txt\"\naction = \"allow\"\n";
      ASSERT_TRUE(proc.start());
      RemoteConfig rc;
      rc.id = "rt1";
      rc.display_name = "Runtime one";
      rc.base_url = Secret(proc.base_url());
      rc.token = Secret(proc.token);
      rc.timeout = 5s;
      rc.probe_interval = 0ms;
      auto s = make_remote_source(io, std::move(rc));
      ASSERT_TRUE(s) << s.error().message;
      ASSERT_TRUE(registry->add(std::move(*s)));
    }
  }
  void TearDown() override {
    if (registry) registry->close();
    // Let completions drain before the runtime goes.
    io.restart();
    io.run_for(50ms);
  }

  Result<rt::WorkerDetail> create(std::optional<std::string> id) {
    rt::CreateWorker c;
    c.worker_id = std::move(id);
    return await<rt::WorkerDetail>(io, [&](auto cb) { registry->create("rt1", c, cb); });
  }
  Result<rt::WorkerDetail> detail(const std::string& wid, const std::string& rid = "rt1") {
    return await<rt::WorkerDetail>(io, [&](auto cb) { registry->detail(rid, wid, cb); });
  }
  Result<rt::InputAccepted> input(const std::string& wid, std::string content,
                                  std::optional<std::string> cmid = {}) {
    rt::Input in{std::move(content), std::move(cmid)};
    return await<rt::InputAccepted>(io, [&](auto cb) { registry->input("rt1", wid, in, cb); });
  }
  Result<rt::CancelResult> cancel(const std::string& wid) {
    return await<rt::CancelResult>(io, [&](auto cb) { registry->cancel("rt1", wid, "test", cb); });
  }
  Result<rt::WorkerDetail> stop(const std::string& wid) {
    return await<rt::WorkerDetail>(io, [&](auto cb) { registry->stop("rt1", wid, std::nullopt, cb); });
  }
  Result<void> remove(const std::string& wid) {
    return await<void>(io, [&](auto cb) { registry->remove("rt1", wid, cb); });
  }
  Result<SourceEventPage> events(const std::string& wid, std::optional<Position> after, std::size_t limit = 100) {
    return await<SourceEventPage>(io, [&](auto cb) { registry->events("rt1", wid, after, limit, cb); });
  }
  Result<rt::ApprovalOutcome> approve(const std::string& wid, const std::string& call, bool yes,
                                      std::optional<std::string> reason = {}, bool remember = false) {
    rt::ApprovalDecision d{yes, std::move(reason), remember};
    return await<rt::ApprovalOutcome>(io, [&](auto cb) { registry->approve("rt1", wid, call, d, cb); });
  }
  // Waits until the worker is idle again (its run finished).
  void wait_idle(const std::string& wid) { wait_status(wid, rt::WorkerStatus::idle); }
  void wait_status(const std::string& wid, rt::WorkerStatus status) {
    auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      auto d = detail(wid);
      ASSERT_TRUE(d) << d.error().message;
      if (d->record.status == status) return;
      io.restart();
      io.run_for(20ms);
    }
    FAIL() << "worker " << wid << " did not become " << rt::status_name(status);
  }

  boost::asio::io_context io;
  std::unique_ptr<rt::Runtime> runtime;
  RuntimeProc proc;
  std::unique_ptr<RuntimeRegistry> registry;
};

TEST_P(Conformance, InfoReportsReadyWithCapabilities) {
  auto info = await<RuntimeInfo>(io, [&](auto cb) { registry->runtime("rt1", cb); });
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->runtime_id, "rt1");
  EXPECT_EQ(info->display_name, "Runtime one");
  EXPECT_EQ(info->health, Health::ready);
  ASSERT_TRUE(info->summary);
  EXPECT_EQ(info->summary->runtime_id, "rt1");
  EXPECT_FALSE(info->summary->epoch.empty());
  EXPECT_EQ(info->summary->capabilities.size(), rt::all_capabilities().size());
  EXPECT_TRUE(info->last_seen_ms);
  EXPECT_FALSE(info->diagnostic);
}

TEST_P(Conformance, CreateDetailListUnderTheRegistryId) {
  auto w = create("w1");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->runtime_id, "rt1");  // not the runtime's own id "upstream"
  EXPECT_EQ(w->record.worker_id, "w1");
  EXPECT_EQ(w->record.status, rt::WorkerStatus::idle);

  auto gen = create(std::nullopt);
  ASSERT_TRUE(gen) << gen.error().message;
  EXPECT_FALSE(gen->record.worker_id.empty());

  auto d = detail("w1");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->runtime_id, "rt1");
  EXPECT_EQ(d->last_seq, 1u);

  rt::ListWorkers q;
  q.limit = 1;
  auto page = await<rt::WorkerPage>(io, [&](auto cb) { registry->list("rt1", q, cb); });
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->workers.size(), 1u);
  EXPECT_EQ(page->workers[0].runtime_id, "rt1");
  ASSERT_TRUE(page->next);
  q.after = page->next;
  auto page2 = await<rt::WorkerPage>(io, [&](auto cb) { registry->list("rt1", q, cb); });
  ASSERT_TRUE(page2) << page2.error().message;
  ASSERT_EQ(page2->workers.size(), 1u);
  EXPECT_NE(page2->workers[0].record.worker_id, page->workers[0].record.worker_id);

  auto all = await<AllWorkers>(io, [&](auto cb) { registry->list_all_workers(100, cb); });
  ASSERT_TRUE(all);
  EXPECT_EQ(all->workers.size(), 2u);
  ASSERT_EQ(all->runtimes.size(), 1u);
  EXPECT_FALSE(all->runtimes[0].error);
}

TEST_P(Conformance, CreateErrors) {
  ASSERT_TRUE(create("dup"));
  auto again = create("dup");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::worker_exists);

  auto bad = create("bad id!");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::invalid_id);

  rt::CreateWorker c;
  c.profile = "no-such-profile";
  auto r = await<rt::WorkerDetail>(io, [&](auto cb) { registry->create("rt1", c, cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::invalid_request);
}

TEST_P(Conformance, UnknownWorkerAndRuntime) {
  auto d = detail("ghost");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::worker_not_found);
  auto in = input("ghost", "hi");
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().code, Code::worker_not_found);
  auto c = cancel("ghost");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::worker_not_found);
  auto s = stop("ghost");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Code::worker_not_found);
  auto t = await<rt::TranscriptPage>(io, [&](auto cb) { registry->transcript("rt1", "ghost", 0, 10, cb); });
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Code::worker_not_found);
  auto e = events("ghost", std::nullopt);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, Code::worker_not_found);

  auto nr = detail("w1", "nope");
  ASSERT_FALSE(nr);
  EXPECT_EQ(nr.error().code, Code::runtime_not_found);
  auto bad = detail("w1", "bad/runtime");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::invalid_id);
  auto badw = detail("../etc");
  ASSERT_FALSE(badw);
  EXPECT_EQ(badw.error().code, Code::invalid_id);
}

TEST_P(Conformance, InputRunsAndTranscriptRecordsIt) {
  ASSERT_TRUE(create("w1"));
  auto a = input("w1", "hello", "m-1");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->duplicate);
  EXPECT_FALSE(a->run_id.empty());
  EXPECT_EQ(a->client_message_id, "m-1");

  // One run at a time.
  auto busy = input("w1", "again");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Code::worker_busy);
  // The same client_message_id answers the first acceptance.
  auto dup = input("w1", "hello", "m-1");
  ASSERT_TRUE(dup) << dup.error().message;
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->run_id, a->run_id);

  wait_idle("w1");
  auto t = await<rt::TranscriptPage>(io, [&](auto cb) { registry->transcript("rt1", "w1", 0, 10, cb); });
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->total, 2u);
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[0].role, "user");
  EXPECT_EQ(t->items[0].content, "hello");
  EXPECT_EQ(t->items[1].role, "assistant");
  EXPECT_EQ(t->items[1].result, "completed");
  auto t1 = await<rt::TranscriptPage>(io, [&](auto cb) { registry->transcript("rt1", "w1", 1, 1, cb); });
  ASSERT_TRUE(t1);
  ASSERT_EQ(t1->items.size(), 1u);
  EXPECT_EQ(t1->items[0].index, 1u);

  auto empty = input("w1", "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Code::invalid_request);
}

TEST_P(Conformance, CancelAndStop) {
  ASSERT_TRUE(create("w1"));
  auto idle_cancel = cancel("w1");
  ASSERT_TRUE(idle_cancel) << idle_cancel.error().message;
  EXPECT_FALSE(idle_cancel->cancelled);

  ASSERT_TRUE(input("w1", "a long enough message to be cancelled midway"));
  auto c = cancel("w1");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->cancelled);
  EXPECT_EQ(c->status, rt::WorkerStatus::idle);
  wait_idle("w1");

  auto s = stop("w1");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->record.status, rt::WorkerStatus::stopped);
  EXPECT_EQ(s->runtime_id, "rt1");
  auto s2 = stop("w1");  // idempotent
  ASSERT_TRUE(s2) << s2.error().message;
  auto in = input("w1", "hi");
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().code, Code::worker_stopped);
}

// A tool run (the echo driver, ARCHITECTURE §12): the same events and
// transcript items through both sources.
TEST_P(Conformance, ToolRunEventsAndTranscriptItems) {
  ASSERT_TRUE(create("w1"));
  ASSERT_TRUE(input("w1", R"(/write {"path": "a.txt", "content": "one\ntwo\n"})"));
  wait_idle("w1");
  auto all = events("w1", std::nullopt);
  ASSERT_TRUE(all) << all.error().message;
  std::vector<std::string> tool_events;
  for (const auto& e : all->events) {
    auto o = boost::json::parse(e.json).as_object();
    std::string type(o.at("type").as_string());
    if (type == "tool_call" || type == "tool_result") tool_events.push_back(type);
    if (type == "tool_call") {
      EXPECT_EQ(o.at("arguments"), R"({"path": "a.txt", "content": "one\ntwo\n"})");
    }
    if (type == "tool_result") {
      EXPECT_EQ(o.at("ok"), true) << e.json;
    }
    if (type == "run_finished") {
      EXPECT_EQ(o.at("steps"), 2) << e.json;
    }
  }
  EXPECT_EQ(tool_events, (std::vector<std::string>{"tool_call", "tool_result"}));
  auto t = await<rt::TranscriptPage>(io, [&](auto cb) { registry->transcript("rt1", "w1", 0, 10, cb); });
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->items.size(), 4u);
  EXPECT_EQ(t->items[1].role, "assistant");
  ASSERT_EQ(t->items[1].tool_calls.size(), 1u);
  EXPECT_EQ(t->items[1].tool_calls[0].name, "write");
  EXPECT_EQ(t->items[2].role, "tool");
  EXPECT_EQ(t->items[2].call_id, t->items[1].tool_calls[0].call_id);
  EXPECT_TRUE(t->items[2].ok);
  EXPECT_EQ(t->items[3].content, "write ok: 1 line");
  EXPECT_EQ(t->items[3].result, "completed");
  auto d = detail("w1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->transcript_total, 4u);
}

// Approvals (ARCHITECTURE §15) through both sources: a write that asks
// parks the worker; approve with remember runs it and keeps the rule; deny
// with a reason reaches the model; input while awaiting is worker_busy; the
// same answer twice is idempotent, another one approval_resolved, an
// unknown call approval_not_found.
TEST_P(Conformance, ApprovalsApproveDenyAndRemember) {
  ASSERT_TRUE(create("w1"));
  const std::string write_b = R"(/write {"path": "b.txt", "content": "b"})";
  ASSERT_TRUE(input("w1", write_b));
  wait_status("w1", rt::WorkerStatus::awaiting_approval);
  auto d = detail("w1");
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->record.pending_approvals.size(), 1u);
  const auto call = d->record.pending_approvals[0].call_id;
  EXPECT_EQ(d->record.pending_approvals[0].name, "write");
  auto busy = input("w1", "yes");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Code::worker_busy);
  auto missing = approve("w1", "no-such-call", true);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::approval_not_found);
  auto ok = approve("w1", call, true, std::nullopt, true);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->decision, "approved");
  EXPECT_TRUE(ok->remember);
  auto again = approve("w1", call, true, std::nullopt, true);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->decision, "approved");
  auto other = approve("w1", call, false);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Code::approval_resolved);
  wait_idle("w1");
  d = detail("w1");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->record.remembered_rules.size(), 1u);
  EXPECT_EQ(d->record.remembered_rules[0].pattern, std::optional<std::string>("/work/b.txt"));

  // Remembered: the same write runs without asking.
  ASSERT_TRUE(input("w1", write_b));
  wait_idle("w1");
  // Another path asks; denied with a reason, which the model reads.
  ASSERT_TRUE(input("w1", R"(/write {"path": "c.txt", "content": "c"})"));
  wait_status("w1", rt::WorkerStatus::awaiting_approval);
  d = detail("w1");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->record.pending_approvals.size(), 1u);
  auto no = approve("w1", d->record.pending_approvals[0].call_id, false, std::string("not c"));
  ASSERT_TRUE(no) << no.error().message;
  EXPECT_EQ(no->decision, "denied");
  wait_idle("w1");

  auto all = events("w1", std::nullopt, 1000);
  ASSERT_TRUE(all) << all.error().message;
  std::vector<std::string> seen;
  for (const auto& e : all->events) {
    auto o = boost::json::parse(e.json).as_object();
    std::string type(o.at("type").as_string());
    if (type == "approval_requested" || type == "approval_resolved") seen.push_back(type);
    if (type == "tool_result") seen.push_back(o.at("ok").as_bool() ? "ok" : std::string(o.at("error").at("code").as_string()));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"approval_requested", "approval_resolved", "ok", "ok", "approval_requested",
                                            "approval_resolved", "denied"}));
  auto t = await<rt::TranscriptPage>(io, [&](auto cb) { registry->transcript("rt1", "w1", 0, 100, cb); });
  ASSERT_TRUE(t) << t.error().message;
  bool reason_seen = false;
  for (const auto& item : t->items)
    reason_seen = reason_seen || (item.role == "tool" && item.content.find("not c") != std::string::npos);
  EXPECT_TRUE(reason_seen) << "the reason is in the result the model reads";
}

TEST_P(Conformance, EventsPageAndResume) {
  ASSERT_TRUE(create("w1"));
  ASSERT_TRUE(input("w1", "hey"));
  wait_idle("w1");
  auto all = events("w1", std::nullopt);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_GE(all->events.size(), 5u);
  EXPECT_FALSE(all->epoch.empty());
  EXPECT_EQ(all->events[0].seq, 1u);
  EXPECT_NE(all->events[0].json.find("\"worker_created\""), std::string::npos);
  EXPECT_NE(all->events[0].json.find("\"runtime_id\":\"rt1\""), std::string::npos);
  for (std::size_t i = 1; i < all->events.size(); ++i) EXPECT_EQ(all->events[i].seq, all->events[i - 1].seq + 1);
  EXPECT_EQ(all->position, all->events.back().seq);
  EXPECT_EQ(all->last_seq, all->events.back().seq);

  auto two = events("w1", std::nullopt, 2);
  ASSERT_TRUE(two);
  ASSERT_EQ(two->events.size(), 2u);
  EXPECT_EQ(two->position, 2u);
  auto rest = events("w1", Position{two->epoch, two->position});
  ASSERT_TRUE(rest) << rest.error().message;
  ASSERT_EQ(rest->events.size(), all->events.size() - 2);
  EXPECT_EQ(rest->events[0].seq, 3u);

  auto tail = events("w1", Position{all->epoch, all->position});
  ASSERT_TRUE(tail);
  EXPECT_TRUE(tail->events.empty());
  EXPECT_EQ(tail->position, all->position);

  auto other_epoch = events("w1", Position{"0123456789abcdef0123456789abcdef", 1});
  ASSERT_FALSE(other_epoch);
  EXPECT_EQ(other_epoch.error().code, Code::cursor_unknown);
  auto future = events("w1", Position{all->epoch, 10'000});
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, Code::cursor_unknown);
}

TEST_P(Conformance, DeleteRefusesAWorkerNotStoppedAndRemovesAStoppedOne) {
  ASSERT_TRUE(create("w1"));
  auto idle = remove("w1");
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error().code, Code::worker_not_stopped);
  ASSERT_TRUE(input("w1", "a long enough message to still be running"));
  auto running = remove("w1");
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error().code, Code::worker_not_stopped);
  ASSERT_TRUE(stop("w1"));
  auto r = remove("w1");
  ASSERT_TRUE(r) << r.error().message;
  auto gone = detail("w1");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::worker_not_found);
  auto again = remove("w1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::worker_not_found);
  auto fresh = create("w1");
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(fresh->record.status, rt::WorkerStatus::idle);
}

TEST_P(Conformance, OldPositionNeverYieldsNewWorkersEvents) {
  ASSERT_TRUE(create("w1"));
  ASSERT_TRUE(stop("w1"));
  auto old = events("w1", std::nullopt);
  ASSERT_TRUE(old) << old.error().message;
  ASSERT_TRUE(remove("w1"));
  ASSERT_TRUE(create("w1"));
  ASSERT_TRUE(input("w1", "new"));
  wait_idle("w1");
  auto now = events("w1", std::nullopt);
  ASSERT_TRUE(now);
  EXPECT_NE(now->epoch, old->epoch) << "a new worker of the same id is a new history";
  ASSERT_GT(now->last_seq, old->position);
  for (std::uint64_t seq : {std::uint64_t{0}, old->position}) {
    auto page = events("w1", Position{old->epoch, seq});
    ASSERT_FALSE(page) << "an old position read " << page->events.size() << " events of the new worker";
    EXPECT_EQ(page.error().code, Code::cursor_unknown);
  }
}

// ---- config bundles (ARCHITECTURE §16) ----

std::shared_ptr<const ServerProfiles> server_profiles(int max_steps) {
  auto body = boost::json::parse(R"({"srv": {"engine": "echo", "echo_chunk_bytes": 3, "description": "from yoi-server"}})")
                  .as_object();
  body["srv"].as_object()["max_steps"] = max_steps;
  engines::ProfileConfig p;
  p.name = "srv";
  return make_server_profiles({p}, body);
}

// A yoi-server profile on a runtime that never had it in its config: pushed,
// then created with the reference, one call for the caller; the worker's
// detail names the digest and the profile, and the runtime lists the bundle.
TEST_P(Conformance, AServerProfileIsPushedThenCreatedAsOneOperation) {
  auto sp = server_profiles(5);
  registry->set_server_profiles(sp);
  rt::CreateWorker c;
  c.worker_id = "b1";
  c.profile = "srv";
  auto w = await<rt::WorkerDetail>(io, [&](auto cb) { registry->create("rt1", c, cb); });
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->record.profile, "srv");
  EXPECT_EQ(w->record.config_bundle.at("digest").as_string(), sp->digest);
  c.worker_id = "b2";  // held now: no second push needed
  ASSERT_TRUE(await<rt::WorkerDetail>(io, [&](auto cb) { registry->create("rt1", c, cb); }));
  auto held = await<std::vector<rt::BundleInfo>>(io, [&](auto cb) { registry->find("rt1")->bundles(cb); });
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].digest, sp->digest);
  EXPECT_EQ((*held)[0].workers, 2u);
  auto info = await<RuntimeInfo>(io, [&](auto cb) { registry->runtime("rt1", cb); });
  ASSERT_TRUE(info && info->summary);
  EXPECT_EQ(info->summary->bundles, std::vector<std::string>{sp->digest});
  // A profile changed in yoi-server's config: a new digest for new workers,
  // the old worker keeps its own.
  auto changed = server_profiles(6);
  ASSERT_NE(changed->digest, sp->digest);
  registry->set_server_profiles(changed);
  c.worker_id = "b3";
  auto w3 = await<rt::WorkerDetail>(io, [&](auto cb) { registry->create("rt1", c, cb); });
  ASSERT_TRUE(w3) << w3.error().message;
  EXPECT_EQ(w3->record.config_bundle.at("digest").as_string(), changed->digest);
  auto old = detail("b1");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->record.config_bundle.at("digest").as_string(), sp->digest);
}

// The runtime lost its bundles (a memory store restarted): the next create
// answers bundle_missing, the registry pushes again and retries once.
TEST(BundleRetry, BundleMissingAfterARuntimeRestartPushesAndRetriesOnce) {
  boost::asio::io_context io;
  RuntimeRegistry registry(io);
  RuntimeProc proc;
  proc.token = "bundle-token";
  ASSERT_TRUE(proc.start());
  RemoteConfig rc;
  rc.id = "rt1";
  rc.display_name = "Runtime one";
  rc.base_url = Secret(proc.base_url());
  rc.token = Secret(proc.token);
  rc.timeout = 5s;
  rc.probe_interval = 0ms;
  auto s = make_remote_source(io, std::move(rc));
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(registry.add(std::move(*s)));
  registry.set_server_profiles(server_profiles(5));
  rt::CreateWorker c;
  c.worker_id = "b1";
  c.profile = "srv";
  ASSERT_TRUE(await<rt::WorkerDetail>(io, [&](auto cb) { registry.create("rt1", c, cb); }));
  auto port = proc.port;
  proc.kill();
  ASSERT_TRUE(proc.start(port));  // memory store: every bundle gone
  auto held = await<std::vector<rt::BundleInfo>>(io, [&](auto cb) { registry.find("rt1")->bundles(cb); });
  ASSERT_TRUE(held && held->empty()) << "the restarted runtime holds nothing";
  c.worker_id = "b2";
  auto w = await<rt::WorkerDetail>(io, [&](auto cb) { registry.create("rt1", c, cb); });
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->record.profile, "srv");
  registry.close();
  io.restart();
  io.run_for(50ms);
}

INSTANTIATE_TEST_SUITE_P(Sources, Conformance, ::testing::Values("embedded", "remote"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace yoi::backend::test
