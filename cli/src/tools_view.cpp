#include "tools_view.hpp"

#include <array>
#include <cctype>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "yoi/json.hpp"

namespace yoi::cli {

namespace bj = boost::json;

namespace {

std::optional<std::int64_t> int_field(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

bool bool_field(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

// At most `n` bytes of `s`, never cutting a UTF-8 sequence, "…" when cut.
std::string clip(std::string_view s, std::size_t n) {
  if (s.size() <= n) return std::string(s);
  std::size_t end = n;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "…";
}

std::size_t line_count(std::string_view s) {
  if (s.empty()) return 0;
  std::size_t n = 1;
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] == '\n') ++n;
  return n;
}

// The arguments as an object: given as one, or as JSON text of one.
std::optional<bj::object> args_object(const bj::value& arguments) {
  if (arguments.is_object()) return arguments.as_object();
  if (arguments.is_string()) {
    auto v = json::parse(std::string_view(arguments.as_string()), 1u << 20);
    if (v && v->is_object()) return std::move(v->as_object());
  }
  return std::nullopt;
}

}  // namespace

ToolResultView ToolResultView::from_event(const bj::object& e) {
  ToolResultView r;
  r.name = std::string(json::str_or_empty(e, "name"));
  r.ok = bool_field(e, "ok");
  r.output = std::string(json::str_or_empty(e, "output"));
  r.truncated = bool_field(e, "truncated");
  if (const auto* err = e.if_contains("error"); err && err->is_object()) {
    r.error_code = std::string(json::str_or_empty(err->as_object(), "code"));
    r.error_message = std::string(json::str_or_empty(err->as_object(), "message"));
  }
  if (!r.ok && r.error_code.empty()) r.error_code = "tool_failed";
  r.exit_code = int_field(e, "exit_code");
  r.duration_ms = int_field(e, "duration_ms");
  return r;
}

ToolResultView ToolResultView::from_item(const bj::object& item) {
  ToolResultView r = from_event(item);  // the same field names where they overlap
  r.output = std::string(json::str_or_empty(item, "content"));
  if (!r.ok && item.contains("error")) {
    // The item's typed error, shown apart: the content is what the model
    // read, that error's line first, then any output.
    std::string head = "error: " + r.error_code + ": " + r.error_message;
    if (r.output == head) r.output.clear();
    else if (r.output.starts_with(head + "\n")) r.output.erase(0, head.size() + 1);
  } else if (!r.ok) {
    // An item stored before tool items kept their error: parse it out of
    // what the model read, "error: code: message" (or "code: message"), code
    // in lowercase letters, digits and '_'.
    if (r.output.starts_with("error: ")) r.output.erase(0, 7);
    auto colon = r.output.find(": ");
    bool code = colon != std::string::npos && colon > 0 && colon <= 64 &&
                r.output.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == colon;
    if (code) {
      r.error_code = r.output.substr(0, colon);
      r.error_message = r.output.substr(colon + 2);
    } else {
      r.error_message = r.output;
    }
    r.output.clear();
  }
  return r;
}

std::string tool_main_arg(std::string_view name, const bj::value& arguments) {
  auto o = args_object(arguments);
  if (!o) return "";
  static constexpr std::array<std::string_view, 3> kSearch{"pattern", "path", "command"};
  static constexpr std::array<std::string_view, 3> kOther{"path", "command", "pattern"};
  for (auto key : name == "glob" || name == "grep" ? kSearch : kOther)
    if (const auto* v = o->if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return "";
}

std::string tool_call_text(std::string_view name, const bj::value& arguments) {
  auto main = tool_main_arg(name, arguments);
  if (main.empty() && !arguments.is_null()) {
    main = arguments.is_string() ? std::string(arguments.as_string()) : json::serialize(arguments);
    if (main == "{}") main.clear();
  }
  // One line: a newline inside an argument is shown, not obeyed.
  std::string one;
  for (char ch : clip(main, kToolLineChars)) one += ch == '\n' ? std::string("\\n") : std::string(1, ch);
  return fmt::format("→ {}{}{}\n", name, one.empty() ? "" : " ", one);
}

std::string tool_calls_text(const bj::object& item) {
  std::string out;
  const auto* calls = item.if_contains("tool_calls");
  if (!calls || !calls->is_array()) return out;
  for (const auto& c : calls->as_array()) {
    if (!c.is_object()) continue;
    const auto& o = c.as_object();
    const auto* args = o.if_contains("arguments");
    out += tool_call_text(json::str_or_empty(o, "name"), args ? *args : bj::value());
  }
  return out;
}

std::string tool_output_block(std::string_view output, std::size_t max_lines) {
  std::string out;
  std::size_t shown = 0, pos = 0;
  auto total = line_count(output);
  while (pos < output.size() && shown < max_lines) {
    auto nl = output.find('\n', pos);
    auto line = output.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    out += "    " + clip(line, kToolLineChars) + "\n";
    ++shown;
    pos = nl == std::string_view::npos ? output.size() : nl + 1;
  }
  if (total > shown) out += fmt::format("  … {} more line{}\n", total - shown, total - shown == 1 ? "" : "s");
  return out;
}

std::string tool_result_summary(const ToolResultView& r) {
  std::string facts;
  auto add = [&](const std::string& f) { facts += (facts.empty() ? "" : ", ") + f; };
  if (r.ok) {
    auto n = line_count(r.output);
    add(fmt::format("{} line{}", n, n == 1 ? "" : "s"));
    if (r.truncated) add("truncated");
  }
  if (r.exit_code) add(fmt::format("exit {}", *r.exit_code));
  if (r.duration_ms) add(fmt::format("{} ms", *r.duration_ms));
  auto tail = facts.empty() ? std::string() : " (" + facts + ")";
  if (!r.ok) {
    auto message = r.error_message.empty() ? "" : ": " + clip(r.error_message, kToolLineChars * 2);
    return fmt::format("failed: {}{}{}", r.error_code.empty() ? "tool_failed" : r.error_code, message, tail);
  }
  return "ok" + tail;
}

std::string tool_result_text(const ToolResultView& r) {
  auto head = fmt::format("← {} {}\n", r.name, tool_result_summary(r));
  if (!r.ok) return head;
  return head + tool_output_block(r.output, r.name == "edit" ? kToolDiffLines : kToolOutputLines);
}

std::string approval_request_text(const bj::object& request) {
  const auto* args = request.if_contains("arguments");
  auto call = tool_call_text(json::str_or_empty(request, "name"), args ? *args : bj::value());
  // "→ NAME ARG\n" → "? NAME ARG: waits …": one line, same main argument.
  call.erase(0, std::string_view("→ ").size());
  call.pop_back();
  return fmt::format("? {}: waits for your approval (call {})\n", call,
                     clip(json::str_or_empty(request, "call_id"), kToolLineChars));
}

std::string approval_hint_text(std::string_view worker_ref, std::string_view call_id) {
  return fmt::format("    answer: yoi approve {} {}  (--deny [--reason TEXT] to refuse, --remember to always allow)\n",
                     worker_ref, clip(call_id, kToolLineChars));
}

std::string approval_resolved_text(const bj::object& e, std::string_view name) {
  auto decision = json::str_or_empty(e, "decision");
  auto reason = json::str_or_empty(e, "reason");
  bool approved = decision == "approved";
  std::string tool = name.empty() ? std::string("call") : std::string(name);
  std::string out = fmt::format("{} {} {} (call {})", approved ? "✓" : "✗", tool, decision.empty() ? "resolved" : decision,
                                clip(json::str_or_empty(e, "call_id"), kToolLineChars));
  if (bool_field(e, "remember")) out += ", always allowed from now on";
  if (!reason.empty()) out += ": " + clip(reason, kToolLineChars * 2);
  return out + "\n";
}

ApprovalAnswer parse_approval_answer(std::string_view line) {
  auto b = line.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return ApprovalAnswer::unknown;
  auto e = line.find_last_not_of(" \t\r");
  std::string w;
  for (char ch : line.substr(b, e - b + 1)) w += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (w == "y" || w == "yes") return ApprovalAnswer::approve;
  if (w == "n" || w == "no") return ApprovalAnswer::deny;
  if (w == "a" || w == "always") return ApprovalAnswer::always;
  return ApprovalAnswer::unknown;
}

std::string ToolOutputIndent::feed(std::string_view delta) {
  std::string out;
  out.reserve(delta.size() + 8);
  for (char ch : delta) {
    if (!mid_line_) out += "    ";
    out += ch;
    mid_line_ = ch != '\n';
  }
  return out;
}

std::string in_flight_step_text(const bj::object& fl, const bj::array& tail) {
  std::string text(json::str_or_empty(fl, "text"));
  auto run_id = json::str_or_empty(fl, "run_id");
  std::string before;
  for (const auto& i : tail) {
    if (!i.is_object()) continue;
    const auto& o = i.as_object();
    const auto* calls = o.if_contains("tool_calls");
    if (json::str_or_empty(o, "run_id") == run_id && json::str_or_empty(o, "role") == "assistant" && calls &&
        calls->is_array() && !calls->as_array().empty())
      before += json::str_or_empty(o, "content");
  }
  return !before.empty() && text.starts_with(before) ? text.substr(before.size()) : text;
}

}  // namespace yoi::cli
