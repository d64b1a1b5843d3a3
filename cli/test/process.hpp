#pragma once
// Real processes for the CLI's integration tests: yoi_testing's Process and
// run() (`yoi` to completion with a deadline, yoi-server / yoi-runtime in the
// background), and `yoi chat` driven through a pseudo-terminal.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "yoi/testing/process.hpp"

namespace yoi::cli::test {

using std::chrono::milliseconds;

// Background processes, run-to-completion and binary paths are yoi_testing's
// ($YOI_BIN / $YOI_SERVER_BIN / $YOI_RUNTIME_BIN, else $YOI_BUILD_DIR/apps/NAME/NAME).
using yoi::testing::binary;
using yoi::testing::run;
using Run = yoi::testing::RunResult;
using Child = yoi::testing::Process;

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
