#include "support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>

namespace yoi::backend::test {

std::string build_dir() {
  const char* d = std::getenv("YOI_BUILD_DIR");
#ifdef YOI_TEST_BUILD_DIR
  if (!d) d = YOI_TEST_BUILD_DIR;
#endif
  return d ? d : ".";
}
std::string runtime_binary() { return build_dir() + "/apps/yoi-runtime/yoi-runtime"; }
std::string server_binary() { return build_dir() + "/apps/yoi-server/yoi-server"; }

Proc::Proc(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return;
  char tmpl[] = "/tmp/yoi-backend-child-XXXXXX";
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

Proc::~Proc() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (!err_path_.empty()) unlink(err_path_.c_str());
}

std::uint16_t Proc::wait_ready(std::string_view prefix, std::chrono::milliseconds timeout) {
  const std::string want = std::string(prefix) + "http://";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto nl = out_.find('\n');
    if (nl != std::string::npos) {
      auto line = out_.substr(0, nl);
      if (line.rfind(want, 0) != 0) return 0;
      return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    }
    pollfd p{out_fd_, POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096];
    auto n = read(out_fd_, buf, sizeof buf);
    if (n > 0) out_.append(buf, static_cast<std::size_t>(n));
    if (n == 0) return 0;
  }
  return 0;
}

void Proc::signal(int sig) {
  if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

std::optional<int> Proc::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

std::string Proc::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool RuntimeProc::start(std::uint16_t want_port) {
  auto cfg = dir.file("rt.toml", "[runtime]\nid = \"upstream\"\nfsync = \"none\"\n"
                                 "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                                 "echo_chunk_delay_ms = " + std::to_string(chunk_delay_ms) + "\n" + extra_toml);
  auto tok = dir.file("token", token);
  proc = std::make_unique<Proc>(std::vector<std::string>{runtime_binary(), "--listen",
                                                         "127.0.0.1:" + std::to_string(want_port),
                                                         "--config", cfg, "--token-file", tok,
                                                         "--store", "memory", "--log-level", "warn"});
  port = proc->wait_ready("yoi-runtime listening on ");
  if (!port) ADD_FAILURE() << "yoi-runtime did not start: " << proc->stderr_text();
  return port != 0;
}

void RuntimeProc::kill() {
  if (!proc) return;
  proc->signal(SIGCONT);
  proc->signal(SIGKILL);
  proc->wait_exit(10s);
}

}  // namespace yoi::backend::test
