#include "stack.hpp"

#include <fstream>
#include <sstream>
#include <thread>

namespace yoi::reliability {

namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::trunc) << text; }

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Stack::Stack(StackOptions o) : o_(std::move(o)) {
  char tmpl[] = "/tmp/yoi-reliability-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  write(dir_ / "rt.token", canaries_.runtime_token + "\n");
  write(dir_ / "access.token", canaries_.access_token + "\n");
  // The openai profile is never used by a worker: it is there so the
  // runtime holds a provider key (a canary) in memory.
  write(dir_ / "rt.toml", "[runtime]\nid = \"edge\"\nfsync = \"always\"\nheartbeat_interval_ms = " +
                              std::to_string(o_.heartbeat_ms) + "\n" + limits() +
                              "[profiles.runtime_default]\nengine = \"echo\"\necho_chunk_bytes = 1\n"
                              "echo_chunk_delay_ms = " + std::to_string(o_.echo_chunk_delay_ms) +
                              "\n[profiles.gpt]\nengine = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n"
                              "model = \"m\"\napi_key_env = \"" + canaries_.provider_env + "\"\n");
}

Stack::~Stack() {
  srv_.reset();
  rt_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string Stack::limits() const {
  if (o_.header_timeout_ms <= 0) return "";
  return "[limits]\nheader_timeout_ms = " + std::to_string(o_.header_timeout_ms) + "\n";
}

std::string Stack::runtime_url() const {
  return "http://" + o_.runtime_host + ":" + std::to_string(rt_port_);
}

::testing::AssertionResult Stack::start_runtime() {
  auto bin = testing::binary("yoi-runtime");
  if (bin.empty()) return ::testing::AssertionFailure() << "yoi-runtime is not built";
  auto argv = o_.runtime_prefix;
  std::vector<std::string> own{bin, "--listen", o_.runtime_host + ":" + std::to_string(rt_port_), "--config",
                               (dir_ / "rt.toml").string(), "--token-file", (dir_ / "rt.token").string(),
                               "--store", "fs", "--data-dir", (dir_ / "rt-data").string(),
                               "--log-level", o_.runtime_log_level};
  argv.insert(argv.end(), own.begin(), own.end());
  // A restart right after a SIGKILL may find the port still held briefly.
  for (int attempt = 0; attempt < 50; ++attempt) {
    rt_ = std::make_unique<testing::Process>(argv, testing::Env{{canaries_.provider_env, canaries_.provider_key}},
                                             (dir_ / "runtime.log").string());
    auto port = rt_->wait_ready("yoi-runtime listening on ", 20s);
    if (port) {
      rt_port_ = port;
      return ::testing::AssertionSuccess();
    }
    rt_->kill();
    if (rt_port_ == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  return ::testing::AssertionFailure() << "yoi-runtime did not start: " << read(dir_ / "runtime.log");
}

::testing::AssertionResult Stack::start_server() {
  auto bin = testing::binary("yoi-server");
  if (bin.empty()) return ::testing::AssertionFailure() << "yoi-server is not built";
  write(dir_ / "server.toml", "[[runtimes]]\nid = \"edge\"\ndisplay_name = \"Edge\"\nbase_url = \"" + runtime_url() +
                                  "\"\ntoken_file = \"" + (dir_ / "rt.token").string() +
                                  "\"\ntimeout_ms = " + std::to_string(o_.timeout_ms) +
                                  "\nconnect_timeout_ms = " + std::to_string(o_.connect_timeout_ms) +
                                  "\nprobe_interval_ms = " + std::to_string(o_.probe_interval_ms) + "\n" +
                                  limits());
  auto argv = o_.server_prefix;
  std::vector<std::string> own{bin, "--listen", o_.server_host + ":" + std::to_string(srv_port_), "--config",
                               (dir_ / "server.toml").string(), "--data-dir", (dir_ / "srv-data").string(),
                               "--no-embedded", "--access-token-file", (dir_ / "access.token").string(),
                               "--web-dir", (dir_ / "no-web").string(), "--log-level", o_.server_log_level};
  argv.insert(argv.end(), own.begin(), own.end());
  srv_ = std::make_unique<testing::Process>(argv, testing::Env{}, (dir_ / "server.log").string());
  srv_port_ = srv_->wait_ready("yoi-server listening on ", 20s);
  if (!srv_port_) return ::testing::AssertionFailure() << "yoi-server did not start: " << read(dir_ / "server.log");
  return ::testing::AssertionSuccess();
}

void Stack::kill_runtime() {
  if (rt_) rt_->kill();
}
void Stack::kill_server() {
  if (srv_) srv_->kill();
}

std::string Stack::logs() const { return read(dir_ / "runtime.log") + read(dir_ / "server.log"); }

}  // namespace yoi::reliability
