#pragma once
// Shared by both sources: a worker inside a `worker_created` event names the
// registry's runtime id, as worker details do (the conformance suite holds
// both sources to it).

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "yoi/json.hpp"

namespace yoi::backend::detail {

inline void relabel_event(boost::json::object& event, std::string_view runtime_id) {
  if (json::str_or_empty(event, "type") != "worker_created") return;
  if (auto* w = event.if_contains("worker"); w && w->is_object()) w->as_object()["runtime_id"] = runtime_id;
}

// Only worker_created events are re-encoded; everything else passes as is.
inline void relabel_event_json(std::string& event_json, std::string_view runtime_id) {
  if (event_json.find("\"worker_created\"") == std::string::npos) return;
  auto v = json::parse(event_json, event_json.size() + 1);
  if (!v || !v->is_object()) return;
  relabel_event(v->as_object(), runtime_id);
  event_json = json::serialize(*v);
}

}  // namespace yoi::backend::detail
