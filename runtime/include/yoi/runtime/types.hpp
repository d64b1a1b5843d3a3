#pragma once
// The runtime core's value types: what goes in and out of Runtime's
// operations. Their JSON forms (the wire contract of ARCHITECTURE §6) are in
// wire.hpp.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "yoi/error.hpp"
#include "yoi/tools/policy.hpp"

namespace yoi::rt {

template <class T>
using Callback = std::function<void(Result<T>)>;

// awaiting_approval: a run is parked on a person's decision (ARCHITECTURE §15).
enum class WorkerStatus { idle, running, awaiting_approval, stopped };
std::string_view status_name(WorkerStatus s);
bool status_from_name(std::string_view name, WorkerStatus& out);

struct Intent {
  std::string kind = "assistant";  // "assistant" | "task" | "role"
  std::optional<std::string> objective;  // task
  std::optional<std::string> role;       // role
  std::optional<std::string> purpose;
};

struct CreateWorker {
  std::optional<std::string> worker_id;  // generated when absent
  std::optional<std::string> display_name;
  Intent intent;
  std::string profile = "runtime_default";
  boost::json::value config_bundle;  // null when absent; opaque, recorded
  std::vector<std::string> capabilities;
  boost::json::array workspace_refs;  // opaque, recorded
  boost::json::array mount_refs;      // opaque, recorded
};

// A directory the runtime may lend to workers (ARCHITECTURE §13).
struct WorkspaceConfig {
  std::string path;               // absolute host path (never shown)
  std::string access = "read";    // "read" | "write": the most it grants
};

// A tool call as the transcript and the snapshot show it (ARCHITECTURE §12).
struct ToolCallRef {
  std::string call_id;
  std::string name;
  std::string arguments;  // the model's JSON text, verbatim
};

struct PendingCall {
  std::string call_id;
  std::string name;
  std::string arguments;  // kept so a run parked on an approval can go on after a restart
};

// A call parked on a person's decision (ARCHITECTURE §15), as the worker
// detail lists it under `pending_approvals`.
struct PendingApproval {
  std::string run_id;
  std::string call_id;
  std::string name;
  std::string arguments;  // the model's JSON text, verbatim
  std::int64_t requested_at_ms = 0;
  boost::json::object rule;  // the rule that asked: {"tool", "pattern"?, "action", "source"}
};

// A person's answer to an approval.
struct ApprovalDecision {
  bool approve = false;
  std::optional<std::string> reason;
  bool remember = false;
};

// What an approval came to (the route's answer, and the record that makes
// the same answer twice idempotent).
struct ApprovalOutcome {
  std::string run_id;
  std::string call_id;
  std::string decision;  // "approved" | "denied"
  std::optional<std::string> reason;
  bool remember = false;
};

// The durable part of a worker (its state document).
struct WorkerRecord {
  std::string worker_id;
  std::string display_name;
  WorkerStatus status = WorkerStatus::idle;
  Intent intent;
  std::string profile;
  boost::json::value config_bundle;
  std::vector<std::string> capabilities;
  boost::json::array workspace_refs;
  boost::json::array mount_refs;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::string> current_run_id;  // set while running
  std::uint64_t run_count = 0;                // runs started, for run ids
  // Tool calls of the step in flight that have no result yet (state
  // document only): a restart gives each an `interrupted` result.
  std::vector<PendingCall> pending_calls;
  // The run's current step (state document only): a parked run goes on
  // from it after a restart.
  std::uint64_t run_step = 0;
  // Calls waiting for a person (ARCHITECTURE §15); shown in the detail.
  std::vector<PendingApproval> pending_approvals;
  // Allow rules a person added with "always allow"; shown in the detail,
  // tried before the profile's rules.
  std::vector<tools::Rule> remembered_rules;
  // The answers given in the current (or last) run, so the same answer
  // twice is idempotent and a different one is approval_resolved. Bounded;
  // state document only.
  std::vector<ApprovalOutcome> resolved_approvals;
  // Random, minted at create: tells this worker from an earlier, deleted one
  // of the same id (its cursors carry it). In the state document only.
  std::string incarnation;
};

struct WorkerDetail {
  std::string runtime_id;
  WorkerRecord record;
  std::uint64_t last_seq = 0;
  std::uint64_t transcript_total = 0;
};

struct ListWorkers {
  std::optional<std::string> after;  // page token: the last worker_id of the previous page
  std::size_t limit = 100;           // clamped to Limits::max_page
  std::optional<WorkerStatus> status;
};

struct WorkerPage {
  std::vector<WorkerDetail> workers;
  std::optional<std::string> next;
};

struct Input {
  std::string content;
  std::optional<std::string> client_message_id;
};

struct InputAccepted {
  std::string run_id;
  std::uint64_t seq = 0;  // seq of the input_accepted event
  std::optional<std::string> client_message_id;
  bool duplicate = false;  // a re-send of an earlier client_message_id
};

struct CancelResult {
  bool cancelled = false;  // false: nothing was running
  std::optional<std::string> run_id;
  WorkerStatus status = WorkerStatus::idle;
};

struct TranscriptItem {
  std::uint64_t index = 0;
  std::uint64_t seq = 0;  // the event that produced it
  std::string role;       // "user" | "assistant" | "tool"
  std::string content;    // tool: the bounded output fed to the model
  std::string run_id;
  // assistant: "completed" | "cancelled" | "failed". Every run that ends
  // leaves one assistant item, even with empty content (issue 18).
  std::optional<std::string> result;
  std::optional<Error> error;  // assistant, failed: the run's error (as in its run_finished)
  std::vector<ToolCallRef> tool_calls;  // assistant: the calls its step made
  std::string call_id;                  // tool
  std::string name;                     // tool
  bool ok = false;                      // tool
  // tool, failed: the tool's error {code, message} (a §12 tool code, so a
  // string, not a Code), on the wire as the item's `error`.
  std::optional<std::pair<std::string, std::string>> tool_error;
  // tool: how long the call ran (absent on items written before it was kept).
  std::optional<std::uint64_t> duration_ms;
  std::int64_t time_ms = 0;
};

struct TranscriptPage {
  std::vector<TranscriptItem> items;
  std::uint64_t total = 0;
  std::optional<std::uint64_t> next;
};

// One event as the log holds it: `json` is the whole event object
// ({"type", "seq", "time", ...fields}) serialised once at append.
struct Event {
  std::uint64_t seq = 0;
  std::string json;
  std::string cursor;  // position of this event
};

struct EventPage {
  std::string epoch;  // the worker's history (the epoch part of its cursors)
  std::vector<Event> events;
  std::string cursor;  // resume point: after the last event returned (or the request's)
  std::uint64_t last_seq = 0;  // newest event in the log
};

struct InFlightCall {
  ToolCallRef call;
  std::string state = "running";  // "running" | "awaiting_approval"
};

struct InFlight {
  std::string run_id;
  std::string text;  // reply so far (every step's text)
  std::uint64_t step = 1;
  std::vector<InFlightCall> calls;  // unresolved
};

struct Snapshot {
  std::string epoch;  // the worker's history (the epoch part of its cursors)
  WorkerDetail detail;
  std::vector<TranscriptItem> transcript_tail;
  std::optional<InFlight> in_flight;
  std::uint64_t seq = 0;
  std::string cursor;  // the snapshot is as of this position
};

struct Limits {
  std::size_t max_workers = 100'000;
  std::size_t max_content_bytes = 256 * 1024;
  std::size_t max_display_name = 200;
  std::size_t default_page = 100;
  std::size_t max_page = 1000;
  std::size_t snapshot_transcript_tail = 20;
  // ... and of them the newest that fit in these bytes (content and tool
  // arguments): a snapshot frame stays far below any proxy's frame limit
  // (yoi-server's max_upstream_frame, 8 MiB), whatever the replies' size.
  std::size_t snapshot_transcript_bytes = 1u << 20;
  std::size_t retention_events = 100'000;  // per worker
  std::size_t retention_bytes = 64u << 20;  // per worker
  std::size_t dedupe_window = 256;          // client_message_ids remembered per worker
  std::size_t max_tool_output_bytes = 32 * 1024;  // a tool result's output (head and tail kept)
  std::size_t max_tool_stream_bytes = 1 << 20;   // bash output streamed as tool_output, per call
  // A run's reply text, all its steps (a model is untrusted input): past it
  // the run fails with payload_too_large. Every event and frame that carries
  // a reply (text_done, a snapshot's in_flight, a transcript item) then stays
  // far below any proxy's frame limit (yoi-server's max_upstream_frame,
  // 8 MiB: a reply escapes to at most six times its bytes).
  std::size_t max_reply_bytes = 1 << 20;
  std::size_t max_remembered_rules = 256;  // per worker; the oldest goes first
  std::size_t max_resolved_approvals = 64;  // per worker, for idempotent answers
};

struct RuntimeSummary {
  std::string runtime_id;
  std::string display_name;
  std::string epoch;
  std::string version;
  std::string status = "ready";
  std::string store;  // "memory" | "fs"
  std::map<std::string, std::size_t> worker_counts;  // "total", "idle", "running", "awaiting_approval", "stopped"
  Limits limits;
  std::vector<std::string> capabilities;
  std::vector<std::string> profiles;
  std::vector<std::string> bundles;  // digests of the config bundles held (§16)
  // The workspaces it lends (§13): name -> the most access it grants. Never
  // a path.
  std::map<std::string, std::string> workspaces;
};

// A config bundle the runtime holds (ARCHITECTURE §16).
struct BundleInfo {
  std::string digest;
  std::vector<std::string> profiles;  // names, sorted
  std::size_t workers = 0;            // worker records (stopped ones too) pinned to it
};

struct BundlePut {
  bool created = false;  // false: it was already held
  BundleInfo bundle;
};

// The operations a runtime supports, as listed in its summary.
inline const std::vector<std::string>& all_capabilities() {
  static const std::vector<std::string> caps{
      "workers.create", "workers.list",       "workers.detail",    "workers.input",
      "workers.cancel", "workers.stop",       "workers.transcript", "workers.events",
      "workers.events.ws", "workers.delete", "workers.approve", "bundles"};
  return caps;
}

}  // namespace yoi::rt
