#pragma once
// The CLI tests' fixtures: a real yoi-server (embedded runtime, fs store) on
// 127.0.0.1:0, and `yoi` run against it with the token found as a user's
// `yoi` finds it. Shared by cli_test.cpp and tui_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace yoi::cli::test {

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class Server {
 public:
  // `extra_config` is appended to the TOML file.
  // `echo_delay_ms` is the embedded echo engine's delay before each chunk.
  explicit Server(std::string extra_config = {}, std::map<std::string, std::string> env = {},
                  int echo_delay_ms = 40)
      : dir_(make_temp_dir()), env_(std::move(env)) {
    // The embedded runtime's profile: writes of *.md run without asking
    // (ARCHITECTURE §15: writes ask by default); any other write asks.
    write_file(dir_ + "/rt.toml",
               fmt::format("[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_delay_ms = {}\n"
                           "[[profiles.runtime_default.permissions]]\ntool = \"write\"\n"
                           "pattern = \"*.md\"\naction = \"allow\"\n",
                           echo_delay_ms));
    write_file(dir_ + "/server.toml",
               fmt::format("[embedded]\nstore = \"fs\"\nfsync = \"batch\"\necho_chunk_delay_ms = {}\n"
                           "runtime_config = \"{}\"\n",
                           echo_delay_ms, dir_ + "/rt.toml") +
                   extra_config);
  }
  ~Server() {
    child_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Starts on `port` (0: any); false with the reason on failure.
  ::testing::AssertionResult start(int port = 0) {
    auto bin = binary("yoi-server");
    if (bin.empty()) return ::testing::AssertionFailure() << "yoi-server is not built";
    child_ = std::make_unique<Child>(
        std::vector<std::string>{bin, "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                                 dir_ + "/data", "--config", dir_ + "/server.toml", "--web-dir",
                                 dir_ + "/no-web", "--log-level", "warn"},
        env_);
    auto line = child_->wait_line("yoi-server listening on http://", 15s);
    if (!line)
      return ::testing::AssertionFailure() << "yoi-server did not start: " << child_->stderr_text();
    std::smatch m;
    if (!std::regex_search(*line, m, std::regex("http://([0-9.]+):([0-9]+)")))
      return ::testing::AssertionFailure() << "unexpected line: " << *line;
    url_ = "http://" + m[1].str() + ":" + m[2].str();
    port_ = std::stoi(m[2].str());
    return ::testing::AssertionSuccess();
  }
  void stop() {
    if (child_) {
      // 143: SIGTERM landed before yoi-server installed its handler (it
      // does so after printing the ready line) — still a clean stop here.
      int code = child_->stop(SIGTERM, 15s);
      EXPECT_TRUE(code == 0 || code == 143) << code << ": " << child_->stderr_text();
    }
    child_.reset();
  }
  // SIGKILL: a crash, nothing flushed or closed.
  void kill() {
    if (child_) child_->kill();
    child_.reset();
  }
  // What this run of yoi-server logged so far.
  std::string log() const { return child_ ? child_->stderr_text() : std::string(); }
  ::testing::AssertionResult restart() {
    stop();
    // The port may linger briefly; retry the bind for a while.
    for (int i = 0; i < 50; ++i) {
      auto r = start(port_);
      if (r) return r;
      std::this_thread::sleep_for(100ms);
    }
    return ::testing::AssertionFailure() << "could not restart on port " << port_;
  }
  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }

 private:
  std::string dir_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<Child> child_;
  std::string url_;
  int port_ = 0;
};

inline std::string yoi_bin() {
  return binary("yoi");
}

// The environment of a `yoi` talking to `s`: `env`, then no token or server
// from the test's own environment, and the token the server made on first
// start found as a user's `yoi` finds it ($YOI_DATA_DIR/access-token).
inline std::map<std::string, std::string> yoi_env(const Server& s,
                                                  std::map<std::string, std::string> env = {}) {
  env.emplace("YOI_ACCESS_TOKEN", "");
  env.emplace("YOI_SERVER", "");
  env.emplace("YOI_DATA_DIR", s.dir() + "/data");
  return env;
}

// Runs `yoi --server URL args...`.
inline Run yoi(const Server& s, std::vector<std::string> args,
               const std::map<std::string, std::string>& env = {},
               const std::optional<std::string>& in = std::nullopt,
               std::chrono::milliseconds deadline = 20s) {
  std::vector<std::string> argv{yoi_bin(), "--server", s.url()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, yoi_env(s, env), in, deadline);
  EXPECT_FALSE(r.timed_out) << "yoi timed out: " << args[0];
  return r;
}

inline bj::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto v = bj::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

inline std::vector<bj::object> json_lines(const std::string& text) {
  std::vector<bj::object> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    auto line = text.substr(at, nl - at);
    at = nl + 1;
    if (line.empty()) continue;
    auto v = parse(line);
    if (v.is_object()) out.push_back(v.as_object());
  }
  return out;
}

// stderr has a line starting with `prefix` (notes may precede the error).
inline bool has_line(const std::string& err, const std::string& prefix) {
  return err.rfind(prefix, 0) == 0 || err.find("\n" + prefix) != std::string::npos;
}

inline std::string s(const bj::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

inline std::string create_worker(const Server& srv, const std::string& runtime = "local",
                                 std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"create", "--runtime", runtime};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = yoi(srv, args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto ref = r.out;
  while (!ref.empty() && ref.back() == '\n') ref.pop_back();
  EXPECT_EQ(ref.rfind(runtime + "/", 0), 0u) << ref;
  return ref;
}

}  // namespace yoi::cli::test
