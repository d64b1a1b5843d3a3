#pragma once
// Real child processes for tests (yoi-runtime, yoi-server, yoi): spawn with
// args and environment, read the ready line with a deadline, signal
// (SIGTERM / SIGKILL / SIGSTOP / SIGCONT), reap with a deadline, stderr
// captured to a file, and the child's RSS and open-fd count from /proc.
//
// Single-threaded: a Process is used by the thread that made it. Nothing here
// throws across the interface except construction when pipe()/fork() fail
// (a test cannot continue then); every wait has a deadline.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yoi::testing {

using std::chrono::milliseconds;

// Environment changes for a child: each entry is set (overriding the
// inherited value); an entry with an empty value is removed instead.
using Env = std::map<std::string, std::string>;

// The build tree: $YOI_BUILD_DIR (set by ctest), else the build dir this
// library was configured in.
std::string build_dir();

// Path of a built binary: $YOI_BIN / $YOI_SERVER_BIN / $YOI_RUNTIME_BIN when
// set and present, else <build_dir>/apps/NAME/NAME. Empty when absent.
std::string binary(const std::string& name);

class Process {
 public:
  // Starts argv[0] (a path) with `env` applied; stdin is /dev/null, stdout a
  // pipe read by the wait_* calls, stderr appended to `stderr_path` (a fresh
  // temporary file, removed by the destructor, when empty). The child is
  // SIGKILLed if the thread that started it ends first (PR_SET_PDEATHSIG),
  // so a test killed on its deadline leaves no server running.
  explicit Process(std::vector<std::string> argv, Env env = {}, std::string stderr_path = {});
  ~Process();  // SIGCONT + SIGKILL and reap if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The first stdout line must start with `prefix` + "http://HOST:PORT";
  // returns PORT, or 0 when the line is something else, the process exited
  // or `timeout` passed.
  std::uint16_t wait_ready(std::string_view prefix, milliseconds timeout = milliseconds(30'000));
  // Same for the servers' "<name> listening on http://HOST:PORT" line.
  std::uint16_t wait_listening(milliseconds timeout = milliseconds(20'000)) {
    return wait_ready_any(" listening on ", timeout);
  }
  // The first stdout line (from the start) containing `needle`, or nullopt on
  // the deadline / EOF.
  std::optional<std::string> wait_line(std::string_view needle, milliseconds timeout);

  void signal(int sig);  // no-op once reaped
  void pause() { signal(19 /*SIGSTOP*/); }
  void resume() { signal(18 /*SIGCONT*/); }
  // Exit status (or 128+signal) once exited within `timeout`; nullopt while
  // still running. Drains what is left on stdout.
  std::optional<int> wait_exit(milliseconds timeout = milliseconds(20'000));
  // Sends `sig`, waits; on the deadline SIGKILLs and returns -1.
  int stop(int sig, milliseconds timeout = milliseconds(10'000));
  // SIGCONT + SIGKILL and reap.
  void kill();

  // Everything read from stdout so far (plus what is ready now).
  const std::string& stdout_text();
  std::string stderr_text() const;
  const std::string& stderr_path() const { return err_path_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  // From /proc while running (0 / -1 once gone).
  std::size_t rss_bytes() const;
  int open_fds() const;

 private:
  std::uint16_t wait_ready_any(std::string_view infix, milliseconds timeout);
  bool pump(milliseconds wait);  // false at EOF
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  std::string err_path_;
  bool own_err_ = false;
  bool exited_ = false;
  int status_ = -1;
};

// Resident set size (bytes) and open file descriptors of any pid, from /proc:
// 0 / -1 when the process is gone.
std::size_t rss_bytes(pid_t pid);
int open_fds(pid_t pid);
// Host pids of live processes whose argv[0] is `marker` (a zombie has no
// command line): how a test sees that no process of a command survives
// (start them with `exec -a MARKER ...`; the shells that launch them carry
// the marker further along their command lines, not as argv[0]).
std::vector<int> pids_with_cmdline(std::string_view marker);

// Runs argv[0] to completion with a deadline (killed then: timed_out, exit
// code -1), stdin fed with `stdin_text` (small inputs: one pipe buffer).
struct RunResult {
  int exit_code = -1;
  std::string out, err;
  bool timed_out = false;
};
RunResult run(const std::vector<std::string>& argv, const Env& env = {},
              const std::optional<std::string>& stdin_text = std::nullopt,
              milliseconds deadline = milliseconds(20'000));

// For other kinds of children (a pty, say), the pieces Process is built
// from, so that nothing is allocated between fork and exec: the environment
// (the caller's, with `extra` applied; an empty value unsets a variable),
// execve's argument arrays (pointing into `argv` and `env`, which must
// outlive them), and a wait status as an exit code (128 + signal).
std::vector<std::string> child_environment(const Env& extra);
struct ExecArgs {
  ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  [[noreturn]] void exec() const;  // in the child: execve, else _exit(127)
  std::vector<char*> a, e;
};
int exit_code(int wait_status);

}  // namespace yoi::testing
