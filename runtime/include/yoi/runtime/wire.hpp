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
//   text_done       {"run_id", "text"}
//   usage           {"run_id", "input_tokens", "output_tokens"}
//   run_finished    {"run_id", "result": "completed"|"cancelled"|"failed",
//                    "error"?: {"code", "message"}, "reason"?}
//   worker_stopped  {"reason"?}
//
// Stream frames (one JSON text message each):
//   {"type":"snapshot", "cursor", "seq", "runtime_id", "worker_id",
//    "worker": <worker>, "transcript_tail": [<item>...], "in_flight": {"run_id","text"} | null}
//   {"type":"event", "cursor", "seq", "runtime_id", "worker_id", "event": <event>}
//   {"type":"diagnostic", "code", "message", "action": "resync"|"wait"|"retry"|"fatal"}
//   {"type":"heartbeat", "cursor", "seq"}

#include <string>
#include <string_view>

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
// {"events": [{"cursor","seq","event"}...], "cursor", "last_seq"}
bj::object to_json(const EventPage& v);

// The worker record as the store keeps it (state document).
bj::object record_to_json(const WorkerRecord& v);
Result<WorkerRecord> record_from_json(const bj::object& o);

// ---- request decoding (bodies of POST routes); invalid_request / invalid_id ----
Result<CreateWorker> create_from_json(const bj::object& body, const Limits& limits);
Result<Input> input_from_json(const bj::object& body, const Limits& limits);
// cancel / stop: {"reason"?} or {}.
Result<std::optional<std::string>> reason_from_json(const bj::object& body);
bj::object to_json(const CreateWorker& v);  // for the remote client
bj::object to_json(const Input& v);

// ---- response decoding (remote source); runtime_bad_response on mismatch ----
Result<WorkerDetail> detail_from_json(const bj::value& v);
Result<WorkerPage> worker_page_from_json(const bj::value& v);
Result<InputAccepted> accepted_from_json(const bj::value& v);
Result<CancelResult> cancel_from_json(const bj::value& v);
Result<TranscriptPage> transcript_from_json(const bj::value& v);
Result<RuntimeSummary> summary_from_json(const bj::value& v);

// ---- stream frames ----
std::string snapshot_frame(const Snapshot& s);
std::string event_frame(std::string_view runtime_id, std::string_view worker_id, const Event& e);
std::string diagnostic_frame(Code code, std::string_view message, std::string_view action);
std::string heartbeat_frame(std::string_view cursor, std::uint64_t seq);

}  // namespace yoi::rt::wire
