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

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

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
// `epoch`, as the source reported it (the epoch part of the runtime's
// cursors: runtime epoch + worker incarnation, runtime/cursor.hpp). A worker
// deleted and created again under the same id has a new history, so a
// position of the old one is cursor_unknown, never a place in the new log.
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

// ---------------------------------------------------------------- event streams
// One worker's live event stream: the observation proxy's upstream (one per
// watched worker, backend/OBSERVE.md). Embedded: Runtime::subscribe wakes a
// drain of read_after. Remote: a WebSocket client of the runtime's
// /v1/workers/{id}/events/ws.

// A runtime snapshot frame, runtime cursor removed: `frame` still names the
// runtime's own id (the proxy rewrites it), `epoch`/`seq` are its position.
struct StreamSnapshot {
  std::string epoch;
  std::uint64_t seq = 0;
  boost::json::object frame;
};

// What one connection reports, on the io thread, never inline from a call:
// `connected` once the stream is open, then any number of `snapshot` /
// `event` / `diagnostic` / `idle`, and finally `lost` exactly once (unless
// disconnect() came first: after disconnect() no handler runs).
struct StreamHandlers {
  std::function<void()> connected;
  std::function<void(StreamSnapshot)> snapshot;
  // One event: its seq and JSON. The views are valid during the call only
  // (the remote stream's are views of the frame it read: no string per
  // event; the proxy copies the event into a buffer it reuses).
  std::function<void(std::string_view epoch, std::uint64_t seq, std::string_view event_json)> event;
  // Everything the stream had at hand has been delivered: it is about to
  // wait (for the network, or the runtime's next append). The proxy hands
  // the events delivered since the last idle() to its clients then, as one
  // batch each.
  std::function<void()> idle;
  // The runtime's own stream diagnostic (ARCHITECTURE §5) and its action.
  std::function<void(Error, std::string action)> diagnostic;
  // The stream ended; the error says why (map_failure's codes).
  std::function<void(Error)> lost;
};

// Remote streams only; a remote source caps both deadlines by its runtime's
// configured timeouts.
struct StreamOptions {
  std::chrono::milliseconds connect_timeout{3'000};  // DNS + connect + TLS + handshake
  // Silence (no frame, no pong) after which the stream counts as lost; pings
  // go out at half of it. A cut or blackholed link sends no RST: this is how
  // it is noticed.
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_frame = 8u << 20;
};

class EventStream {
 public:
  virtual ~EventStream() = default;
  // Streams events strictly after `after`; without one the stream starts with
  // a snapshot. A position the runtime cannot honour yields a diagnostic
  // (cursor_expired / cursor_unknown, action resync) and then a snapshot.
  // Connecting again replaces the previous connection and its handlers.
  virtual void connect(std::optional<Position> after, StreamHandlers handlers) = 0;
  // Idempotent; may be called from inside a handler. After it, and after
  // the stream's destruction, no handler runs, so handlers may hold their
  // owner by a plain pointer. The stream itself must not be destroyed from
  // inside one of its handlers.
  virtual void disconnect() = 0;
  // A fresh snapshot, independent of the stream (one-shot).
  virtual void snapshot(std::function<void(Result<StreamSnapshot>)> done) = 0;
};

// Operations, also the capability names of ARCHITECTURE §6 (wire names).
enum class Op { create, list, detail, input, cancel, stop, transcript, events, events_ws, remove, approve, bundles };
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
  // The limits the runtime advertises (its summary's), as last seen, without
  // calling it: what the backend checks bodies against before forwarding.
  // nullopt while a remote runtime has never answered.
  virtual std::optional<rt::Limits> limits() const = 0;
  // A write through this backend changed the runtime's workers (the
  // registry's after_write calls it): the next info() must not answer from a
  // summary read before the write. No-op for a source whose summary is live.
  virtual void workers_changed() {}

  virtual void create(rt::CreateWorker request, Callback<rt::WorkerDetail> done) = 0;
  virtual void list(rt::ListWorkers request, Callback<rt::WorkerPage> done) = 0;
  virtual void detail(std::string worker_id, Callback<rt::WorkerDetail> done) = 0;
  // detail() as the JSON text a browser gets (runtime_id the registry's),
  // for GET of a worker, the hot path. The default encodes detail()'s value;
  // the remote source passes the runtime's reply on with that one field
  // rewritten, without a DOM (issue 22).
  virtual void detail_text(std::string worker_id, Callback<std::string> done);
  virtual void input(std::string worker_id, rt::Input request,
                     Callback<rt::InputAccepted> done) = 0;
  // input() as the JSON text a browser gets, for POST of an input, the hot
  // path. The default encodes input()'s value; the remote source passes a
  // plain acceptance on as the runtime sent it, without a DOM (issue 22).
  virtual void input_text(std::string worker_id, rt::Input request, Callback<std::string> done);
  virtual void cancel(std::string worker_id, std::optional<std::string> reason,
                      Callback<rt::CancelResult> done) = 0;
  virtual void stop(std::string worker_id, std::optional<std::string> reason,
                    Callback<rt::WorkerDetail> done) = 0;
  // Deletes a stopped worker (ARCHITECTURE §17). worker_not_stopped,
  // worker_not_found; unsupported when a remote runtime lacks workers.delete.
  virtual void remove(std::string worker_id, Callback<void> done) = 0;
  // Answers a call awaiting approval (ARCHITECTURE §15). approval_not_found,
  // approval_resolved, worker_not_found; unsupported when a remote runtime
  // lacks workers.approve.
  virtual void approve(std::string worker_id, std::string call_id, rt::ApprovalDecision decision,
                       Callback<rt::ApprovalOutcome> done) = 0;
  virtual void transcript(std::string worker_id, std::uint64_t start, std::size_t limit,
                          Callback<rt::TranscriptPage> done) = 0;
  // Events strictly after `after` (absent: from the oldest retained event).
  // cursor_unknown when `after` names another epoch or a seq beyond the log,
  // cursor_expired when older than retention.
  virtual void events(std::string worker_id, std::optional<Position> after, std::size_t limit,
                      Callback<SourceEventPage> done) = 0;
  // Config bundles (ARCHITECTURE §16): stores `body` ({"digest",
  // "profiles"}) under its digest on the runtime (201/200 there), and lists
  // the bundles it holds. unsupported when a remote runtime lacks `bundles`.
  virtual void put_bundle(std::string digest, boost::json::object body, Callback<rt::BundlePut> done) = 0;
  virtual void bundles(Callback<std::vector<rt::BundleInfo>> done) = 0;

  // The worker's live event stream, not connected yet (EventStream::connect).
  // Never fails here: an unknown worker or an unreachable runtime is reported
  // by the stream itself. An embedded source's stream borrows its Runtime, as
  // the source does; a remote one holds its own copy of the endpoint and
  // token, so it may outlive close().
  virtual std::unique_ptr<EventStream> event_stream(std::string worker_id,
                                                    const StreamOptions& options) = 0;

  // Stops background work (probes, pooled connections). Idempotent.
  virtual void close() = 0;
};

}  // namespace yoi::backend
