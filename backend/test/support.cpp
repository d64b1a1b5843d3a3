#include "support.hpp"

namespace yoi::backend::test {

std::string build_dir() { return yoi::testing::build_dir(); }
std::string runtime_binary() { return build_dir() + "/apps/yoi-runtime/yoi-runtime"; }
std::string server_binary() { return build_dir() + "/apps/yoi-server/yoi-server"; }

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
  if (proc) proc->kill();
}

}  // namespace yoi::backend::test
