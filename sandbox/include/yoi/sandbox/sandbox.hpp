#pragma once
// The bash sandbox and its process runner (ARCHITECTURE §14).
//
// `run` starts `bash -c COMMAND` inside bubblewrap, showing exactly the
// worker's view (tools::ViewSpec: home at /work, mounts at /workspaces/NAME),
// and reports on the caller's io_context: output chunks as they are read
// (the pipes are read by the event loop; no thread blocks on them), then
// one Outcome. A timeout, cancel() or destroying the last Handle kills the
// command's whole process group (and, under bwrap, its pid namespace): no
// process outlives its call.
//
// Threading: run, cancel and every callback happen on the io_context's
// thread. Asio stays out of this header.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/tools/result.hpp"
#include "yoi/tools/scope.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::sandbox {

enum class Mode { bwrap, none };  // profile `sandbox = "bwrap" | "none"`
enum class Stream { stdout_, stderr_ };
std::string_view stream_name(Stream s);  // "stdout" | "stderr"

struct Policy {
  Mode mode = Mode::bwrap;
  bool network = false;             // profile `network`
  std::string bwrap_path = "bwrap";  // looked up on PATH when not absolute
  // Host paths that must never be visible (the runtime's data dir, config,
  // token file): hidden even when a system directory shown read-only
  // contains them.
  std::vector<std::string> hidden;
};

struct Command {
  std::string command;  // bash -c COMMAND
  tools::ViewSpec view;
  std::chrono::milliseconds timeout{120'000};
  std::size_t max_output_bytes = 32 * 1024;  // the Outcome's output (head and tail kept)
};

struct Outcome {
  // Set when the command ran to its end (bash's exit status; 128+N for a
  // signal). Unset when it was killed (timeout, cancel) or never started.
  std::optional<int> exit_code;
  std::string output;  // stdout and stderr as read, interleaved, bounded
  bool truncated = false;
  std::uint64_t output_bytes = 0;  // everything read, bounded or not
  // tool_timeout, cancelled, sandbox_unavailable, tool_failed (spawn).
  std::optional<tools::ToolError> error;
};

class Handle {
 public:
  virtual ~Handle() = default;  // kills the process group if still running
  // Kills the process group; the Outcome follows (error `cancelled`) unless
  // it was already delivered. Idempotent.
  virtual void cancel() = 0;
  // The host pid of the process started (bwrap, or bash without sandbox);
  // 0 when it never started. For tests and diagnostics.
  virtual int pid() const = 0;
};

using OnOutput = std::function<void(Stream, std::string_view)>;
using OnDone = std::function<void(Outcome)>;

// Starts the command; callbacks run on `io`. on_done is called exactly once
// (even when start fails: posted, never inline), unless the Handle is
// destroyed first. Everything runs on io's thread.
std::unique_ptr<Handle> run(boost::asio::io_context& io, const Policy& policy, Command cmd, OnOutput on_output,
                            OnDone on_done);

// The argv of `bwrap ... bash -c COMMAND` for a view (exposed for tests and
// the docs; `run` uses it). status_fd: --json-status-fd, or -1.
std::vector<std::string> bwrap_argv(const Policy& policy, const Command& cmd, int status_fd);

// The environment a command sees: PATH, HOME=/work, LANG.
std::vector<std::string> sandbox_env();

}  // namespace yoi::sandbox
