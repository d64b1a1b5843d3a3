#pragma once
// Shared by both sources: a worker inside a `worker_created` event names the
// registry's runtime id, as worker details do (the conformance suite holds
// both sources to it).

#include <string.h>  // memmem

#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend::detail {

inline void relabel_event(boost::json::object& event, std::string_view runtime_id) {
  if (json::str_or_empty(event, "type") != "worker_created") return;
  if (auto* w = event.if_contains("worker"); w && w->is_object()) w->as_object()["runtime_id"] = runtime_id;
}

// Only worker_created events are re-encoded; everything else passes as is.
// The runtime's own layout names the type first (rt::wire::event_type_of):
// any other type there is known at a glance. An event in another layout (or
// of a type this build does not know) is searched with memmem, not
// std::string::find: find stops at every quote of the event (a memchr for
// the needle's first byte, then a compare), memmem scans once. This runs on
// every relayed event (issue 22).
// `type`: the event's type as event_type_of reads it, when the caller has it.
inline void relabel_event_json(std::string& event_json, std::string_view runtime_id,
                               std::optional<rt::wire::EventType> type) {
  if (type && *type != rt::wire::EventType::worker_created) return;
  constexpr std::string_view needle = "\"worker_created\"";
  if (!::memmem(event_json.data(), event_json.size(), needle.data(), needle.size())) return;
  auto v = json::parse(event_json, event_json.size() + 1);
  if (!v || !v->is_object()) return;
  relabel_event(v->as_object(), runtime_id);
  event_json = json::serialize(*v);
}

inline void relabel_event_json(std::string& event_json, std::string_view runtime_id) {
  relabel_event_json(event_json, runtime_id, rt::wire::event_type_of(event_json));
}

// A worker detail as a runtime sent it, relabelled without a DOM (issue 22):
// `text` must be one well-formed JSON object (json::parse's depth bound)
// whose top-level "runtime_id" is present once, as a plain string. That one
// value becomes `runtime_id` (a valid id: nothing to escape); when it
// already is, the bytes are copied as they are. Any other text: nullopt, and
// the caller decodes it the slow way, which decides what is an error.
std::optional<std::string> relabel_detail_text(std::string_view text, std::string_view runtime_id);

}  // namespace yoi::backend::detail
