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

extern char** environ;

namespace yoi::cli::test {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> make_env(const std::map<std::string, std::string>& extra) {
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

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> a, e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  ::execve(a[0], a.data(), e.data());
  ::_exit(127);
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Reaps `pid` within `deadline`; -1 if still running.
int reap(pid_t pid, clock::time_point deadline) {
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode(status);
    if (r < 0) return -1;
    if (clock::now() >= deadline) return -2;
    ::usleep(5000);
  }
}

}  // namespace

std::string binary(const std::string& name) {
  // YOI_SERVER_BIN / YOI_RUNTIME_BIN / YOI_BIN name a binary outright.
  std::string var = name == "yoi" ? "YOI_BIN" : name == "yoi-server" ? "YOI_SERVER_BIN" : "YOI_RUNTIME_BIN";
  if (const char* p = std::getenv(var.c_str()); p && *p && fs::exists(p)) return p;
  std::vector<std::string> roots;
  if (const char* d = std::getenv("YOI_BUILD_DIR"); d && *d) roots.emplace_back(d);
#ifdef YOI_CLI_TEST_BUILD_DIR
  roots.emplace_back(YOI_CLI_TEST_BUILD_DIR);
#endif
  for (const auto& r : roots) {
    auto p = fs::path(r) / "apps" / name / name;
    if (fs::exists(p)) return p.string();
  }
  return {};
}

Run run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        const std::optional<std::string>& stdin_text, milliseconds deadline) {
  int in[2], out[2], err[2];
  if (::pipe(in) || ::pipe(out) || ::pipe(err)) throw std::runtime_error("pipe");
  auto envv = make_env(env);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
    exec_child(argv, envv);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (stdin_text) {
    // Small inputs only: fits the pipe buffer.
    auto n = ::write(in[1], stdin_text->data(), stdin_text->size());
    (void)n;
  }
  ::close(in[1]);
  Run r;
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
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  if (r.timed_out) {
    ::kill(pid, SIGKILL);
    reap(pid, clock::now() + std::chrono::seconds(5));
    r.exit_code = -1;
    return r;
  }
  int code = reap(pid, end + std::chrono::seconds(5));
  if (code == -2) {
    ::kill(pid, SIGKILL);
    reap(pid, clock::now() + std::chrono::seconds(5));
    r.timed_out = true;
    code = -1;
  }
  r.exit_code = code;
  return r;
}

// ---------------------------------------------------------------- Child

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int out[2];
  if (::pipe(out)) throw std::runtime_error("pipe");
  err_path_ = make_temp_dir() + "/stderr";
  auto envv = make_env(env);
  pid_ = ::fork();
  if (pid_ == 0) {
    int errfd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::dup2(out[1], 1);
    ::dup2(errfd, 2);
    ::close(out[0]);
    ::close(out[1]);
    exec_child(argv, envv);
  }
  ::close(out[1]);
  out_fd_ = out[0];
}

Child::~Child() {
  if (pid_ > 0) stop(SIGKILL, milliseconds(5000));
  if (out_fd_ >= 0) ::close(out_fd_);
  std::error_code ec;
  fs::remove_all(fs::path(err_path_).parent_path(), ec);
}

void Child::pump(milliseconds wait) {
  if (out_fd_ < 0) {
    if (wait.count() > 0) ::usleep(static_cast<useconds_t>(wait.count() * 1000));
    return;
  }
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
  char buf[8192];
  auto n = ::read(out_fd_, buf, sizeof buf);
  if (n <= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
  } else {
    out_.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> Child::wait_line(const std::string& needle, milliseconds deadline) {
  auto end = clock::now() + deadline;
  std::size_t scanned = 0;
  for (;;) {
    auto nl = out_.find('\n', scanned);
    while (nl != std::string::npos) {
      auto line = out_.substr(scanned, nl - scanned);
      scanned = nl + 1;
      if (line.find(needle) != std::string::npos) return line;
      nl = out_.find('\n', scanned);
    }
    if (clock::now() >= end || (out_fd_ < 0)) return std::nullopt;
    pump(milliseconds(50));
  }
}

const std::string& Child::out() {
  pump(milliseconds(0));
  return out_;
}

std::string Child::err() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Child::wait(milliseconds deadline) {
  if (pid_ <= 0) return status_;
  auto end = clock::now() + deadline;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      // Drain what is left on stdout.
      for (int i = 0; i < 100 && out_fd_ >= 0; ++i) pump(milliseconds(10));
      return status_ = decode(status);
    }
    if (clock::now() >= end) return -1;
    pump(milliseconds(20));
  }
}

int Child::stop(int sig, milliseconds deadline) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, sig);
  int code = wait(deadline);
  if (code == -1 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    code = wait(milliseconds(5000));
    return -1;
  }
  return code;
}

// ---------------------------------------------------------------- Pty

Pty::Pty(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  auto envv = make_env(env);
  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = 200;
  pid_ = ::forkpty(&fd_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error("forkpty");
  if (pid_ == 0) exec_child(argv, envv);
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
      return decode(status);
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
