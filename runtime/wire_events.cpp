// Events and the event frame: their builders, their type names, and the
// DOM-free forms of the hot paths (text_delta, the relay's frame scan, the
// events page and its scan).
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>

#include <boost/json/serialize.hpp>
#include <boost/json/value_ref.hpp>

#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::rt::wire {
namespace {

template <class Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// How many bytes at the front of [p, p + n) a JSON string carries as they are
// (no control byte, quote or backslash; with `ascii_only`, no byte of 0x80 or
// above either). Eight at a time: the relay writes every event's ids and
// cursor through here, and reads them back (issue 22).
std::size_t unescaped_prefix(const char* p, std::size_t n, bool ascii_only = false) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  // Whether any byte of x is zero, or below 0x20 (exact as "any", not "which").
  auto zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  auto below_space = [](std::uint64_t x) { return (x - ones * 0x20) & ~x & highs; };
  const std::uint64_t high_mask = ascii_only ? highs : 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if ((w & high_mask) | below_space(w) | zero(w ^ (ones * '"')) | zero(w ^ (ones * '\\'))) break;
  }
  for (; i < n; ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c == '"' || c == '\\' || (ascii_only && c >= 0x80)) break;
  }
  return i;
}

// A JSON string literal, escaped as Boost.JSON's serializer does (so the
// hot path writes the same bytes as encode_event).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (;;) {
    const auto run = unescaped_prefix(s.data(), s.size());
    out.append(s.data(), run);
    if (run == s.size()) break;
    const auto c = static_cast<unsigned char>(s[run]);
    s.remove_prefix(run + 1);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, 6);
      }
    }
  }
  out.push_back('"');
}

EventBody body(EventType type, std::initializer_list<std::pair<bj::string_view, bj::value_ref>> fields) {
  return EventBody{type, bj::object(fields)};
}

}  // namespace

std::string_view event_type_name(EventType t) {
  switch (t) {
    case EventType::worker_created: return "worker_created";
    case EventType::status: return "status";
    case EventType::input_accepted: return "input_accepted";
    case EventType::run_started: return "run_started";
    case EventType::text_delta: return "text_delta";
    case EventType::text_done: return "text_done";
    case EventType::usage: return "usage";
    case EventType::run_finished: return "run_finished";
    case EventType::worker_stopped: return "worker_stopped";
    case EventType::tool_call: return "tool_call";
    case EventType::tool_result: return "tool_result";
    case EventType::tool_output: return "tool_output";
    case EventType::approval_requested: return "approval_requested";
    case EventType::approval_resolved: return "approval_resolved";
  }
  return "unknown";
}

std::optional<EventType> event_type_from_name(std::string_view name) {
  for (auto t : kEventTypes)
    if (event_type_name(t) == name) return t;
  return std::nullopt;
}

std::optional<EventType> event_type_of(std::string_view json) {
  constexpr std::string_view head = R"({"type":")";
  if (!json.starts_with(head)) return std::nullopt;
  json.remove_prefix(head.size());
  auto end = json.find('"');
  if (end == std::string_view::npos) return std::nullopt;
  return event_type_from_name(json.substr(0, end));
}

namespace event {

EventBody worker_created(const WorkerDetail& worker) {
  return body(EventType::worker_created, {{"worker", to_json(worker)}});
}

EventBody status(WorkerStatus now, WorkerStatus previous) {
  return body(EventType::status, {{"status", status_name(now)}, {"previous", status_name(previous)}});
}

EventBody input_accepted(std::string_view run_id, std::string_view content,
                         const std::optional<std::string>& client_message_id) {
  auto b = body(EventType::input_accepted, {{"run_id", run_id}, {"content", content}});
  if (client_message_id) b.fields["client_message_id"] = *client_message_id;
  return b;
}

EventBody run_started(std::string_view run_id, std::string_view profile) {
  return body(EventType::run_started, {{"run_id", run_id}, {"profile", profile}});
}

EventBody text_done(std::string_view run_id, std::uint64_t step, std::string_view text) {
  return body(EventType::text_done, {{"run_id", run_id}, {"step", step}, {"text", text}});
}

EventBody tool_call(std::string_view run_id, std::uint64_t step, const ToolCallRef& call) {
  return body(EventType::tool_call, {{"run_id", run_id},
                                     {"step", step},
                                     {"call_id", call.call_id},
                                     {"name", call.name},
                                     {"arguments", call.arguments}});
}

EventBody tool_result(std::string_view run_id, std::string_view call_id, std::string_view name,
                      const ToolOutcome& r) {
  auto b = body(EventType::tool_result, {{"run_id", run_id},
                                         {"call_id", call_id},
                                         {"name", name},
                                         {"ok", r.ok},
                                         {"output", r.output},
                                         {"truncated", r.truncated}});
  if (r.error) b.fields["error"] = bj::object{{"code", r.error->first}, {"message", r.error->second}};
  if (r.exit_code) b.fields["exit_code"] = *r.exit_code;
  b.fields["duration_ms"] = r.duration_ms;
  return b;
}

EventBody tool_output(std::string_view run_id, std::string_view call_id, std::string_view stream,
                      std::string_view delta) {
  return body(EventType::tool_output, {{"run_id", run_id}, {"call_id", call_id}, {"stream", stream}, {"delta", delta}});
}

EventBody usage(std::string_view run_id, std::uint64_t step, std::uint64_t input_tokens, std::uint64_t output_tokens) {
  return body(EventType::usage, {{"run_id", run_id},
                                 {"step", step},
                                 {"input_tokens", input_tokens},
                                 {"output_tokens", output_tokens}});
}

EventBody run_finished(std::string_view run_id, std::string_view result, const std::optional<Error>& error,
                       const std::optional<std::string>& reason, std::uint64_t steps) {
  auto b = body(EventType::run_finished, {{"run_id", run_id}, {"result", result}});
  if (error) b.fields["error"] = bj::object{{"code", code_name(error->code)}, {"message", error->message}};
  if (reason) b.fields["reason"] = *reason;
  b.fields["steps"] = steps;
  return b;
}

EventBody worker_stopped(const std::optional<std::string>& reason) {
  auto b = body(EventType::worker_stopped, {});
  if (reason) b.fields["reason"] = *reason;
  return b;
}

EventBody approval_requested(const PendingApproval& a) {
  return body(EventType::approval_requested, {{"run_id", a.run_id},
                                              {"call_id", a.call_id},
                                              {"name", a.name},
                                              {"arguments", a.arguments},
                                              {"rule", a.rule}});
}

EventBody approval_resolved(const ApprovalOutcome& a) {
  return EventBody{EventType::approval_resolved, to_json(a)};
}

}  // namespace event

std::string encode_event(const EventBody& b, std::uint64_t seq, std::int64_t time_ms) {
  bj::object ev;
  ev.reserve(b.fields.size() + 3);
  ev["type"] = event_type_name(b.type);
  ev["seq"] = seq;
  ev["time"] = time_ms;
  for (const auto& kv : b.fields) ev[kv.key()] = kv.value();
  return bj::serialize(ev);
}

void append_text_delta(std::string& out, std::uint64_t seq, std::int64_t time_ms, std::string_view run_id,
                       std::string_view delta) {
  out.append(R"({"type":"text_delta","seq":)");
  append_int(out, seq);
  out.append(R"(,"time":)");
  append_int(out, time_ms);
  out.append(R"(,"run_id":)");
  append_json_string(out, run_id);
  out.append(R"(,"delta":)");
  append_json_string(out, delta);
  out.push_back('}');
}

std::string event_frame(std::string_view runtime_id, std::string_view worker_id, const Event& e) {
  return event_frame(runtime_id, worker_id, e.seq, e.json, e.cursor);
}

void append_event_frame_head(std::string& out, std::string_view runtime_id, std::string_view worker_id,
                             std::uint64_t seq, std::string_view cursor) {
  out += R"({"type":"event","cursor":)";
  append_json_string(out, cursor);
  out += R"(,"seq":)";
  append_int(out, seq);
  out += R"(,"runtime_id":)";
  append_json_string(out, runtime_id);
  out += R"(,"worker_id":)";
  append_json_string(out, worker_id);
  out += R"(,"event":)";
}

std::string event_frame(std::string_view runtime_id, std::string_view worker_id, std::uint64_t seq,
                        std::string_view event_json, std::string_view cursor) {
  // The event JSON is spliced in as stored: no re-parse on the hot path.
  std::string out;
  out.reserve(event_json.size() + cursor.size() + runtime_id.size() + worker_id.size() + 96);
  append_event_frame_head(out, runtime_id, worker_id, seq, cursor);
  out += event_json;
  out += '}';
  return out;
}

namespace {

// Reads, front to back, a text this file's writers wrote: their literals,
// plain strings (no escapes), unsigned numbers, and spliced-in JSON objects
// (checked for grammar). Any step that does not match fails the scan, and
// the caller parses the text in general.
struct Scan {
  std::string_view f;

  bool take(std::string_view lit) {
    if (!f.starts_with(lit)) return false;
    f.remove_prefix(lit.size());
    return true;
  }
  // The rest of a string whose opening quote was taken: ASCII without
  // control bytes or escapes (ids and cursors are).
  std::optional<std::string_view> plain_string() {
    auto q = unescaped_prefix(f.data(), f.size(), true);
    if (q == f.size() || f[q] != '"') return std::nullopt;
    auto s = f.substr(0, q);
    f.remove_prefix(q + 1);
    return s;
  }
  // JSON's unsigned integers: no sign, no leading zero.
  std::optional<std::uint64_t> number() {
    if (f.size() > 1 && f[0] == '0' && f[1] >= '0' && f[1] <= '9') return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ec != std::errc{}) return std::nullopt;
    f.remove_prefix(static_cast<std::size_t>(end - f.data()));
    return v;
  }
  std::optional<std::string_view> object() {
    auto n = json::leading_object_size(f);
    if (n == 0) return std::nullopt;
    auto o = f.substr(0, n);
    f.remove_prefix(n);
    return o;
  }
};

}  // namespace

std::optional<EventFrameView> scan_event_frame(std::string_view frame) {
  Scan s{frame};
  EventFrameView v;
  if (!s.take(R"({"type":"event","cursor":")")) return std::nullopt;
  auto cursor = s.plain_string();
  if (!cursor || !s.take(R"(,"seq":)")) return std::nullopt;
  auto seq = s.number();
  if (!seq || !s.take(R"(,"runtime_id":")")) return std::nullopt;
  auto runtime_id = s.plain_string();
  if (!runtime_id || !s.take(R"(,"worker_id":")")) return std::nullopt;
  auto worker_id = s.plain_string();
  if (!worker_id || !s.take(R"(,"event":)")) return std::nullopt;
  // The event is all but the frame's closing brace: one grammar check of it
  // as a whole, which is the relay's hot path.
  if (s.f.empty() || s.f.back() != '}') return std::nullopt;
  v.event = s.f.substr(0, s.f.size() - 1);
  if (!json::is_object_text(v.event)) return std::nullopt;
  v.cursor = *cursor;
  v.seq = *seq;
  v.runtime_id = *runtime_id;
  v.worker_id = *worker_id;
  return v;
}

std::string event_page_text(const EventPage& page) {
  std::size_t size = 48 + page.cursor.size();
  for (const auto& e : page.events) size += e.json.size() + e.cursor.size() + 48;
  std::string out;
  out.reserve(size);
  out += R"({"events":[)";
  for (std::size_t i = 0; i < page.events.size(); ++i) {
    const auto& e = page.events[i];
    if (i) out += ',';
    out += R"({"cursor":)";
    append_json_string(out, e.cursor);
    out += R"(,"seq":)";
    append_int(out, e.seq);
    out += R"(,"event":)";
    out += e.json;  // as stored, like event_frame
    out += '}';
  }
  out += R"(],"cursor":)";
  append_json_string(out, page.cursor);
  out += R"(,"last_seq":)";
  append_int(out, page.last_seq);
  out += '}';
  return out;
}

std::optional<EventPageView> scan_event_page(std::string_view text) {
  Scan s{text};
  EventPageView v;
  if (!s.take(R"({"events":[)")) return std::nullopt;
  if (!s.take("]")) {
    do {
      if (!s.take(R"({"cursor":")")) return std::nullopt;
      auto cursor = s.plain_string();
      if (!cursor || !s.take(R"(,"seq":)")) return std::nullopt;
      auto seq = s.number();
      if (!seq || !s.take(R"(,"event":)")) return std::nullopt;
      auto event = s.object();
      if (!event || !s.take("}")) return std::nullopt;
      v.events.push_back(EventPageView::Item{*cursor, *seq, *event});
    } while (s.take(","));
    if (!s.take("]")) return std::nullopt;
  }
  if (!s.take(R"(,"cursor":")")) return std::nullopt;
  auto cursor = s.plain_string();
  if (!cursor || !s.take(R"(,"last_seq":)")) return std::nullopt;
  auto last_seq = s.number();
  if (!last_seq || !s.take("}") || !s.f.empty()) return std::nullopt;
  v.cursor = *cursor;
  v.last_seq = *last_seq;
  return v;
}

}  // namespace yoi::rt::wire
