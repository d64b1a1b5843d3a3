// The process runner: posix_spawn into a new process group, pipes and a
// pidfd watched by the io_context (no thread blocks on them), one Outcome.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "yoi/sandbox/sandbox.hpp"
#include "yoi/tools/output.hpp"

namespace yoi::sandbox {
namespace {

namespace asio = boost::asio;
using tools::ToolCode;
using tools::ToolError;

// After the process exits, its pipes are drained for at most this long (a
// straggler that left the group cannot hold the call open).
constexpr std::chrono::milliseconds kDrainGrace{500};
constexpr std::size_t kReadChunk = 64 * 1024;

struct Pipe {
  int read = -1, write = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
  void close_write() {
    if (write >= 0) ::close(std::exchange(write, -1));
  }
  void close_all() {
    close_write();
    if (read >= 0) ::close(std::exchange(read, -1));
  }
};

// Turns a vector of strings into a NULL-terminated char* array.
std::vector<char*> c_array(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

class Proc : public std::enable_shared_from_this<Proc> {
 public:
  Proc(asio::io_context& io, std::size_t max_output, OnOutput on_output, OnDone on_done)
      : io_(io), out_(io), err_(io), status_(io), exit_(io), timer_(io), drain_(io), capture_(max_output),
        on_output_(std::move(on_output)), on_done_(std::move(on_done)) {}

  // Spawns; on failure the Outcome is posted. Called once, on io's thread.
  void start(const Policy& policy, Command cmd) {
    timeout_ = cmd.timeout;
    bwrap_ = policy.mode == Mode::bwrap;
    Pipe out, err, status;
    if (!out.open() || !err.open() || (bwrap_ && !status.open()))
      return fail_start(out, err, status, ToolCode::tool_failed, fmt::format("pipe: {}", std::strerror(errno)));

    std::vector<std::string> argv, env;
    if (bwrap_) {
      argv = bwrap_argv(policy, cmd, status.write);
      env = sandbox_env();
    } else {
      argv = {"/bin/bash", "-c", cmd.command};
      env = sandbox_env();
      for (auto& kv : env)
        if (kv.starts_with("HOME=")) kv = "HOME=" + cmd.view.home_host_path;
    }
    auto cargv = c_array(argv);
    auto cenv = c_array(env);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out.write, 1);
    posix_spawn_file_actions_adddup2(&fa, err.write, 2);
    // dup2 onto itself clears FD_CLOEXEC: the status pipe reaches bwrap.
    if (bwrap_) posix_spawn_file_actions_adddup2(&fa, status.write, status.write);
    else posix_spawn_file_actions_addchdir_np(&fa, cmd.view.home_host_path.c_str());
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group: killed as one
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = bwrap_ ? ::posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data())
                    : ::posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      if (bwrap_)
        return fail_start(out, err, status, ToolCode::sandbox_unavailable,
                          fmt::format("bubblewrap ({}) cannot be started: {}; commands never run unsandboxed",
                                      policy.bwrap_path, std::strerror(rc)));
      return fail_start(out, err, status, ToolCode::tool_failed, fmt::format("bash cannot be started: {}", std::strerror(rc)));
    }
    pid_ = pid;
    out.close_write();
    err.close_write();
    status.close_write();
    out_.assign(out.read);
    err_.assign(err.read);
    if (bwrap_) status_.assign(status.read);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) {  // cannot watch it: kill it rather than leave it unwatched
      kill_group();
      reap(true);
      close_all();
      return post_failure(ToolCode::tool_failed, fmt::format("pidfd_open: {}", std::strerror(errno)));
    }
    exit_.assign(pidfd);

    auto self = shared_from_this();
    read(out_, Stream::stdout_, out_open_);
    read(err_, Stream::stderr_, err_open_);
    if (bwrap_) read_status();
    else status_open_ = false;
    exit_.async_wait(asio::posix::descriptor_base::wait_read, [self](boost::system::error_code ec) {
      if (!ec && !self->abandoned_) self->on_exit();
    });
    timer_.expires_after(timeout_);
    timer_.async_wait([self](boost::system::error_code ec) {
      if (ec || self->abandoned_ || self->exited_) return;
      self->timed_out_ = true;
      self->kill_group();
    });
  }

  void cancel() {
    if (abandoned_ || delivered_ || exited_) return;
    cancelled_ = true;
    kill_group();
  }

  // The Handle is gone: kill, reap, deliver nothing.
  void abandon() {
    if (abandoned_) return;
    abandoned_ = true;
    on_output_ = nullptr;
    on_done_ = nullptr;
    if (pid_ > 0 && !reaped_) {
      kill_group();
      reap(true);
    }
    close_all();
  }

  int pid() const { return pid_; }

 private:
  void fail_start(Pipe& out, Pipe& err, Pipe& status, ToolCode code, std::string message) {
    out.close_all();
    err.close_all();
    status.close_all();
    post_failure(code, std::move(message));
  }

  void post_failure(ToolCode code, std::string message) {
    Outcome o;
    o.error = ToolError{code, std::move(message)};
    asio::post(io_, [self = shared_from_this(), o = std::move(o)]() mutable {
      if (self->abandoned_ || self->delivered_) return;
      self->delivered_ = true;
      if (auto done = std::move(self->on_done_)) done(std::move(o));
    });
  }

  void read(asio::posix::stream_descriptor& d, Stream s, bool& open) {
    auto self = shared_from_this();
    auto* buf = s == Stream::stdout_ ? &out_buf_ : &err_buf_;
    d.async_read_some(asio::buffer(*buf), [self, &d, s, &open, buf](boost::system::error_code ec, std::size_t n) {
      if (self->abandoned_) return;
      if (n > 0) {
        std::string_view bytes(buf->data(), n);
        self->capture_.append(bytes);
        if (s == Stream::stderr_ && self->bwrap_ && !self->child_started_ && self->setup_error_.size() < 1024)
          self->setup_error_.append(bytes.substr(0, 1024 - self->setup_error_.size()));
        if (self->on_output_) self->on_output_(s, bytes);
      }
      if (ec) {
        open = false;
        return self->maybe_finish();
      }
      self->read(d, s, open);
    });
  }

  // bwrap's JSON lines: {"child-pid": N} once the sandbox is up, then
  // {"exit-code": N}. Only the presence of each matters here.
  void read_status() {
    auto self = shared_from_this();
    status_.async_read_some(asio::buffer(status_buf_), [self](boost::system::error_code ec, std::size_t n) {
      if (self->abandoned_) return;
      self->status_text_.append(self->status_buf_.data(), n);
      if (self->status_text_.find("\"child-pid\"") != std::string::npos) self->child_started_ = true;
      if (auto at = self->status_text_.find("\"exit-code\""); at != std::string::npos) {
        auto colon = self->status_text_.find(':', at);
        if (colon != std::string::npos) {
          int code = std::atoi(self->status_text_.c_str() + colon + 1);
          self->bwrap_exit_code_ = code;
        }
      }
      if (self->status_text_.size() > 4096) self->status_text_.erase(0, 2048);
      if (ec) {
        self->status_open_ = false;
        return self->maybe_finish();
      }
      self->read_status();
    });
  }

  void on_exit() {
    // The process is a zombie until reaped: its pid (the group id) cannot
    // be reused yet, so killing the group now cannot hit a stranger.
    kill_group();
    reap(false);
    exited_ = true;
    timer_.cancel();
    drain_.expires_after(kDrainGrace);
    auto self = shared_from_this();
    drain_.async_wait([self](boost::system::error_code ec) {
      if (ec || self->abandoned_) return;
      self->close_all();
      self->out_open_ = self->err_open_ = self->status_open_ = false;
      self->maybe_finish();
    });
    maybe_finish();
  }

  void kill_group() {
    if (pid_ > 0 && !reaped_) ::kill(-pid_, SIGKILL);
  }

  void reap(bool block) {
    int st = 0;
    pid_t r;
    do r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid_) {
      reaped_ = true;
      wait_status_ = st;
    } else if (r < 0) {
      reaped_ = true;  // not ours any more (ECHILD): nothing to kill
    }
  }

  void maybe_finish() {
    if (delivered_ || abandoned_ || !exited_ || out_open_ || err_open_ || status_open_) return;
    delivered_ = true;
    drain_.cancel();
    close_all();
    Outcome o;
    auto bounded = capture_.finish();
    o.output = std::move(bounded.text);
    o.truncated = bounded.truncated;
    o.output_bytes = capture_.total();
    if (timed_out_) {
      o.error = ToolError{ToolCode::tool_timeout,
                          fmt::format("the command ran longer than its timeout ({} ms) and was killed", timeout_.count())};
    } else if (cancelled_) {
      o.error = ToolError{ToolCode::cancelled, "the command was cancelled and killed"};
    } else if (bwrap_ && !child_started_) {
      auto first = setup_error_.substr(0, setup_error_.find('\n'));
      o.error = ToolError{ToolCode::sandbox_unavailable,
                          fmt::format("bubblewrap could not set up the sandbox: {}; commands never run unsandboxed",
                                      first.empty() ? "no reason given" : tools::valid_utf8_copy(first))};
      o.output.clear();
      o.truncated = false;
    } else if (bwrap_exit_code_) {
      o.exit_code = *bwrap_exit_code_;
    } else if (WIFEXITED(wait_status_)) {
      o.exit_code = WEXITSTATUS(wait_status_);
    } else if (WIFSIGNALED(wait_status_)) {
      o.exit_code = 128 + WTERMSIG(wait_status_);
    }
    if (auto done = std::move(on_done_)) done(std::move(o));
    on_output_ = nullptr;
  }

  void close_all() {
    boost::system::error_code ec;
    out_.close(ec);
    err_.close(ec);
    status_.close(ec);
    exit_.close(ec);
    timer_.cancel();
  }

  asio::io_context& io_;
  asio::posix::stream_descriptor out_, err_, status_, exit_;
  asio::steady_timer timer_, drain_;
  std::array<char, kReadChunk> out_buf_{}, err_buf_{};
  std::array<char, 512> status_buf_{};
  tools::OutputCapture capture_;
  OnOutput on_output_;
  OnDone on_done_;
  std::chrono::milliseconds timeout_{0};
  pid_t pid_ = 0;
  int wait_status_ = 0;
  bool bwrap_ = false;
  bool out_open_ = true, err_open_ = true, status_open_ = true;
  bool exited_ = false, reaped_ = false, delivered_ = false, abandoned_ = false;
  bool timed_out_ = false, cancelled_ = false, child_started_ = false;
  std::optional<int> bwrap_exit_code_;
  std::string status_text_, setup_error_;
};

class HandleImpl final : public Handle {
 public:
  explicit HandleImpl(std::shared_ptr<Proc> p) : proc_(std::move(p)) {}
  ~HandleImpl() override { proc_->abandon(); }
  void cancel() override { proc_->cancel(); }
  int pid() const override { return proc_->pid(); }

 private:
  std::shared_ptr<Proc> proc_;
};

}  // namespace

std::unique_ptr<Handle> run(asio::io_context& io, const Policy& policy, Command cmd, OnOutput on_output,
                            OnDone on_done) {
  auto proc = std::make_shared<Proc>(io, cmd.max_output_bytes, std::move(on_output), std::move(on_done));
  proc->start(policy, std::move(cmd));
  return std::make_unique<HandleImpl>(std::move(proc));
}

}  // namespace yoi::sandbox
