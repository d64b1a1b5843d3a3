#pragma once
// RuntimeRegistry: the backend's routing table (ARCHITECTURE §2, §7). It owns
// one Source per runtime, consults the Policy for every operation, finds the
// owning source by runtime_id and makes exactly ONE call to it per operation
// (no lookup-then-act: a worker operation is never preceded by a detail or a
// summary call).
//
// Lists across runtimes never fail because one runtime is down: each runtime
// answers for itself, and a failed one appears with its error.
//
// Threading: lives on the backend's io_context; call on its thread. Callbacks
// run on that thread, never inline (errors found before any source call are
// posted).
//
// Errors: invalid_id (bad runtime or worker id, before any work),
// runtime_not_found, whatever the policy says, then the source's errors.

#include <map>
#include <set>
#include <memory>
#include <vector>

#include <boost/json/object.hpp>

#include "yoi/backend/policy.hpp"
#include "yoi/engines/engine.hpp"
#include "yoi/backend/source.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::backend {

// GET /api/workers: every runtime's first page, plus a per-runtime account of
// the ones that failed.
struct RuntimeWorkers {
  std::string runtime_id;
  std::optional<Error> error;               // set when this runtime's list failed
  std::optional<std::string> next;          // more workers in this runtime
};
struct AllWorkers {
  std::vector<rt::WorkerDetail> workers;
  std::vector<RuntimeWorkers> runtimes;  // registry order
};

// yoi-server's own profiles (ARCHITECTURE §16), shipped to runtimes as one
// config bundle. Fixed for the process's life: a changed config takes a
// restart, and makes a new digest (workers made before keep theirs).
struct ServerProfiles {
  std::string digest;
  boost::json::object bundle;                    // {"digest", "profiles"}: the PUT body
  std::vector<engines::ProfileConfig> profiles;  // validated, by name
  bool has(std::string_view name) const;
};
// Builds them from yoi-server's config (profiles::digest over the bodies).
std::shared_ptr<const ServerProfiles> make_server_profiles(std::vector<engines::ProfileConfig> profiles,
                                                           boost::json::object bodies);

class RuntimeRegistry {
 public:
  explicit RuntimeRegistry(boost::asio::io_context& io,
                           std::shared_ptr<const Policy> policy = pass_through_policy());
  ~RuntimeRegistry();

  // config_invalid for a duplicate id.
  Result<void> add(std::unique_ptr<Source> source);
  std::size_t size() const { return order_.size(); }
  std::vector<std::string> ids() const { return order_; }
  // The source itself (tests, observation proxy); nullptr when unknown.
  Source* find(std::string_view runtime_id) const;
  // Source::limits of `runtime_id` (no call, no policy: nothing is revealed
  // but a refusal); nullopt for an unknown runtime.
  std::optional<rt::Limits> limits(std::string_view runtime_id) const;

  void set_policy(std::shared_ptr<const Policy> policy) { policy_ = std::move(policy); }
  const Policy& policy() const { return *policy_; }

  // Never fails: every runtime appears, unreachable ones with a diagnostic.
  void list_runtimes(std::function<void(Result<std::vector<RuntimeInfo>>)> done,
                     std::string_view principal = "browser");
  void runtime(std::string runtime_id, Callback<RuntimeInfo> done,
               std::string_view principal = "browser");
  // `limit` applies per runtime.
  void list_all_workers(std::size_t limit, Callback<AllWorkers> done,
                        std::string_view principal = "browser");

  void list(std::string runtime_id, rt::ListWorkers request, Callback<rt::WorkerPage> done,
            std::string_view principal = "browser");
  // A `profile` that names one of yoi-server's profiles (set_server_profiles;
  // they shadow a runtime's own of the same name) is created from its
  // bundle, as one operation for the caller: the bundle is pushed to a
  // runtime not known to hold it, then the worker is created with
  // config_bundle {digest}; a bundle_missing answer (the runtime lost it)
  // pushes again and retries once. unsupported (501) on a runtime without
  // the `bundles` capability.
  void create(std::string runtime_id, rt::CreateWorker request, Callback<rt::WorkerDetail> done,
              std::string_view principal = "browser");
  void set_server_profiles(std::shared_ptr<const ServerProfiles> profiles) { server_profiles_ = std::move(profiles); }
  const ServerProfiles* server_profiles() const { return server_profiles_.get(); }
  void detail(std::string runtime_id, std::string worker_id, Callback<rt::WorkerDetail> done,
              std::string_view principal = "browser");
  // detail() as the browser's JSON text (Source::detail_text).
  void detail_text(std::string runtime_id, std::string worker_id, Callback<std::string> done,
                   std::string_view principal = "browser");
  void input(std::string runtime_id, std::string worker_id, rt::Input request,
             Callback<rt::InputAccepted> done, std::string_view principal = "browser");
  // input() as the browser's JSON text (Source::input_text).
  void input_text(std::string runtime_id, std::string worker_id, rt::Input request,
                  Callback<std::string> done, std::string_view principal = "browser");
  void cancel(std::string runtime_id, std::string worker_id, std::optional<std::string> reason,
              Callback<rt::CancelResult> done, std::string_view principal = "browser");
  void stop(std::string runtime_id, std::string worker_id, std::optional<std::string> reason,
            Callback<rt::WorkerDetail> done, std::string_view principal = "browser");
  // Deletes a stopped worker. The observation hub needs no word of it
  // (backend/OBSERVE.md, "Deleted workers").
  void remove(std::string runtime_id, std::string worker_id, Callback<void> done,
              std::string_view principal = "browser");
  // Answers a call awaiting approval: one call to the owning source.
  void approve(std::string runtime_id, std::string worker_id, std::string call_id,
               rt::ApprovalDecision decision, Callback<rt::ApprovalOutcome> done,
               std::string_view principal = "browser");
  void transcript(std::string runtime_id, std::string worker_id, std::uint64_t start,
                  std::size_t limit, Callback<rt::TranscriptPage> done,
                  std::string_view principal = "browser");
  // Events pass through Policy::filter_event; withheld ones are dropped from
  // the page but the page's position still advances past them.
  void events(std::string runtime_id, std::string worker_id, std::optional<Position> after,
              std::size_t limit, Callback<SourceEventPage> done,
              std::string_view principal = "browser");

  // Closes every source (shutdown).
  void close();

 private:
  // Policy check + id validation + lookup: the source, or why not.
  Result<Source*> resolve(ApiOp op, std::string_view runtime_id, std::string_view worker_id,
                          std::string_view principal) const;
  // resolve(); on failure posts `fail` and returns nullptr.
  Source* route(ApiOp op, std::string_view runtime_id, std::string_view worker_id,
                std::string_view principal, const std::function<void(Error)>& fail);
  void post(std::function<void()> fn);
  // The one hook for every write that changes which workers a runtime holds
  // or their status (create, stop, delete): once the write succeeded, the
  // source is told (Source::workers_changed), so GET /api/runtimes counts it
  // at once instead of after the next probe. Wrap the write's callback.
  // Holding `s` is safe: the registry owns its sources for its whole life,
  // and callbacks run on its io_context while it lives.
  template <class T>
  static Callback<T> after_write(Source& s, Callback<T> done) {
    return [&s, done = std::move(done)](Result<T> r) {
      if (r) s.workers_changed();
      done(std::move(r));
    };
  }

  void create_from_bundle(Source& s, rt::CreateWorker request, bool retried, Callback<rt::WorkerDetail> done);
  void push_bundle(Source& s, std::function<void(Result<void>)> done);

  boost::asio::io_context& io_;
  std::shared_ptr<const Policy> policy_;
  std::shared_ptr<const ServerProfiles> server_profiles_;
  // (runtime id, digest) pairs pushed: the next create skips the push.
  std::set<std::pair<std::string, std::string>, std::less<>> pushed_;
  std::map<std::string, std::unique_ptr<Source>, std::less<>> sources_;
  std::vector<std::string> order_;
};

}  // namespace yoi::backend
