#pragma once
// Test harness for the runtime core: an io_context driven by the test
// thread, with a deadline on every wait so a hang fails fast.

#include <chrono>
#include <functional>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "yoi/runtime/runtime.hpp"
#include "yoi/testing/run_until.hpp"

namespace yoi::rt::test {

inline constexpr auto kDeadline = std::chrono::seconds(10);

struct Harness {
  boost::asio::io_context io;
  std::unique_ptr<Runtime> rt;

  explicit Harness(RuntimeOptions opts = {}, std::unique_ptr<store::Store> store = nullptr) {
    if (!store) store = store::make_memory_store(io, {opts.limits.retention_events, opts.limits.retention_bytes});
    auto r = Runtime::open(io, std::move(opts), std::move(store));
    if (!r) throw std::runtime_error("open failed: " + r.error().message);
    rt = std::move(*r);
  }

  // Drives the io_context until `done()` or the deadline; false on timeout.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = kDeadline) {
    return yoi::testing::run_until(io, done, limit);
  }

  // Runs an async operation to completion.
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

  Result<WorkerDetail> create(CreateWorker req = {}) {
    return wait<WorkerDetail>([&](auto cb) { rt->create(req, std::move(cb)); });
  }
  Result<WorkerDetail> create_id(const std::string& id) {
    CreateWorker req;
    req.worker_id = id;
    return create(std::move(req));
  }
  Result<InputAccepted> input(const std::string& id, const std::string& content,
                              std::optional<std::string> cmid = std::nullopt) {
    return wait<InputAccepted>([&](auto cb) { rt->input(id, Input{content, cmid}, std::move(cb)); });
  }
  Result<CancelResult> cancel(const std::string& id) {
    return wait<CancelResult>([&](auto cb) { rt->cancel(id, std::nullopt, std::move(cb)); });
  }
  Result<WorkerDetail> stop(const std::string& id) {
    return wait<WorkerDetail>([&](auto cb) { rt->stop(id, std::string("test"), std::move(cb)); });
  }
  Result<ApprovalOutcome> approve(const std::string& id, const std::string& call_id, bool yes,
                                  std::optional<std::string> reason = std::nullopt, bool remember = false) {
    return wait<ApprovalOutcome>([&](auto cb) {
      rt->approve(id, call_id, ApprovalDecision{yes, reason, remember}, std::move(cb));
    });
  }
  Result<void> remove(const std::string& id) {
    return wait<void>([&](auto cb) { rt->remove(id, std::move(cb)); });
  }
  bool wait_status(const std::string& id, WorkerStatus s) {
    return run_until([&] {
      // The snapshot's status is the published one: every event up to it
      // is readable.
      auto snap = rt->snapshot(id);
      return snap && snap->detail.record.status == s;
    });
  }

  // Every event of a worker, parsed.
  std::vector<boost::json::object> events(const std::string& id) {
    std::vector<boost::json::object> out;
    std::string cursor;
    for (;;) {
      auto page = rt->read_after(id, cursor, 1000);
      EXPECT_TRUE(page) << (page ? "" : page.error().message);
      if (!page || page->events.empty()) break;
      for (auto& e : page->events) out.push_back(boost::json::parse(e.json).as_object());
      cursor = page->cursor;
    }
    return out;
  }
};

inline std::vector<std::string> types_of(const std::vector<boost::json::object>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) out.emplace_back(e.at("type").as_string());
  return out;
}

// Rules that let write and edit run without asking (ARCHITECTURE §15), for
// tests about the tools rather than approvals.
inline std::vector<tools::Rule> allow_file_writes() {
  return {tools::Rule{"write", std::nullopt, tools::Action::allow}, tools::Rule{"edit", std::nullopt, tools::Action::allow}};
}

inline RuntimeOptions slow_echo(std::chrono::milliseconds delay, std::size_t chunk = 2) {
  RuntimeOptions o;
  engines::ProfileConfig p;
  p.echo_chunk_bytes = chunk;
  p.echo_chunk_delay = delay;
  o.profiles.push_back(p);
  return o;
}

}  // namespace yoi::rt::test
