#pragma once
// Source: one runtime as the backend sees it (ARCHITECTURE §2, §7). Two
// implementations with one contract: `embedded` (direct calls into an
// in-process rt::Runtime) and `remote` (an async HTTP client of a
// yoi-runtime). Both pass the same conformance suite (backend/test).
//
// Threading: a Source lives on the backend's io_context. Call every method on
// that thread; callbacks run on that thread, never inline from the call.
//
// Errors: the §7 codes. Every transport or upstream failure, REST call or
// event stream, is mapped in exactly one place (src/upstream_error.cpp,
// map_failure); messages never carry a URL, token, path or raw transport text.
//
// Identity: the source's id is the registry id (from the backend config); any
// `runtime_id` a source returns (worker details, summaries) is rewritten to it.
//
// Positions: sources speak (epoch, seq) positions, never cursors. The backend
// turns positions into its own authenticated cursors (cursor.hpp), so a
// runtime cursor never reaches a browser.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/error.hpp"
#include "yoi/runtime/types.hpp"

namespace yoi::backend {

template <class T>
using Callback = std::function<void(Result<T>)>;

// How reachable a runtime is, as last observed.
enum class Health { ready, unreachable, auth_failed, timeout, bad_response, unknown };
std::string_view health_name(Health h);

// What the registry projects for GET /api/runtimes: the last summary seen
// (absent until the runtime has answered once), the health, and why.
struct RuntimeInfo {
  std::string runtime_id;  // registry id
  std::string display_name;
  std::string kind;  // "embedded" | "remote"
  Health health = Health::unknown;
  std::optional<rt::RuntimeSummary> summary;
  std::optional<std::int64_t> last_seen_ms;  // wall time of the last good answer
  std::optional<Error> diagnostic;           // set unless ready
};

// A position in one worker's event log: strictly after `seq` of history
// `epoch`. An empty epoch means "whatever the runtime has now".
struct Position {
  std::string epoch;
  std::uint64_t seq = 0;
};

struct SourceEvent {
  std::uint64_t seq = 0;
  std::string json;  // the event object ({"type","seq","time",...})
};

struct SourceEventPage {
  std::string epoch;  // the history these events belong to
  std::vector<SourceEvent> events;
  std::uint64_t position = 0;  // resume point: seq of the last event returned (or the request's)
  std::uint64_t last_seq = 0;  // newest event in the log
};

// Operations, also the capability names of ARCHITECTURE §6 (wire names).
enum class Op { create, list, detail, input, cancel, stop, transcript, events, events_ws };
std::string_view capability_name(Op op);

class Source {
 public:
  virtual ~Source() = default;

  virtual const std::string& id() const = 0;
  virtual std::string_view kind() const = 0;  // "embedded" | "remote"

  // Never fails: an unreachable runtime is a RuntimeInfo with its health and
  // diagnostic. `refresh` asks a remote runtime now instead of answering from
  // the cached summary.
  virtual void info(bool refresh, std::function<void(RuntimeInfo)> done) = 0;

  virtual void create(rt::CreateWorker request, Callback<rt::WorkerDetail> done) = 0;
  virtual void list(rt::ListWorkers request, Callback<rt::WorkerPage> done) = 0;
  virtual void detail(std::string worker_id, Callback<rt::WorkerDetail> done) = 0;
  virtual void input(std::string worker_id, rt::Input request,
                     Callback<rt::InputAccepted> done) = 0;
  virtual void cancel(std::string worker_id, std::optional<std::string> reason,
                      Callback<rt::CancelResult> done) = 0;
  virtual void stop(std::string worker_id, std::optional<std::string> reason,
                    Callback<rt::WorkerDetail> done) = 0;
  virtual void transcript(std::string worker_id, std::uint64_t start, std::size_t limit,
                          Callback<rt::TranscriptPage> done) = 0;
  // Events strictly after `after` (absent: from the oldest retained event).
  // cursor_unknown when `after` names another epoch or a seq beyond the log,
  // cursor_expired when older than retention.
  virtual void events(std::string worker_id, std::optional<Position> after, std::size_t limit,
                      Callback<SourceEventPage> done) = 0;

  // Stops background work (probes, pooled connections). Idempotent.
  virtual void close() = 0;
};

}  // namespace yoi::backend
