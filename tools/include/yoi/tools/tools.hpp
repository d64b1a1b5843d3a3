#pragma once
// The built-in file tools of ARCHITECTURE §12: read, write, edit, glob, grep.
//
// Each is a pure, synchronous, blocking function: arguments (a JSON object a
// model wrote: untrusted) in, a ToolResult out; it never throws. They do
// file I/O, so the runtime must run them on a small worker pool, never on an
// io thread, and post the result back. They are safe to run concurrently
// over the same Scope. Every path goes through Scope (scope.hpp); every
// output through bound_output (output.hpp).
//
// Arguments are checked strictly: a missing field, a wrong type or an
// unknown key is invalid_arguments naming the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "yoi/tools/result.hpp"
#include "yoi/tools/scope.hpp"

namespace yoi::tools {

// `path`, `offset`? (1-based first line), `limit`? (lines). Lines as
// `cat -n` ("%6d\t%s"). A file with a NUL byte in its first 8 KiB is
// refused with invalid_arguments (the model asked for something it cannot
// use). The file is streamed: at most one page is held.
ToolResult read(const Scope& scope, const boost::json::object& args, const Limits& limits = {});
// `path`, `content`: atomic create-or-replace (temp file, fsync, rename,
// fsync of the directory); parents created; content above max_file_bytes is
// too_large.
ToolResult write(const Scope& scope, const boost::json::object& args, const Limits& limits = {});
// `path`, `old_string`, `new_string`, `replace_all`?: exact replacement,
// atomic like write; answers a unified diff. old_string absent: not_found;
// present more than once without replace_all: invalid_arguments with the count.
ToolResult edit(const Scope& scope, const boost::json::object& args, const Limits& limits = {});
// `pattern`, `path`? (default /work): matching in-view paths, newest first.
ToolResult glob(const Scope& scope, const boost::json::object& args, const Limits& limits = {});
// `pattern` (RE2 syntax), `path`?, `glob`?, `case_insensitive`?:
// `path:line:text` lines.
ToolResult grep(const Scope& scope, const boost::json::object& args, const Limits& limits = {});

// Dispatch by wire name; an unknown name is invalid_arguments.
ToolResult run(std::string_view name, const Scope& scope, const boost::json::object& args,
               const Limits& limits = {});

// bash's arguments (§12: `command`, `timeout_ms`?), checked like the file
// tools'; the command runs in sandbox/ (yoi_sandbox), not here.
inline constexpr std::size_t kMaxBashCommandBytes = 64 * 1024;
struct BashArguments {
  std::string command;                    // non-empty, no NUL, at most 64 KiB
  std::optional<std::int64_t> timeout_ms;  // at least 1 when given
};
ToolOr<BashArguments> bash_arguments(const boost::json::object& args);

}  // namespace yoi::tools
