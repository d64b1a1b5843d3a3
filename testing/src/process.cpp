#include "yoi/testing/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace yoi::testing {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

std::vector<std::string> child_environment(const Env& extra) {
  std::map<std::string, std::string> m;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) {
    if (v.empty())
      m.erase(k);
    else
      m[k] = v;
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k + "=" + v);
  return out;
}

ExecArgs::ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
}

void ExecArgs::exec() const {
  ::execve(a[0], a.data(), e.data());
  ::_exit(127);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

namespace {

// Parses "...http://HOST:PORT" at the end of a ready line.
std::uint16_t port_of(const std::string& line) {
  auto colon = line.rfind(':');
  if (colon == std::string::npos) return 0;
  try {
    return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  } catch (...) {
    return 0;
  }
}

}  // namespace

std::string build_dir() {
  const char* d = std::getenv("YOI_BUILD_DIR");
#ifdef YOI_TESTING_BUILD_DIR
  if (!d || !*d) d = YOI_TESTING_BUILD_DIR;
#endif
  return d ? d : ".";
}

std::string binary(const std::string& name) {
  std::string var = name == "yoi" ? "YOI_BIN" : name == "yoi-server" ? "YOI_SERVER_BIN" : "YOI_RUNTIME_BIN";
  if (const char* p = std::getenv(var.c_str()); p && *p && fs::exists(p)) return p;
  std::vector<std::string> roots;
  if (const char* d = std::getenv("YOI_BUILD_DIR"); d && *d) roots.emplace_back(d);
#ifdef YOI_TESTING_BUILD_DIR
  roots.emplace_back(YOI_TESTING_BUILD_DIR);
#endif
  for (const auto& r : roots) {
    auto p = fs::path(r) / "apps" / name / name;
    if (fs::exists(p)) return p.string();
  }
  return {};
}

Process::Process(std::vector<std::string> argv, Env env, std::string stderr_path) : err_path_(std::move(stderr_path)) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe");
  if (err_path_.empty()) {
    char tmpl[] = "/tmp/yoi-child-stderr-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd >= 0) ::close(fd);
    err_path_ = tmpl;
    own_err_ = true;
  }
  auto envv = child_environment(env);
  ExecArgs args(argv, envv);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    // A test killed by its deadline must not leave servers behind: the child
    // gets SIGKILL when the thread that started it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    int errfd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::dup2(out[1], 1);
    ::dup2(errfd, 2);
    ::close(out[0]);
    ::close(out[1]);
    args.exec();
  }
  ::close(out[1]);
  out_fd_ = out[0];
}

Process::~Process() {
  kill();
  if (out_fd_ >= 0) ::close(out_fd_);
  if (own_err_) ::unlink(err_path_.c_str());
}

bool Process::pump(milliseconds wait) {
  if (out_fd_ < 0) {
    if (wait.count() > 0) std::this_thread::sleep_for(wait);
    return false;
  }
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return true;
  char buf[8192];
  auto n = ::read(out_fd_, buf, sizeof buf);
  if (n <= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
    return false;
  }
  out_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::uint16_t Process::wait_ready(std::string_view prefix, milliseconds timeout) {
  const std::string want = std::string(prefix) + "http://";
  auto deadline = clock::now() + timeout;
  for (;;) {
    auto nl = out_.find('\n');
    if (nl != std::string::npos) {
      auto line = out_.substr(0, nl);
      return line.rfind(want, 0) == 0 ? port_of(line) : 0;
    }
    if (clock::now() >= deadline || !pump(milliseconds(50))) {
      if (out_.find('\n') == std::string::npos) return 0;
    }
  }
}

std::uint16_t Process::wait_ready_any(std::string_view infix, milliseconds timeout) {
  const std::string want = std::string(infix) + "http://";
  auto deadline = clock::now() + timeout;
  for (;;) {
    auto nl = out_.find('\n');
    if (nl != std::string::npos) {
      auto line = out_.substr(0, nl);
      return line.find(want) != std::string::npos ? port_of(line) : 0;
    }
    if (clock::now() >= deadline || !pump(milliseconds(50))) {
      if (out_.find('\n') == std::string::npos) return 0;
    }
  }
}

std::optional<std::string> Process::wait_line(std::string_view needle, milliseconds timeout) {
  auto end = clock::now() + timeout;
  std::size_t scanned = 0;
  for (;;) {
    auto nl = out_.find('\n', scanned);
    while (nl != std::string::npos) {
      auto line = out_.substr(scanned, nl - scanned);
      scanned = nl + 1;
      if (line.find(needle) != std::string::npos) return line;
      nl = out_.find('\n', scanned);
    }
    if (clock::now() >= end || out_fd_ < 0) return std::nullopt;
    pump(milliseconds(50));
  }
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait_exit(milliseconds timeout) {
  if (exited_) return status_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = clock::now() + timeout;
  for (;;) {
    int st = 0;
    auto r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = exit_code(st);
      // What the child wrote before exiting (bounded: the pipe may be shared
      // with a grandchild that is still running).
      for (int i = 0; i < 100 && out_fd_ >= 0; ++i) pump(milliseconds(10));
      return status_;
    }
    if (r < 0 || clock::now() >= deadline) return std::nullopt;
    pump(milliseconds(20));
  }
}

int Process::stop(int sig, milliseconds timeout) {
  if (!running()) return status_;
  ::kill(pid_, sig);
  if (auto code = wait_exit(timeout)) return *code;
  kill();
  return -1;
}

void Process::kill() {
  if (!running()) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGKILL);
  int st = 0;
  if (::waitpid(pid_, &st, 0) == pid_) status_ = exit_code(st);
  exited_ = true;
}

const std::string& Process::stdout_text() {
  pump(milliseconds(0));
  return out_;
}

std::string Process::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t Process::rss_bytes() const { return running() ? testing::rss_bytes(pid_) : 0; }
int Process::open_fds() const { return running() ? testing::open_fds(pid_) : -1; }

std::size_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  std::size_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

int open_fds(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

RunResult run(const std::vector<std::string>& argv, const Env& env, const std::optional<std::string>& stdin_text,
              milliseconds deadline) {
  int in[2], out[2], err[2];
  if (::pipe(in) || ::pipe(out) || ::pipe(err)) throw std::runtime_error("pipe");
  auto envv = child_environment(env);
  ExecArgs args(argv, envv);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
    args.exec();
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (stdin_text) {
    auto n = ::write(in[1], stdin_text->data(), stdin_text->size());
    (void)n;
  }
  ::close(in[1]);
  RunResult r;
  auto end = clock::now() + deadline;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<milliseconds>(end - clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(left)) < 0) continue;
    char buf[8192];
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto n = ::read(p[i].fd, buf, sizeof buf);
      if (n <= 0)
        (i == 0 ? out_open : err_open) = false;
      else
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  auto reap = [&](clock::time_point until) {
    for (;;) {
      int st = 0;
      auto w = ::waitpid(pid, &st, WNOHANG);
      if (w == pid) return exit_code(st);
      if (w < 0) return -1;
      if (clock::now() >= until) return -2;
      ::usleep(5000);
    }
  };
  if (r.timed_out) {
    ::kill(pid, SIGKILL);
    reap(clock::now() + std::chrono::seconds(5));
    r.exit_code = -1;
    return r;
  }
  int code = reap(end + std::chrono::seconds(5));
  if (code == -2) {
    ::kill(pid, SIGKILL);
    reap(clock::now() + std::chrono::seconds(5));
    r.timed_out = true;
    code = -1;
  }
  r.exit_code = code;
  return r;
}

std::vector<int> pids_with_cmdline(std::string_view marker) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    auto name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (std::string_view(cmd.c_str()) == marker) pids.push_back(std::stoi(name));
  }
  return pids;
}

}  // namespace yoi::testing
