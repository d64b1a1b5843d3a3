#pragma once
// The result of a built-in tool call (ARCHITECTURE §12) and the limits every
// tool honours. A tool failure is a result the model reads, not an exception
// and not a run failure: every tool returns a ToolResult.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace yoi::tools {

// §12's tool error codes (denied belongs to approvals). Wire names by
// code_name.
enum class ToolCode {
  invalid_arguments,   // malformed or wrong-typed arguments, binary file, ...
  not_found,           // no such file, or edit's old_string absent
  path_outside_scope,  // the path leaves the worker's view (§13)
  read_only,           // a write under a read-only mount
  too_large,           // content or file above the configured bound
  tool_failed,         // an I/O error the model cannot fix by changing arguments
  // bash (sandbox/, ARCHITECTURE §14)
  tool_timeout,        // the command ran past its timeout_ms and was killed
  sandbox_unavailable, // bubblewrap is missing or could not set the sandbox up
  // decided by the runtime's run loop, not by a tool
  unknown_tool,        // a tool that does not exist or is not offered to this worker
  cancelled,           // the run ended (cancel, stop) before the call finished
  interrupted,         // the runtime restarted while the call was executing
  denied,              // the permission policy or a person refused the call (§15)
};

std::string_view code_name(ToolCode code);

struct ToolError {
  ToolCode code = ToolCode::tool_failed;
  std::string message;  // in-view paths only, never a host path

  friend bool operator==(const ToolError&, const ToolError&) = default;
};

template <class T>
using ToolOr = tl::expected<T, ToolError>;

inline tl::unexpected<ToolError> tool_fail(ToolCode code, std::string message) {
  return tl::unexpected<ToolError>(ToolError{code, std::move(message)});
}

// What a tool answers. On success `output` is valid UTF-8 and at most
// Limits::max_output_bytes (plus the elision marker); `truncated` says that
// something was left out (elided bytes, or a bound on lines/matches/files).
// On failure `ok` is false, `output` is empty and `error` says why (its
// message valid UTF-8, at most 1 KiB, in-view paths only).
struct ToolResult {
  bool ok = false;
  std::string output;
  bool truncated = false;
  std::optional<ToolError> error;
};

struct Limits {
  std::size_t max_output_bytes = 32 * 1024;  // §12 max_tool_output_bytes
  std::size_t max_file_bytes = 10 * 1024 * 1024;  // write content, edit's file
  std::size_t read_default_lines = 2000;
  std::size_t read_max_line_bytes = 4096;          // longer lines are cut
  std::size_t glob_max_results = 200;
  std::size_t grep_max_matches = 500;
  std::size_t grep_max_line_bytes = 512;           // matched line text shown
  std::size_t grep_max_pattern_bytes = 4096;
  std::int64_t grep_regex_max_mem = 16 * 1024 * 1024;  // RE2 max_mem
  std::size_t walk_max_entries = 200'000;  // directory entries visited by glob/grep
  std::size_t walk_max_depth = 64;
  std::chrono::milliseconds walk_time_budget{20'000};  // glob/grep wall time
};

}  // namespace yoi::tools
