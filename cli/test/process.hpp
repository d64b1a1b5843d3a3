#pragma once
// Real processes for the CLI's integration tests: run `yoi` to completion
// with a deadline, keep yoi-server / yoi-runtime running in the background,
// and drive `yoi chat` through a pseudo-terminal.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace yoi::cli::test {

using std::chrono::milliseconds;

// $YOI_BIN / $YOI_SERVER_BIN / $YOI_RUNTIME_BIN when set, else
// $YOI_BUILD_DIR/apps/NAME/NAME (ctest sets YOI_BUILD_DIR), else the
// compile-time build dir. Empty when the file does not exist.
std::string binary(const std::string& name);

struct Run {
  int exit_code = -1;  // -1: killed on the deadline
  std::string out, err;
  bool timed_out = false;
};

// Runs argv[0] with args to completion (killed after `deadline`). `env`
// entries are added to (or, with an empty value, removed from) the
// environment.
Run run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
        const std::optional<std::string>& stdin_text = std::nullopt, milliseconds deadline = milliseconds(20000));

// A background process whose stdout is read line by line (stderr → a file).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Reads stdout until a line contains `needle` (returned) or the deadline.
  std::optional<std::string> wait_line(const std::string& needle, milliseconds deadline);
  // Everything read from stdout so far (plus what is ready now).
  const std::string& out();
  std::string err() const;
  // SIGTERM (or SIGKILL) and reap; returns the exit code (-1 killed / timeout).
  int stop(int sig, milliseconds deadline = milliseconds(10000));
  // Waits for exit; -1 on deadline.
  int wait(milliseconds deadline);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  void pump(milliseconds wait);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  std::string err_path_;
  int status_ = 0;
};

// A process on a pseudo-terminal (forkpty): what it prints and what we type.
class Pty {
 public:
  Pty(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Pty();
  void write(const std::string& bytes);
  // Reads until the output (since `from`) contains `needle`; the offset just
  // after it, or nullopt on the deadline.
  std::optional<std::size_t> expect(const std::string& needle, milliseconds deadline, std::size_t from = 0);
  const std::string& output() const { return out_; }
  int wait(milliseconds deadline);

 private:
  void pump(milliseconds wait);
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
};

std::string make_temp_dir();
void write_file(const std::string& path, const std::string& text);

}  // namespace yoi::cli::test
