#pragma once
// How tool calls and their results read to people (ARCHITECTURE §12), one
// place for attach, chat, send --wait and transcript:
//
//   → read notes.md
//   ← read ok (12 lines, 3 ms)
//       1	# Notes
//       …
//     … 9 more lines
//   ← write failed: read_only: /workspaces/docs is mounted read-only (1 ms)
//
// The functions return raw text; callers write it through Screen, which makes
// it printable (screen.hpp). --json output never comes here.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace yoi::cli {

// Lines of a result's output shown under it; the rest is counted.
inline constexpr std::size_t kToolOutputLines = 6;
// An edit's diff is what it says: more of it is shown.
inline constexpr std::size_t kToolDiffLines = 12;
// Characters of one output line or of a call's argument shown.
inline constexpr std::size_t kToolLineChars = 160;

// One result, from a `tool_result` event or a transcript `tool` item.
struct ToolResultView {
  std::string name;
  bool ok = false;
  std::string output;
  bool truncated = false;
  std::string error_code;  // when !ok
  std::string error_message;
  std::optional<std::int64_t> exit_code;
  std::optional<std::int64_t> duration_ms;

  static ToolResultView from_event(const boost::json::object& tool_result);
  // A transcript item has {call_id, name, ok, content}: a failure's typed
  // error is its `error`, or the content's leading `error: code: message`
  // (what the model read; `code: message` too).
  static ToolResultView from_item(const boost::json::object& tool_item);
};

// What a call is about: glob's and grep's pattern, bash's command, otherwise
// the path; "" when the arguments name none. `arguments` is the object, or
// the model's JSON text.
std::string tool_main_arg(std::string_view name, const boost::json::value& arguments);

// "→ NAME MAIN-ARG\n" (or the compact arguments when there is no main one).
std::string tool_call_text(std::string_view name, const boost::json::value& arguments);

// Every call of a transcript assistant item (its `tool_calls`), one line each.
std::string tool_calls_text(const boost::json::object& assistant_item);

// "ok (N lines, D ms)" or "failed: CODE: MESSAGE (D ms)": a result in one
// line, without the tool's name (the TUI's one-line entries).
std::string tool_result_summary(const ToolResultView& r);

// "← NAME ok (N lines, D ms)\n" plus the output's first lines, indented
// (kToolOutputLines; an edit's diff kToolDiffLines), or
// "← NAME failed: CODE: MESSAGE (D ms)\n".
std::string tool_result_text(const ToolResultView& r);

// The first `max_lines` lines of `output`, each indented by four spaces and
// cut at kToolLineChars, then "  … N more lines" for the rest.
std::string tool_output_block(std::string_view output, std::size_t max_lines = kToolOutputLines);

// ---- approvals (ARCHITECTURE §15)
//
//   ? write a.txt: waits for your approval (call c1)
//       answer: yoi approve rt/w c1  (--deny [--reason TEXT] to refuse, --remember to always allow)
//   ✓ write approved (call c1), always allowed from now on
//   ✗ write denied (call c1): not that file

// "? NAME MAIN-ARG: waits for your approval (call ID)\n" from an
// `approval_requested` event or a detail's `pending_approvals` entry.
std::string approval_request_text(const boost::json::object& request);
// How to answer it from another shell: `yoi approve REF CALL_ID …`.
std::string approval_hint_text(std::string_view worker_ref, std::string_view call_id);
// From an `approval_resolved` event; `name` is the call's tool when known.
std::string approval_resolved_text(const boost::json::object& resolved, std::string_view name = {});

// chat's inline answer: y/yes, n/no, a/always (any case, spaces around).
enum class ApprovalAnswer { approve, deny, always, unknown };
ApprovalAnswer parse_approval_answer(std::string_view line);

// bash's streamed output (tool_output deltas) under its call line: every line
// indented like a result's output. The caller makes it printable (Screen).
class ToolOutputIndent {
 public:
  std::string feed(std::string_view delta);
  // Before the next line that is not output: true when a line was left open.
  bool mid_line() const { return mid_line_; }
  void reset() { mid_line_ = false; }

 private:
  bool mid_line_ = false;
};

// The current step's text of a snapshot's `in_flight`: its `text`, less the
// earlier steps' texts of the same run when it starts with them (they are in
// `transcript_tail` as the steps' items, already shown).
std::string in_flight_step_text(const boost::json::object& in_flight, const boost::json::array& transcript_tail);

}  // namespace yoi::cli
