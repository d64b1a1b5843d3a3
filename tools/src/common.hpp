#pragma once
// Internal helpers shared by the tools: typed arguments and results.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "yoi/tools/result.hpp"
#include "yoi/tools/scope.hpp"

namespace yoi::tools::detail {

// Argument access over yoi::json's typed accessors; their invalid_request
// becomes invalid_arguments (same message, naming the field).
ToolOr<void> only_keys(const boost::json::object& args, std::initializer_list<std::string_view> allowed);
ToolOr<std::string> req_string(const boost::json::object& args, std::string_view key);
ToolOr<std::optional<std::string>> opt_string(const boost::json::object& args, std::string_view key);
ToolOr<std::optional<std::int64_t>> opt_int(const boost::json::object& args, std::string_view key);
ToolOr<std::optional<bool>> opt_bool(const boost::json::object& args, std::string_view key);

// A tool's successful text before bounding; `truncated` when a bound on
// lines/matches/files already cut it.
struct Text {
  std::string text;
  bool truncated = false;
};

// The one exit of every tool: bound_output on success, the error otherwise.
ToolResult finish(ToolOr<Text> r, const Limits& limits);

// finish(tool(...)), with any exception turned into tool_failed: the public
// tools never throw.
ToolResult guarded(ToolOr<Text> (*tool)(const Scope&, const boost::json::object&, const Limits&),
                   const Scope& scope, const boost::json::object& args, const Limits& limits);

// Replaces `name` in `dir_fd` with `content` atomically: a temp file in the
// same directory, fsync, renameat, fsync of the directory. `mode` for the
// new file. Nothing is left behind on failure.
ToolOr<void> atomic_replace(int dir_fd, const std::string& name, std::string_view content,
                            unsigned mode, std::string_view view_path);

}  // namespace yoi::tools::detail

namespace yoi::tools::detail {

// glob's `pattern` and grep's `glob`: a relative, UTF-8 path pattern of at
// most 1 KiB. "" when optional and absent.
ToolOr<std::string> check_pattern(const boost::json::object& args, std::string_view key, bool required);

// The `path`? argument (default /work) resolved for reading and opened
// (a fresh fd: a walk may move its offset).
ToolOr<std::pair<Resolved, UniqueFd>> open_search_root(const Scope& scope, const boost::json::object& args);

}  // namespace yoi::tools::detail
