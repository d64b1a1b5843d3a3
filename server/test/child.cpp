#include "child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace yoi::server::test {

std::string runtime_binary() {
#ifdef YOI_RUNTIME_BINARY
  return YOI_RUNTIME_BINARY;
#else
  const char* d = std::getenv("YOI_BUILD_DIR");
  return std::string(d ? d : ".") + "/apps/yoi-runtime/yoi-runtime";
#endif
}

Child::Child(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return;
  char tmpl[] = "/tmp/yoi-child-stderr-XXXXXX";
  int err_fd = mkstemp(tmpl);
  err_path_ = tmpl;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipefd[1], 1);
    dup2(err_fd, 2);
    close(pipefd[0]);
    close(pipefd[1]);
    close(err_fd);
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  close(err_fd);
  out_fd_ = pipefd[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
}

Child::~Child() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (!err_path_.empty()) unlink(err_path_.c_str());
}

std::uint16_t Child::wait_listening(std::chrono::milliseconds timeout) {
  const std::string prefix = "yoi-runtime listening on http://";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto nl = out_.find('\n');
    if (nl != std::string::npos) {
      auto line = out_.substr(0, nl);
      if (line.rfind(prefix, 0) != 0) return 0;
      auto colon = line.rfind(':');
      return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    pollfd p{out_fd_, POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096];
    auto n = read(out_fd_, buf, sizeof buf);
    if (n > 0) out_.append(buf, static_cast<std::size_t>(n));
    if (n == 0) return 0;  // EOF: the child exited
  }
  return 0;
}

void Child::signal(int sig) {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    auto r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

std::string Child::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t Child::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace yoi::server::test
