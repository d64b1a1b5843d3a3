#pragma once
// A child process for fault tests: the real yoi-runtime binary, its stdout
// captured (the "listening" line), its stderr to a file, killed by signal.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace yoi::server::test {

// Path of the built yoi-runtime (compile definition, else $YOI_BUILD_DIR).
std::string runtime_binary();

class Child {
 public:
  // Starts `argv[0]` with extra environment variables.
  Child(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Child();  // SIGKILL if still running
  // Waits for "yoi-runtime listening on http://HOST:PORT"; the port, or 0
  // if the process exited / printed something else first.
  std::uint16_t wait_listening(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void signal(int sig);
  // Exit status (or 128+signal) once exited within timeout; nullopt otherwise.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::string stdout_text() const { return out_; }
  std::string stderr_text() const;
  pid_t pid() const { return pid_; }
  // Resident set size of the child in bytes (from /proc/PID/statm).
  std::size_t rss_bytes() const;

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  std::string err_path_;
  bool exited_ = false;
};

}  // namespace yoi::server::test
