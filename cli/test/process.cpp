#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace yoi::cli::test {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

namespace {

// Reaps `pid` within `deadline`; -1 if still running.
int reap(pid_t pid, clock::time_point deadline) {
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return yoi::testing::exit_code(status);
    if (r < 0) return -1;
    if (clock::now() >= deadline) return -2;
    ::usleep(5000);
  }
}

}  // namespace

// ---------------------------------------------------------------- Pty

Pty::Pty(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  auto envv = yoi::testing::child_environment(env);
  yoi::testing::ExecArgs args(argv, envv);
  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = 200;
  pid_ = ::forkpty(&fd_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error("forkpty");
  if (pid_ == 0) args.exec();
}

Pty::~Pty() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap(pid_, clock::now() + std::chrono::seconds(5));
  }
  if (fd_ >= 0) ::close(fd_);
}

void Pty::write(const std::string& bytes) {
  auto n = ::write(fd_, bytes.data(), bytes.size());
  (void)n;
}

void Pty::pump(milliseconds wait) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
  char buf[8192];
  auto n = ::read(fd_, buf, sizeof buf);
  if (n > 0) out_.append(buf, static_cast<std::size_t>(n));
  else ::usleep(10000);  // EIO once the child is gone
}

std::optional<std::size_t> Pty::expect(const std::string& needle, milliseconds deadline, std::size_t from) {
  auto end = clock::now() + deadline;
  for (;;) {
    auto at = out_.find(needle, from);
    if (at != std::string::npos) return at + needle.size();
    if (clock::now() >= end) return std::nullopt;
    pump(milliseconds(50));
  }
}

int Pty::wait(milliseconds deadline) {
  auto end = clock::now() + deadline;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      for (int i = 0; i < 20; ++i) pump(milliseconds(10));
      return yoi::testing::exit_code(status);
    }
    if (clock::now() >= end) return -1;
    pump(milliseconds(20));
  }
}

std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "yoi-cli-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  return tmpl;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace yoi::cli::test
