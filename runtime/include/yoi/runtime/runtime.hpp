#pragma once
// Runtime: hosts many Workers (ARCHITECTURE §4-5). No HTTP here; the servers
// and the backend's embedded source call these operations directly.
//
// Threading: a Runtime lives on one io_context and is not thread-safe. Call
// every method on that io_context's thread. Callbacks and subscription
// wake-ups run on that thread, never inline from the call that caused them.
//
// Durability: a callback that reports success (create, input, cancel, stop)
// runs only once the store has made the change durable under its policy.
// Observers (read_after, subscribe, snapshot) see only durable events.

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string_view>

#include "yoi/clock.hpp"
#include "yoi/engines/engine.hpp"
#include "yoi/runtime/types.hpp"
#include "yoi/store/store.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::rt {

struct RuntimeOptions {
  std::string runtime_id = "local";
  std::string display_name = "Local runtime";
  std::string version = "0.1.0";
  Limits limits;
  // Profiles by name; when none is named "runtime_default", default_profile
  // is added under that name (echo unless set otherwise).
  std::vector<engines::ProfileConfig> profiles;
  engines::ProfileConfig default_profile;
  std::map<std::string, WorkspaceConfig, std::less<>> workspaces;
  // Config bundles (ARCHITECTURE §16): the most held at once, and the most
  // bytes of one bundle's canonical profiles. Garbage collection: a put that
  // would exceed max_bundles first drops unused bundles (no worker record,
  // stopped or not, is pinned to them), oldest put first; when every held
  // bundle is in use the put is limit_exceeded. In-use bundles are never
  // dropped.
  std::size_t max_bundles = 32;
  std::size_t max_bundle_bytes = 1u << 20;
  // Reads the variables a bundle's profile names (api_key_env,
  // base_url_env) on this host when its engine is built.
  std::function<const char*(const char*)> getenv = [](const char* n) { return std::getenv(n); };
  // Where workers' homes live (one directory each, named by the worker's
  // incarnation, never by its id). Empty: a temporary directory made at
  // open and removed when the runtime is destroyed.
  std::string home_root;
  // bash's sandbox (ARCHITECTURE §14): the bubblewrap binary (on PATH when
  // not absolute) and host paths no command may see even where a system
  // directory shown read-only contains them (the servers pass their data
  // dir, config file and token file).
  std::string bwrap_path = "bwrap";
  std::vector<std::string> sandbox_hidden;
  Clock* clock = &Clock::system();
  Random* random = &Random::system();
  // Tests only: when set, builds every profile's engine instead of
  // engines::make_engine (e.g. a scripted engine that emits the tool calls a
  // test needs, such as a call to a tool the profile does not offer, which
  // the echo engine never makes). The servers never set it.
  std::function<Result<std::shared_ptr<engines::Engine>>(boost::asio::io_context&, const engines::ProfileConfig&)>
      engine_factory;
};

// An RAII registration of a wake-up callback; destroying it unsubscribes.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();
  void reset();
  explicit operator bool() const { return static_cast<bool>(impl_); }

  struct Impl;
  explicit Subscription(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

// Counters for /metrics, maintained by the core.
struct RuntimeStats {
  std::uint64_t events_appended = 0;
  std::uint64_t runs_started = 0;
  std::uint64_t runs_active = 0;
  std::uint64_t runs_completed = 0;
  std::uint64_t runs_cancelled = 0;
  std::uint64_t runs_failed = 0;
  // Approvals (ARCHITECTURE §15): asked, answered, and the time calls
  // waited for a person (summed over the answered ones, milliseconds).
  std::uint64_t approvals_requested = 0;
  std::uint64_t approvals_approved = 0;
  std::uint64_t approvals_denied = 0;
  std::uint64_t approval_wait_ms = 0;
};

class Runtime {
 public:
  // Opens the store, restores every worker (closing runs interrupted by a
  // crash with run_finished failed `interrupted`) and builds each profile's
  // engine. Errors: config_invalid (a profile), store_corrupt / store_io.
  static Result<std::unique_ptr<Runtime>> open(boost::asio::io_context& io, RuntimeOptions options,
                                               std::unique_ptr<store::Store> store);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const std::string& runtime_id() const;
  const std::string& epoch() const;
  RuntimeSummary summary() const;
  // Diagnostics recorded at open (store repairs, interrupted runs).
  const std::vector<std::string>& diagnostics() const;

  // worker_exists, invalid_id, invalid_request (unknown profile, bad intent),
  // limit_exceeded (max_workers). With config_bundle {digest} the profile is
  // that bundle's: bundle_missing (not held), invalid_request (no such
  // profile in it, or a variable it names unset on this host). The worker
  // is pinned to the bundle's profile for life.
  void create(CreateWorker request, Callback<WorkerDetail> done);

  // Stores a config bundle sent for `digest` (durable when `done` reports
  // success; a put of a held digest, or one already in flight, stores it
  // once). invalid_request (shape, a bad profile, named),
  // bundle_digest_mismatch, payload_too_large (max_bundle_bytes),
  // limit_exceeded (max_bundles, all in use), store_io.
  void put_bundle(std::string_view digest, const boost::json::value& body, Callback<BundlePut> done);
  std::vector<BundleInfo> bundles() const;
  Result<WorkerPage> list(const ListWorkers& request) const;
  Result<WorkerDetail> detail(std::string_view worker_id) const;
  // Starts a run. worker_busy, worker_stopped, invalid_request (empty or
  // oversized content). A repeated client_message_id answers the first
  // acceptance (duplicate = true) and starts nothing.
  void input(std::string_view worker_id, Input request, Callback<InputAccepted> done);
  // Answers the call `call_id` parked on a person's decision (ARCHITECTURE
  // §15): approval_resolved, then the call runs or the model is told it was
  // denied (with the reason); `remember` adds an allow rule for the call's
  // tool and exact main argument to the worker. approval_not_found (no such
  // call pending), approval_resolved (answered otherwise before; the same
  // answer again answers the first outcome), worker_not_found.
  void approve(std::string_view worker_id, std::string_view call_id, ApprovalDecision decision,
               Callback<ApprovalOutcome> done);
  // Aborts the run in flight, keeping the partial reply. Idempotent.
  // A parked run's pending calls are denied first.
  void cancel(std::string_view worker_id, std::optional<std::string> reason,
              Callback<CancelResult> done);
  // Ends the worker for good, cancelling its run first. Idempotent.
  void stop(std::string_view worker_id, std::optional<std::string> reason,
            Callback<WorkerDetail> done);
  // Deletes a stopped worker: its state, event log and transcript
  // (ARCHITECTURE §17). Its id is free again at once; its subscribers are
  // woken and find it gone (worker_not_found); a cursor of it never names
  // a position of a later worker of the same id (cursor_unknown).
  // worker_not_stopped, worker_not_found.
  void remove(std::string_view worker_id, Callback<void> done);
  Result<TranscriptPage> transcript(std::string_view worker_id, std::uint64_t start,
                                    std::size_t limit) const;

  // Events strictly after `cursor` (empty: from the oldest retained event),
  // at most `limit` (clamped). cursor_invalid (malformed, another worker's),
  // cursor_unknown (another epoch, or beyond the log), cursor_expired (older
  // than retention).
  Result<EventPage> read_after(std::string_view worker_id, std::string_view cursor,
                               std::size_t limit) const;
  // Validates a cursor for this worker without reading (same errors).
  Result<std::uint64_t> cursor_seq(std::string_view worker_id, std::string_view cursor) const;
  Result<Snapshot> snapshot(std::string_view worker_id) const;
  // `on_append` runs after new events become readable. Keep it cheap: set a
  // flag or wake a coroutine, then pull with read_after.
  Result<Subscription> subscribe(std::string_view worker_id, std::function<void()> on_append);

  // Makes everything durable (graceful shutdown). Runs in flight are left
  // to be closed as `interrupted` on the next open; a run parked on an
  // approval waits again after the next open.
  void flush(Callback<void> done);

  std::string cursor_for(std::string_view worker_id, std::uint64_t seq) const;
  const RuntimeStats& stats() const;

 private:
  struct Impl;
  explicit Runtime(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared: completions hold weak references
};

}  // namespace yoi::rt
