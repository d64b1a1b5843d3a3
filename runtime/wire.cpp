#include "yoi/runtime/wire.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "yoi/ids.hpp"
#include "yoi/profiles/bundle.hpp"
#include "yoi/json.hpp"

namespace yoi::rt {

std::string_view status_name(WorkerStatus s) {
  switch (s) {
    case WorkerStatus::idle: return "idle";
    case WorkerStatus::running: return "running";
    case WorkerStatus::awaiting_approval: return "awaiting_approval";
    case WorkerStatus::stopped: return "stopped";
  }
  return "idle";
}

bool status_from_name(std::string_view name, WorkerStatus& out) {
  for (auto s : {WorkerStatus::idle, WorkerStatus::running, WorkerStatus::awaiting_approval, WorkerStatus::stopped})
    if (status_name(s) == name) {
      out = s;
      return true;
    }
  return false;
}

namespace wire {
namespace {

using yoi::json::opt_array;
using yoi::json::opt_int;
using yoi::json::opt_object;
using yoi::json::opt_string;

bj::array string_array(const std::vector<std::string>& v) {
  bj::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

Result<std::vector<std::string>> strings_from(const bj::array& a, std::string_view key) {
  std::vector<std::string> out;
  for (const auto& v : a) {
    if (!v.is_string())
      return fail(Code::invalid_request, fmt::format("field '{}' must be an array of strings", key));
    out.emplace_back(v.get_string());
  }
  return out;
}

// Decoders of runtime responses report a mismatch as runtime_bad_response;
// request decoders as invalid_request. `as_bad` converts the former.
template <class T>
Result<T> as_bad(Result<T> r) {
  if (!r) return fail(Code::runtime_bad_response, "runtime reply: " + r.error().message);
  return r;
}

Result<const bj::object*> object_of(const bj::value& v) {
  if (!v.is_object()) return fail(Code::runtime_bad_response, "runtime reply is not an object");
  return &v.get_object();
}

Result<std::uint64_t> u64(const bj::object& o, std::string_view key, bool required = true) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    if (required)
      return fail(Code::runtime_bad_response, fmt::format("runtime reply lacks '{}'", key));
    return 0;
  }
  const auto& v = it->value();
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  return fail(Code::runtime_bad_response, fmt::format("runtime reply field '{}' is not a count", key));
}

Result<Intent> intent_from(const bj::object& o) {
  if (auto k = json::only_keys(o, {"kind", "objective", "role", "purpose"}, "intent"); !k)
    return fail(k.error());
  Intent in;
  auto kind = opt_string(o, "kind");
  if (!kind) return fail(kind.error());
  if (*kind) in.kind = **kind;
  if (in.kind != "assistant" && in.kind != "task" && in.kind != "role")
    return fail(Code::invalid_request, "intent.kind must be 'assistant', 'task' or 'role'");
  auto objective = opt_string(o, "objective");
  auto role = opt_string(o, "role");
  auto purpose = opt_string(o, "purpose");
  if (!objective) return fail(objective.error());
  if (!role) return fail(role.error());
  if (!purpose) return fail(purpose.error());
  in.objective = *objective;
  in.role = *role;
  in.purpose = *purpose;
  if (in.kind == "task" && (!in.objective || in.objective->empty()))
    return fail(Code::invalid_request, "intent of kind 'task' needs an 'objective'");
  if (in.kind == "role" && (!in.role || in.role->empty()))
    return fail(Code::invalid_request, "intent of kind 'role' needs a 'role'");
  for (const auto* s : {&in.objective, &in.role, &in.purpose})
    if (*s && (*s)->size() > 4096)
      return fail(Code::invalid_request, "intent fields are limited to 4096 bytes");
  return in;
}

// Shared by record_from_json and detail_from_json.
Result<WorkerRecord> record_fields(const bj::object& o) {
  WorkerRecord r;
  auto id = json::req_string(o, "worker_id");
  if (!id) return fail(id.error());
  r.worker_id = *id;
  r.display_name = std::string(json::str_or_empty(o, "display_name"));
  if (!status_from_name(json::str_or_empty(o, "status"), r.status))
    return fail(Code::invalid_request, "unknown worker status");
  if (auto it = o.find("intent"); it != o.end() && it->value().is_object()) {
    auto in = intent_from(it->value().get_object());
    if (!in) return fail(in.error());
    r.intent = *in;
  }
  r.profile = std::string(json::str_or_empty(o, "profile"));
  if (auto it = o.find("config_bundle"); it != o.end()) r.config_bundle = it->value();
  auto caps = opt_array(o, "capabilities");
  if (!caps) return fail(caps.error());
  if (*caps) {
    auto v = strings_from(**caps, "capabilities");
    if (!v) return fail(v.error());
    r.capabilities = std::move(*v);
  }
  auto ws = opt_array(o, "workspace_refs");
  auto mounts = opt_array(o, "mount_refs");
  if (!ws) return fail(ws.error());
  if (!mounts) return fail(mounts.error());
  if (*ws) r.workspace_refs = std::move(**ws);
  if (*mounts) r.mount_refs = std::move(**mounts);
  auto created = opt_int(o, "created_at");
  auto updated = opt_int(o, "updated_at");
  auto run_id = opt_string(o, "current_run_id");
  auto runs = opt_int(o, "run_count");
  if (!created) return fail(created.error());
  if (!updated) return fail(updated.error());
  if (!run_id) return fail(run_id.error());
  if (!runs) return fail(runs.error());
  r.created_at_ms = created->value_or(0);
  r.updated_at_ms = updated->value_or(0);
  r.current_run_id = *run_id;
  r.run_count = static_cast<std::uint64_t>(runs->value_or(0));
  if (auto it = o.find("pending_approvals"); it != o.end() && it->value().is_array()) {
    for (const auto& a : it->value().get_array()) {
      if (!a.is_object()) return fail(Code::invalid_request, "pending_approvals: each entry must be an object");
      const auto& ao = a.get_object();
      PendingApproval pa;
      pa.run_id = std::string(json::str_or_empty(ao, "run_id"));
      pa.call_id = std::string(json::str_or_empty(ao, "call_id"));
      pa.name = std::string(json::str_or_empty(ao, "name"));
      pa.arguments = std::string(json::str_or_empty(ao, "arguments"));
      if (auto t = ao.if_contains("requested_at"); t && t->is_int64()) pa.requested_at_ms = t->get_int64();
      if (auto ru = ao.if_contains("rule"); ru && ru->is_object()) pa.rule = ru->get_object();
      r.pending_approvals.push_back(std::move(pa));
    }
  }
  if (auto it = o.find("remembered_rules"); it != o.end() && it->value().is_array()) {
    for (const auto& a : it->value().get_array()) {
      if (!a.is_object()) return fail(Code::invalid_request, "remembered_rules: each entry must be an object");
      const auto& ao = a.get_object();
      tools::Rule rule;
      rule.tool = std::string(json::str_or_empty(ao, "tool"));
      if (auto pt = ao.if_contains("pattern"); pt && pt->is_string()) rule.pattern = std::string(pt->get_string());
      auto action = tools::action_from_name(json::str_or_empty(ao, "action"));
      if (!action) return fail(Code::invalid_request, "remembered_rules: unknown action");
      rule.action = *action;
      r.remembered_rules.push_back(std::move(rule));
    }
  }
  return r;
}

void put_record_fields(bj::object& o, const WorkerRecord& v) {
  o["worker_id"] = v.worker_id;
  o["display_name"] = v.display_name;
  o["status"] = status_name(v.status);
  o["intent"] = to_json(v.intent);
  o["profile"] = v.profile;
  if (!v.config_bundle.is_null()) o["config_bundle"] = v.config_bundle;
  o["capabilities"] = string_array(v.capabilities);
  o["workspace_refs"] = v.workspace_refs;
  o["mount_refs"] = v.mount_refs;
  o["created_at"] = v.created_at_ms;
  o["updated_at"] = v.updated_at_ms;
  if (v.current_run_id) o["current_run_id"] = *v.current_run_id;
  o["run_count"] = v.run_count;
  bj::array pending;
  for (const auto& a : v.pending_approvals)
    pending.push_back(bj::object{{"run_id", a.run_id},
                                 {"call_id", a.call_id},
                                 {"name", a.name},
                                 {"arguments", a.arguments},
                                 {"requested_at", a.requested_at_ms},
                                 {"rule", a.rule}});
  o["pending_approvals"] = std::move(pending);
  bj::array rules;
  for (const auto& r : v.remembered_rules) rules.push_back(tools::rule_to_json(r));
  o["remembered_rules"] = std::move(rules);
}

bj::array calls_to_json(const std::vector<ToolCallRef>& calls) {
  bj::array out;
  out.reserve(calls.size());
  for (const auto& c : calls)
    out.push_back(bj::object{{"call_id", c.call_id}, {"name", c.name}, {"arguments", c.arguments}});
  return out;
}

Result<TranscriptItem> item_from(const bj::value& v) {
  if (!v.is_object()) return fail(Code::runtime_bad_response, "transcript item is not an object");
  const auto& o = v.get_object();
  TranscriptItem it;
  auto index = u64(o, "index", false);
  auto seq = u64(o, "seq", false);
  if (!index) return fail(index.error());
  if (!seq) return fail(seq.error());
  it.index = *index;
  it.seq = *seq;
  it.role = std::string(json::str_or_empty(o, "role"));
  it.content = std::string(json::str_or_empty(o, "content"));
  it.run_id = std::string(json::str_or_empty(o, "run_id"));
  if (auto r = json::str_or_empty(o, "result"); !r.empty()) it.result = std::string(r);
  if (auto e = o.find("error"); e != o.end() && e->value().is_object() && it.role == "tool") {
    const auto& eo = e->value().get_object();
    it.tool_error = std::pair{std::string(json::str_or_empty(eo, "code")), std::string(json::str_or_empty(eo, "message"))};
  } else if (e != o.end() && e->value().is_object()) {
    // A code this build does not know (a newer runtime) reads as runtime_error,
    // like a stream diagnostic's (backend/src/upstream_error.cpp).
    const auto& eo = e->value().get_object();
    Error err{Code::runtime_error, std::string(json::str_or_empty(eo, "message"))};
    if (!code_from_name(json::str_or_empty(eo, "code"), err.code)) err.code = Code::runtime_error;
    it.error = std::move(err);
  }
  if (auto t = o.find("time"); t != o.end() && t->value().is_int64()) it.time_ms = t->value().get_int64();
  if (auto c = o.find("tool_calls"); c != o.end() && c->value().is_array()) {
    for (const auto& call : c->value().get_array()) {
      if (!call.is_object()) return fail(Code::runtime_bad_response, "transcript item has a malformed tool call");
      const auto& co = call.get_object();
      it.tool_calls.push_back(ToolCallRef{std::string(json::str_or_empty(co, "call_id")),
                                          std::string(json::str_or_empty(co, "name")),
                                          std::string(json::str_or_empty(co, "arguments"))});
    }
  }
  it.call_id = std::string(json::str_or_empty(o, "call_id"));
  it.name = std::string(json::str_or_empty(o, "name"));
  if (auto k = o.find("ok"); k != o.end() && k->value().is_bool()) it.ok = k->value().get_bool();
  if (o.contains("duration_ms")) {
    auto d = u64(o, "duration_ms", false);
    if (!d) return fail(d.error());
    it.duration_ms = *d;
  }
  if (it.role != "user" && it.role != "assistant" && it.role != "tool")
    return fail(Code::runtime_bad_response, "transcript item has an unknown role");
  return it;
}

// A non-negative integer that fits a size_t; nullopt otherwise.
std::optional<std::size_t> count_of(const bj::value& v) {
  boost::system::error_code ec;
  auto n = v.to_number<std::size_t>(ec);
  if (ec) return std::nullopt;
  return n;
}

}  // namespace

// ---- encoding ----

bj::object to_json(const Intent& v) {
  bj::object o;
  o["kind"] = v.kind;
  if (v.objective) o["objective"] = *v.objective;
  if (v.role) o["role"] = *v.role;
  if (v.purpose) o["purpose"] = *v.purpose;
  return o;
}

bj::object to_json(const WorkerDetail& v) {
  bj::object o;
  o["runtime_id"] = v.runtime_id;
  put_record_fields(o, v.record);
  o["last_seq"] = v.last_seq;
  o["transcript_total"] = v.transcript_total;
  // The worker's view (ARCHITECTURE §13), as paths inside it: never a host path.
  o["home"] = "/work";
  bj::array mounts;
  for (const auto& ref : v.record.workspace_refs) {
    if (!ref.is_object()) continue;
    auto name = json::str_or_empty(ref.get_object(), "name");
    mounts.push_back(bj::object{{"name", name},
                                {"path", "/workspaces/" + std::string(name)},
                                {"access", json::str_or_empty(ref.get_object(), "access")}});
  }
  o["mounts"] = std::move(mounts);
  return o;
}

bj::object to_json(const WorkerPage& v) {
  bj::array workers;
  workers.reserve(v.workers.size());
  for (const auto& w : v.workers) workers.emplace_back(to_json(w));
  bj::object o;
  o["workers"] = std::move(workers);
  if (v.next) o["next"] = *v.next;
  return o;
}

bj::object to_json(const InputAccepted& v) {
  bj::object o;
  o["accepted"] = true;
  o["run_id"] = v.run_id;
  o["seq"] = v.seq;
  if (v.client_message_id) o["client_message_id"] = *v.client_message_id;
  o["duplicate"] = v.duplicate;
  return o;
}

bj::object to_json(const CancelResult& v) {
  bj::object o;
  o["cancelled"] = v.cancelled;
  if (v.run_id) o["run_id"] = *v.run_id;
  o["status"] = status_name(v.status);
  return o;
}

bj::object to_json(const BundleInfo& v) {
  bj::array names;
  for (const auto& n : v.profiles) names.emplace_back(n);
  return bj::object{{"digest", v.digest}, {"profiles", std::move(names)}, {"workers", v.workers}};
}

bj::object to_json(const BundlePut& v) {
  auto o = to_json(v.bundle);
  o["created"] = v.created;
  return o;
}

bj::object to_json(const std::vector<BundleInfo>& v) {
  bj::array items;
  for (const auto& b : v) items.emplace_back(to_json(b));
  return bj::object{{"bundles", std::move(items)}};
}

bj::object to_json(const TranscriptItem& v) {
  bj::object o;
  o["index"] = v.index;
  o["seq"] = v.seq;
  o["role"] = v.role;
  o["content"] = v.content;
  o["run_id"] = v.run_id;
  if (v.result) o["result"] = *v.result;
  if (v.error) o["error"] = bj::object{{"code", code_name(v.error->code)}, {"message", v.error->message}};
  if (!v.tool_calls.empty()) o["tool_calls"] = calls_to_json(v.tool_calls);
  if (v.role == "tool") {
    o["call_id"] = v.call_id;
    o["name"] = v.name;
    o["ok"] = v.ok;
    if (v.tool_error) o["error"] = bj::object{{"code", v.tool_error->first}, {"message", v.tool_error->second}};
    if (v.duration_ms) o["duration_ms"] = *v.duration_ms;
  }
  o["time"] = v.time_ms;
  return o;
}

bj::object to_json(const TranscriptPage& v) {
  bj::array items;
  items.reserve(v.items.size());
  for (const auto& i : v.items) items.emplace_back(to_json(i));
  bj::object o;
  o["items"] = std::move(items);
  o["total"] = v.total;
  if (v.next) o["next"] = *v.next;
  return o;
}

bj::object to_json(const RuntimeSummary& v) {
  bj::object counts;
  for (const auto& [k, n] : v.worker_counts) counts[k] = n;
  bj::object limits;
  limits["max_workers"] = v.limits.max_workers;
  limits["max_content_bytes"] = v.limits.max_content_bytes;
  limits["max_page"] = v.limits.max_page;
  limits["retention_events"] = v.limits.retention_events;
  limits["retention_bytes"] = v.limits.retention_bytes;
  limits["max_tool_output_bytes"] = v.limits.max_tool_output_bytes;
  limits["max_reply_bytes"] = v.limits.max_reply_bytes;
  bj::object o;
  o["runtime_id"] = v.runtime_id;
  o["display_name"] = v.display_name;
  o["epoch"] = v.epoch;
  o["version"] = v.version;
  o["status"] = v.status;
  o["store"] = v.store;
  o["workers"] = std::move(counts);
  o["limits"] = std::move(limits);
  o["capabilities"] = string_array(v.capabilities);
  o["profiles"] = string_array(v.profiles);
  o["bundles"] = string_array(v.bundles);
  bj::array ws;
  for (const auto& [name, access] : v.workspaces) ws.push_back(bj::object{{"name", name}, {"access", access}});
  o["workspaces"] = std::move(ws);
  return o;
}

bj::object to_json(const EventPage& v) {
  bj::array events;
  events.reserve(v.events.size());
  for (const auto& e : v.events) {
    bj::object item;
    item["cursor"] = e.cursor;
    item["seq"] = e.seq;
    auto parsed = yoi::json::parse(e.json, e.json.size() + 1);
    item["event"] = parsed ? std::move(*parsed) : bj::value();
    events.emplace_back(std::move(item));
  }
  bj::object o;
  o["events"] = std::move(events);
  o["cursor"] = v.cursor;
  o["last_seq"] = v.last_seq;
  return o;
}

bj::object record_to_json(const WorkerRecord& v) {
  bj::object o;
  put_record_fields(o, v);
  if (!v.incarnation.empty()) o["incarnation"] = v.incarnation;
  if (!v.pending_calls.empty()) {
    bj::array calls;
    for (const auto& c : v.pending_calls)
      calls.push_back(bj::object{{"call_id", c.call_id}, {"name", c.name}, {"arguments", c.arguments}});
    o["pending_calls"] = std::move(calls);
  }
  if (v.run_step) o["run_step"] = v.run_step;
  if (!v.resolved_approvals.empty()) {
    bj::array resolved;
    for (const auto& a : v.resolved_approvals) resolved.push_back(to_json(a));
    o["resolved_approvals"] = std::move(resolved);
  }
  return o;
}

Result<WorkerRecord> record_from_json(const bj::object& o) {
  auto r = record_fields(o);
  if (!r) return r;
  r->incarnation = std::string(json::str_or_empty(o, "incarnation"));
  if (auto it = o.find("pending_calls"); it != o.end() && it->value().is_array())
    for (const auto& c : it->value().get_array())
      if (c.is_object())
        r->pending_calls.push_back(PendingCall{std::string(json::str_or_empty(c.get_object(), "call_id")),
                                               std::string(json::str_or_empty(c.get_object(), "name")),
                                               std::string(json::str_or_empty(c.get_object(), "arguments"))});
  if (auto it = o.find("run_step"); it != o.end()) {
    auto step = u64(o, "run_step", false);
    if (!step) return fail(Code::invalid_request, "run_step must be a count");
    r->run_step = *step;
  }
  if (auto it = o.find("resolved_approvals"); it != o.end() && it->value().is_array())
    for (const auto& a : it->value().get_array()) {
      auto outcome = approval_from_json(a);
      if (!outcome) return fail(Code::invalid_request, "resolved_approvals: " + outcome.error().message);
      r->resolved_approvals.push_back(std::move(*outcome));
    }
  return r;
}

bj::object to_json(const CreateWorker& v) {
  bj::object o;
  if (v.worker_id) o["worker_id"] = *v.worker_id;
  if (v.display_name) o["display_name"] = *v.display_name;
  o["intent"] = to_json(v.intent);
  o["profile"] = v.profile;
  if (!v.config_bundle.is_null()) o["config_bundle"] = v.config_bundle;
  if (!v.capabilities.empty()) o["capabilities"] = string_array(v.capabilities);
  if (!v.workspace_refs.empty()) o["workspace_refs"] = v.workspace_refs;
  if (!v.mount_refs.empty()) o["mount_refs"] = v.mount_refs;
  return o;
}

bj::object to_json(const Input& v) {
  bj::object o;
  o["content"] = v.content;
  if (v.client_message_id) o["client_message_id"] = *v.client_message_id;
  return o;
}

bj::object to_json(const ApprovalOutcome& v) {
  bj::object o;
  o["run_id"] = v.run_id;
  o["call_id"] = v.call_id;
  o["decision"] = v.decision;
  if (v.reason) o["reason"] = *v.reason;
  o["remember"] = v.remember;
  return o;
}

bj::object to_json(const ApprovalDecision& v) {
  bj::object o;
  o["decision"] = v.approve ? "approve" : "deny";
  if (v.reason) o["reason"] = *v.reason;
  if (v.remember) o["remember"] = true;
  return o;
}

// ---- request decoding ----

Result<ApprovalDecision> approval_decision_from_json(const bj::object& body) {
  if (auto k = json::only_keys(body, {"decision", "reason", "remember"}, "approval request"); !k)
    return fail(k.error());
  ApprovalDecision d;
  auto decision = json::req_string(body, "decision");
  if (!decision) return fail(decision.error());
  if (*decision != "approve" && *decision != "deny")
    return fail(Code::invalid_request, "decision must be \"approve\" or \"deny\"");
  d.approve = *decision == "approve";
  auto reason = opt_string(body, "reason");
  if (!reason) return fail(reason.error());
  if (*reason && (*reason)->size() > 1024) return fail(Code::invalid_request, "reason is limited to 1024 bytes");
  d.reason = *reason;
  if (auto r = body.if_contains("remember")) {
    if (!r->is_bool()) return fail(Code::invalid_request, "remember must be true or false");
    d.remember = r->get_bool();
  }
  if (d.remember && !d.approve) return fail(Code::invalid_request, "remember goes with approve only");
  return d;
}

Result<CreateWorker> create_from_json(const bj::object& body, const Limits& limits) {
  if (auto k = json::only_keys(body,
                               {"worker_id", "display_name", "intent", "profile", "config_bundle",
                                "capabilities", "workspace_refs", "mount_refs"},
                               "create request");
      !k)
    return fail(k.error());
  CreateWorker c;
  auto id = opt_string(body, "worker_id");
  if (!id) return fail(id.error());
  if (*id) {
    if (auto ok = validate_id(**id, "worker_id"); !ok) return fail(ok.error());
    c.worker_id = **id;
  }
  auto name = opt_string(body, "display_name");
  if (!name) return fail(name.error());
  if (*name && (*name)->size() > limits.max_display_name)
    return fail(Code::invalid_request,
                fmt::format("display_name is longer than {} bytes", limits.max_display_name));
  c.display_name = *name;
  auto intent = opt_object(body, "intent");
  if (!intent) return fail(intent.error());
  if (*intent) {
    auto in = intent_from(**intent);
    if (!in) return fail(in.error());
    c.intent = *in;
  }
  auto profile = opt_string(body, "profile");
  if (!profile) return fail(profile.error());
  if (*profile) {
    if (!is_valid_id(**profile))
      return fail(Code::invalid_request, "profile must be a profile name of the runtime");
    c.profile = **profile;
  }
  if (auto it = body.find("config_bundle"); it != body.end() && !it->value().is_null()) {
    // {"digest"}: the profile is resolved from that bundle (ARCHITECTURE §16).
    const auto* o = it->value().if_object();
    const auto* d = o ? o->if_contains("digest") : nullptr;
    if (!d || !d->is_string() || o->size() != 1 || !profiles::is_valid_digest(d->get_string()))
      return fail(Code::invalid_request, "config_bundle must be {\"digest\": <64 lowercase hex digits>}");
    if (!*profile) return fail(Code::invalid_request, "config_bundle needs 'profile': a profile of that bundle");
    c.config_bundle = bj::object{{"digest", d->get_string()}};
  }
  auto caps = opt_array(body, "capabilities");
  if (!caps) return fail(caps.error());
  if (*caps) {
    auto v = strings_from(**caps, "capabilities");
    if (!v) return fail(v.error());
    c.capabilities = std::move(*v);
  }
  auto ws = opt_array(body, "workspace_refs");
  auto mounts = opt_array(body, "mount_refs");
  if (!ws) return fail(ws.error());
  if (!mounts) return fail(mounts.error());
  if (*ws) c.workspace_refs = std::move(**ws);
  if (*mounts) c.mount_refs = std::move(**mounts);
  // Opaque references are recorded in the worker's state; keep them small.
  std::size_t opaque = yoi::json::serialize(bj::value(c.workspace_refs)).size() +
                       yoi::json::serialize(bj::value(c.mount_refs)).size() +
                       (c.config_bundle.is_null() ? 0 : yoi::json::serialize(c.config_bundle).size());
  if (opaque > 16 * 1024 || c.capabilities.size() > 64)
    return fail(Code::invalid_request, "references and capabilities are limited to 16 KiB / 64 items");
  return c;
}

Result<Input> input_from_json(const bj::object& body, const Limits& limits) {
  if (auto k = json::only_keys(body, {"content", "client_message_id"}, "input request"); !k)
    return fail(k.error());
  Input in;
  auto content = json::req_string(body, "content");
  if (!content) return fail(content.error());
  if (content->empty()) return fail(Code::invalid_request, "content must not be empty");
  if (content->size() > limits.max_content_bytes)
    return fail(Code::payload_too_large,
                fmt::format("content is larger than {} bytes", limits.max_content_bytes));
  in.content = std::move(*content);
  auto cmid = opt_string(body, "client_message_id");
  if (!cmid) return fail(cmid.error());
  if (*cmid) {
    if (!is_valid_id(**cmid))
      return fail(Code::invalid_request,
                  "client_message_id must be 1-120 letters, digits, '_', ':' or '-'");
    in.client_message_id = **cmid;
  }
  return in;
}

Result<std::optional<std::string>> reason_from_json(const bj::object& body) {
  if (auto k = json::only_keys(body, {"reason"}, "request"); !k) return fail(k.error());
  auto reason = opt_string(body, "reason");
  if (!reason) return fail(reason.error());
  if (*reason && (*reason)->size() > 1024)
    return fail(Code::invalid_request, "reason is limited to 1024 bytes");
  return *reason;
}

// ---- response decoding ----

Result<WorkerDetail> detail_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  auto rec = as_bad(record_fields(**o));
  if (!rec) return fail(rec.error());
  WorkerDetail d;
  d.runtime_id = std::string(json::str_or_empty(**o, "runtime_id"));
  d.record = std::move(*rec);
  auto last = u64(**o, "last_seq", false);
  auto total = u64(**o, "transcript_total", false);
  if (!last) return fail(last.error());
  if (!total) return fail(total.error());
  d.last_seq = *last;
  d.transcript_total = *total;
  return d;
}

Result<WorkerPage> worker_page_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  auto it = (*o)->find("workers");
  if (it == (*o)->end() || !it->value().is_array())
    return fail(Code::runtime_bad_response, "runtime reply lacks 'workers'");
  WorkerPage page;
  for (const auto& w : it->value().get_array()) {
    auto d = detail_from_json(w);
    if (!d) return fail(d.error());
    page.workers.push_back(std::move(*d));
  }
  if (auto n = json::str_or_empty(**o, "next"); !n.empty()) page.next = std::string(n);
  return page;
}

Result<InputAccepted> accepted_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  InputAccepted a;
  a.run_id = std::string(json::str_or_empty(**o, "run_id"));
  if (a.run_id.empty()) return fail(Code::runtime_bad_response, "runtime reply lacks 'run_id'");
  auto seq = u64(**o, "seq");
  if (!seq) return fail(seq.error());
  a.seq = *seq;
  if (auto c = json::str_or_empty(**o, "client_message_id"); !c.empty())
    a.client_message_id = std::string(c);
  if (auto d = (*o)->find("duplicate"); d != (*o)->end() && d->value().is_bool())
    a.duplicate = d->value().get_bool();
  return a;
}

Result<CancelResult> cancel_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  CancelResult c;
  auto it = (*o)->find("cancelled");
  if (it == (*o)->end() || !it->value().is_bool())
    return fail(Code::runtime_bad_response, "runtime reply lacks 'cancelled'");
  c.cancelled = it->value().get_bool();
  if (auto r = json::str_or_empty(**o, "run_id"); !r.empty()) c.run_id = std::string(r);
  if (!status_from_name(json::str_or_empty(**o, "status"), c.status))
    return fail(Code::runtime_bad_response, "runtime reply has an unknown status");
  return c;
}

namespace {
Result<BundleInfo> bundle_info_from(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  BundleInfo b;
  b.digest = std::string(json::str_or_empty(**o, "digest"));
  if (!profiles::is_valid_digest(b.digest)) return fail(Code::runtime_bad_response, "runtime reply lacks a bundle digest");
  if (auto* names = (*o)->if_contains("profiles"); names && names->is_array())
    for (const auto& n : names->get_array())
      if (n.is_string()) b.profiles.emplace_back(n.get_string());
  if (auto* w = (*o)->if_contains("workers"); w && w->is_uint64()) b.workers = w->get_uint64();
  if (auto* w = (*o)->if_contains("workers"); w && w->is_int64() && w->get_int64() >= 0)
    b.workers = static_cast<std::size_t>(w->get_int64());
  return b;
}
}  // namespace

Result<BundlePut> bundle_put_from_json(const bj::value& v) {
  auto b = bundle_info_from(v);
  if (!b) return fail(b.error());
  const auto* c = v.as_object().if_contains("created");
  return BundlePut{c && c->is_bool() && c->get_bool(), std::move(*b)};
}

Result<std::vector<BundleInfo>> bundles_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  const auto* items = (*o)->if_contains("bundles");
  if (!items || !items->is_array()) return fail(Code::runtime_bad_response, "runtime reply lacks 'bundles'");
  std::vector<BundleInfo> out;
  for (const auto& item : items->get_array()) {
    auto b = bundle_info_from(item);
    if (!b) return fail(b.error());
    out.push_back(std::move(*b));
  }
  return out;
}

Result<ApprovalOutcome> approval_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  ApprovalOutcome a;
  a.run_id = std::string(json::str_or_empty(**o, "run_id"));
  a.call_id = std::string(json::str_or_empty(**o, "call_id"));
  a.decision = std::string(json::str_or_empty(**o, "decision"));
  if (a.call_id.empty() || (a.decision != "approved" && a.decision != "denied"))
    return fail(Code::runtime_bad_response, "runtime reply is not an approval outcome");
  if (auto r = (*o)->if_contains("reason"); r && r->is_string()) a.reason = std::string(r->get_string());
  if (auto r = (*o)->if_contains("remember"); r && r->is_bool()) a.remember = r->get_bool();
  return a;
}

Result<TranscriptItem> transcript_item_from_json(const bj::value& v) { return item_from(v); }

Result<TranscriptPage> transcript_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  auto it = (*o)->find("items");
  if (it == (*o)->end() || !it->value().is_array())
    return fail(Code::runtime_bad_response, "runtime reply lacks 'items'");
  TranscriptPage page;
  for (const auto& i : it->value().get_array()) {
    auto item = item_from(i);
    if (!item) return fail(item.error());
    page.items.push_back(std::move(*item));
  }
  auto total = u64(**o, "total");
  if (!total) return fail(total.error());
  page.total = *total;
  if (auto n = (*o)->find("next"); n != (*o)->end() && !n->value().is_null()) {
    auto next = u64(**o, "next");
    if (!next) return fail(next.error());
    page.next = *next;
  }
  return page;
}

Result<RuntimeSummary> summary_from_json(const bj::value& v) {
  auto o = object_of(v);
  if (!o) return fail(o.error());
  RuntimeSummary s;
  s.runtime_id = std::string(json::str_or_empty(**o, "runtime_id"));
  if (s.runtime_id.empty()) return fail(Code::runtime_bad_response, "runtime reply lacks 'runtime_id'");
  s.display_name = std::string(json::str_or_empty(**o, "display_name"));
  s.epoch = std::string(json::str_or_empty(**o, "epoch"));
  s.version = std::string(json::str_or_empty(**o, "version"));
  s.status = std::string(json::str_or_empty(**o, "status"));
  s.store = std::string(json::str_or_empty(**o, "store"));
  if (auto w = (*o)->find("workers"); w != (*o)->end() && w->value().is_object())
    for (const auto& kv : w->value().get_object())
      if (auto n = count_of(kv.value())) s.worker_counts[std::string(kv.key())] = *n;
  // The advertised limits (the backend checks bodies against them); one
  // missing or malformed keeps its default.
  if (auto l = (*o)->find("limits"); l != (*o)->end() && l->value().is_object()) {
    const auto& lo = l->value().get_object();
    for (auto [key, field] : {std::pair{"max_workers", &Limits::max_workers},
                              {"max_content_bytes", &Limits::max_content_bytes},
                              {"max_page", &Limits::max_page},
                              {"retention_events", &Limits::retention_events},
                              {"retention_bytes", &Limits::retention_bytes},
                              {"max_tool_output_bytes", &Limits::max_tool_output_bytes},
                              {"max_reply_bytes", &Limits::max_reply_bytes}})
      if (auto* v = lo.if_contains(key))
        if (auto n = count_of(*v)) s.limits.*field = *n;
  }
  auto caps = as_bad(opt_array(**o, "capabilities"));
  if (!caps) return fail(caps.error());
  if (!*caps) return fail(Code::runtime_bad_response, "runtime reply lacks 'capabilities'");
  auto list = as_bad(strings_from(**caps, "capabilities"));
  if (!list) return fail(list.error());
  s.capabilities = std::move(*list);
  if (auto p = as_bad(opt_array(**o, "profiles")); p && *p)
    if (auto names = strings_from(**p, "profiles")) s.profiles = std::move(*names);
  if (auto b = as_bad(opt_array(**o, "bundles")); b && *b)
    if (auto digests = strings_from(**b, "bundles")) s.bundles = std::move(*digests);
  if (auto w = as_bad(opt_array(**o, "workspaces")); w && *w)
    for (const auto& item : **w)
      if (item.is_object())
        if (auto name = json::str_or_empty(item.get_object(), "name"); !name.empty())
          s.workspaces[std::string(name)] = std::string(json::str_or_empty(item.get_object(), "access"));
  return s;
}

// ---- frames ----

std::string snapshot_frame(const Snapshot& s) {
  bj::array tail;
  tail.reserve(s.transcript_tail.size());
  for (const auto& i : s.transcript_tail) tail.emplace_back(to_json(i));
  bj::object o;
  o["type"] = "snapshot";
  o["cursor"] = s.cursor;
  o["seq"] = s.seq;
  o["runtime_id"] = s.detail.runtime_id;
  o["worker_id"] = s.detail.record.worker_id;
  o["worker"] = to_json(s.detail);
  o["transcript_tail"] = std::move(tail);
  if (s.in_flight) {
    bj::object f;
    f["run_id"] = s.in_flight->run_id;
    f["text"] = s.in_flight->text;
    f["step"] = s.in_flight->step;
    bj::array calls;
    for (const auto& c : s.in_flight->calls)
      calls.push_back(bj::object{{"call_id", c.call.call_id}, {"name", c.call.name},
                                 {"arguments", c.call.arguments}, {"state", c.state}});
    f["calls"] = std::move(calls);
    o["in_flight"] = std::move(f);
  } else {
    o["in_flight"] = nullptr;
  }
  return bj::serialize(o);
}

std::string diagnostic_frame(Code code, std::string_view message, std::string_view action) {
  bj::object o;
  o["type"] = "diagnostic";
  o["code"] = code_name(code);
  o["message"] = message;
  o["action"] = action;
  return bj::serialize(o);
}

std::string heartbeat_frame(std::string_view cursor, std::uint64_t seq) {
  bj::object o;
  o["type"] = "heartbeat";
  o["cursor"] = cursor;
  o["seq"] = seq;
  return bj::serialize(o);
}

}  // namespace wire
}  // namespace yoi::rt
