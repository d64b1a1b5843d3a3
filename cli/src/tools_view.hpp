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

// The current step's text of a snapshot's `in_flight`: its `text`, less the
// earlier steps' texts of the same run when it starts with them (they are in
// `transcript_tail` as the steps' items, already shown).
std::string in_flight_step_text(const boost::json::object& in_flight, const boost::json::array& transcript_tail);

}  // namespace yoi::cli
