#pragma once
// The JSON forms of the runtime's types: the wire contract of ARCHITECTURE
// §5-6, shared by yoi-runtime (encoding), the backend's embedded source
// (encoding) and its remote source (decoding). Field names are part of the
// contract: add fields freely, never rename.
//
// Event objects (inside the log and inside `event` frames) all carry
// {"type", "seq", "time"} plus, by type:
//   worker_created  {"worker": <worker>}
//   status          {"status", "previous"}
//   input_accepted  {"run_id", "content", "client_message_id"?}
//   run_started     {"run_id", "profile"}
//   text_delta      {"run_id", "delta"}
//   text_done       {"run_id", "step", "text"}
//   tool_call       {"run_id", "step", "call_id", "name", "arguments"}
//   tool_output     {"run_id", "call_id", "stream": "stdout"|"stderr", "delta"} (bash)
//   tool_result     {"run_id", "call_id", "name", "ok", "output", "truncated",
//                    "error"?: {"code", "message"}, "exit_code"? (bash), "duration_ms"}
//   usage           {"run_id", "input_tokens", "output_tokens"}
//   run_finished    {"run_id", "result": "completed"|"cancelled"|"failed",
//                    "error"?: {"code", "message"}, "reason"?, "steps"}
//   worker_stopped  {"reason"?}
//   approval_requested {"run_id", "call_id", "name", "arguments",
//                       "rule": {"tool", "pattern"?, "action", "source"}}
//   approval_resolved  {"run_id", "call_id", "decision": "approved"|"denied",
//                       "reason"?, "remember"}
//
// Transcript items: {"index", "seq", "role", "content", "run_id",
//   "result"? (assistant, the run's last), "error"?: {"code", "message"} (assistant, failed),
//   "tool_calls"?: [{"call_id", "name", "arguments"}] (assistant, a step that called tools),
//   "call_id", "name", "ok" (tool: content is the bounded output), "time"}
//
// Stream frames (one JSON text message each):
//   {"type":"snapshot", "cursor", "seq", "runtime_id", "worker_id",
//    "worker": <worker>, "transcript_tail": [<item>...], "in_flight": {"run_id","text","step",
//    "calls": [{"call_id","name","arguments","state"}]} | null}
//   {"type":"event", "cursor", "seq", "runtime_id", "worker_id", "event": <event>}
//   {"type":"diagnostic", "code", "message", "action": "resync"|"wait"|"retry"|"fatal"}
//   {"type":"heartbeat", "cursor", "seq"}

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "yoi/runtime/types.hpp"

namespace yoi::rt::wire {

namespace bj = boost::json;

// ---- encoding ----
bj::object to_json(const Intent& v);
bj::object to_json(const WorkerDetail& v);  // {"runtime_id","worker_id","display_name","status",...}
bj::object to_json(const WorkerPage& v);    // {"workers": [...], "next"?}
bj::object to_json(const InputAccepted& v); // {"accepted": true, "run_id", "seq", "client_message_id"?, "duplicate"}
bj::object to_json(const CancelResult& v);  // {"cancelled", "run_id"?, "status"}
bj::object to_json(const TranscriptItem& v);
bj::object to_json(const TranscriptPage& v);  // {"items": [...], "total", "next"?}
bj::object to_json(const RuntimeSummary& v);  // {"runtime_id", "display_name", "epoch", ...}
bj::object to_json(const ApprovalOutcome& v);  // {"run_id", "call_id", "decision", "reason"?, "remember"}
bj::object to_json(const ApprovalDecision& v);  // the request, for the remote client
// {"events": [{"cursor","seq","event"}...], "cursor", "last_seq"}
bj::object to_json(const EventPage& v);
bj::object to_json(const BundleInfo& v);  // {"digest", "profiles": [names], "workers"}
bj::object to_json(const BundlePut& v);   // BundleInfo's fields and "created"
bj::object to_json(const std::vector<BundleInfo>& v);  // {"bundles": [...]}

// The worker record as the store keeps it (state document).
bj::object record_to_json(const WorkerRecord& v);
Result<WorkerRecord> record_from_json(const bj::object& o);

// ---- request decoding (bodies of POST routes); invalid_request / invalid_id ----
Result<CreateWorker> create_from_json(const bj::object& body, const Limits& limits);
Result<Input> input_from_json(const bj::object& body, const Limits& limits);
// cancel / stop: {"reason"?} or {}.
Result<std::optional<std::string>> reason_from_json(const bj::object& body);
// approvals: {"decision": "approve"|"deny", "reason"?, "remember"?}
Result<ApprovalDecision> approval_decision_from_json(const bj::object& body);
bj::object to_json(const CreateWorker& v);  // for the remote client
bj::object to_json(const Input& v);

// ---- response decoding (remote source); runtime_bad_response on mismatch ----
Result<WorkerDetail> detail_from_json(const bj::value& v);
Result<WorkerPage> worker_page_from_json(const bj::value& v);
Result<InputAccepted> accepted_from_json(const bj::value& v);
Result<CancelResult> cancel_from_json(const bj::value& v);
Result<TranscriptPage> transcript_from_json(const bj::value& v);
// One item of a transcript page, as the store keeps it too.
Result<TranscriptItem> transcript_item_from_json(const bj::value& v);
Result<RuntimeSummary> summary_from_json(const bj::value& v);
Result<BundlePut> bundle_put_from_json(const bj::value& v);
Result<std::vector<BundleInfo>> bundles_from_json(const bj::value& v);
Result<ApprovalOutcome> approval_from_json(const bj::value& v);

// ---- events: one type enum, one builder per type (ARCHITECTURE §5) ----
// The core appends events only through these; readers ask event_type_of
// rather than searching the JSON text.
enum class EventType : std::uint8_t {
  worker_created,
  status,
  input_accepted,
  run_started,
  text_delta,
  text_done,
  usage,
  run_finished,
  worker_stopped,
  tool_call,
  tool_result,
  tool_output,
  approval_requested,
  approval_resolved,
};
inline constexpr EventType kEventTypes[] = {
    EventType::worker_created, EventType::status,    EventType::input_accepted,
    EventType::run_started,    EventType::text_delta, EventType::text_done,
    EventType::usage,          EventType::run_finished, EventType::worker_stopped,
    EventType::tool_call,      EventType::tool_result,    EventType::tool_output,
    EventType::approval_requested, EventType::approval_resolved,
};
std::string_view event_type_name(EventType t);
std::optional<EventType> event_type_from_name(std::string_view name);
// The type of an event as the core serialises it ("type" first), read
// without a DOM; nullopt for anything else.
std::optional<EventType> event_type_of(std::string_view event_json);

// An event before it has a place in a log: its type and its own fields.
struct EventBody {
  EventType type;
  bj::object fields;
};

// A tool call's result as tool_result carries it; `error` is {code, message}
// of a failed call, a tool code (ARCHITECTURE §12).
struct ToolOutcome {
  bool ok = false;
  std::string output;
  bool truncated = false;
  std::optional<std::pair<std::string, std::string>> error;
  std::uint64_t duration_ms = 0;
  std::optional<int> exit_code;  // bash: the command ran to its end
};

namespace event {
EventBody worker_created(const WorkerDetail& worker);
EventBody status(WorkerStatus now, WorkerStatus previous);
EventBody input_accepted(std::string_view run_id, std::string_view content,
                         const std::optional<std::string>& client_message_id);
EventBody run_started(std::string_view run_id, std::string_view profile);
EventBody text_done(std::string_view run_id, std::uint64_t step, std::string_view text);
EventBody tool_call(std::string_view run_id, std::uint64_t step, const ToolCallRef& call);
EventBody tool_result(std::string_view run_id, std::string_view call_id, std::string_view name,
                      const ToolOutcome& outcome);
// A piece of a running bash command's output (coalesced, valid UTF-8).
EventBody tool_output(std::string_view run_id, std::string_view call_id, std::string_view stream,
                      std::string_view delta);
// The run's token usage so far, summed over its steps; `step` reported last.
EventBody usage(std::string_view run_id, std::uint64_t step, std::uint64_t input_tokens, std::uint64_t output_tokens);
// result: "completed" | "cancelled" | "failed"
EventBody run_finished(std::string_view run_id, std::string_view result, const std::optional<Error>& error,
                       const std::optional<std::string>& reason, std::uint64_t steps);
EventBody worker_stopped(const std::optional<std::string>& reason);
EventBody approval_requested(const PendingApproval& a);
EventBody approval_resolved(const ApprovalOutcome& a);
}  // namespace event

// The stored form: {"type", "seq", "time", ...fields}.
std::string encode_event(const EventBody& body, std::uint64_t seq, std::int64_t time_ms);
// text_delta, the hot path: the same bytes as encode_event, appended to
// `out` with no DOM.
void append_text_delta(std::string& out, std::uint64_t seq, std::int64_t time_ms, std::string_view run_id,
                       std::string_view delta);

// ---- stream frames ----
std::string snapshot_frame(const Snapshot& s);
std::string event_frame(std::string_view runtime_id, std::string_view worker_id, const Event& e);
// The same frame from its parts (the backend's relay mints the cursor into a
// buffer it reuses).
std::string event_frame(std::string_view runtime_id, std::string_view worker_id, std::uint64_t seq,
                        std::string_view event_json, std::string_view cursor);
// An event frame is its head, the event JSON, and `}`: the head depends only
// on the worker, the seq and its cursor, so the backend's relay writes the
// next event's head before that event arrives (issue 22). Appended to `out`.
void append_event_frame_head(std::string& out, std::string_view runtime_id, std::string_view worker_id,
                             std::uint64_t seq, std::string_view cursor);
// An event frame read back without a DOM, for the backend's relay: exactly
// the layout event_frame writes, with plain strings (no escapes) and an
// event that is a JSON object. nullopt otherwise (the caller then parses the
// frame in general). wire_test round-trips it against event_frame, so a
// change of field order cannot silently fall off the fast path.
struct EventFrameView {
  std::string_view cursor;
  std::uint64_t seq = 0;
  std::string_view runtime_id;
  std::string_view worker_id;
  std::string_view event;
};
std::optional<EventFrameView> scan_event_frame(std::string_view frame);
// An events page (§6, `GET /v1/workers/{id}/events`) written without a DOM:
// to_json(EventPage)'s layout, each stored event spliced in as it is (as
// event_frame does).
std::string event_page_text(const EventPage& page);
// ... and read back without one, for the backend's catch-up pages (issue
// 22): exactly the layout event_page_text writes, plain cursor strings,
// every event a JSON object. nullopt otherwise (the caller then parses the
// page in general). wire_test round-trips it against the writer.
struct EventPageView {
  struct Item {
    std::string_view cursor;
    std::uint64_t seq = 0;
    std::string_view event;
  };
  std::vector<Item> events;
  std::string_view cursor;
  std::uint64_t last_seq = 0;
};
std::optional<EventPageView> scan_event_page(std::string_view text);
std::string diagnostic_frame(Code code, std::string_view message, std::string_view action);
std::string heartbeat_frame(std::string_view cursor, std::uint64_t seq);

}  // namespace yoi::rt::wire
