// yoi-runtime: hosts Workers and serves the runtime API (docs/API.md).
#include <CLI/CLI.hpp>

#include "yoi/runtime_server/app.hpp"
#include "yoi/usage.hpp"

int main(int argc, char** argv) {
  CLI::App app{"yoi-runtime: runs LLM agent Workers and serves the /v1 runtime API"};
  yoi::runtime_server::AppFlags f;
  std::string listen, runtime_id, display_name, store, data_dir, config, token_file;
  auto* o_listen = app.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8790; port 0 picks one)");
  auto* o_id = app.add_option("--runtime-id", runtime_id, "runtime id");
  auto* o_name = app.add_option("--display-name", display_name, "display name");
  auto* o_store = app.add_option("--store", store, "memory | fs")->check(CLI::IsMember({"memory", "fs"}));
  auto* o_dir = app.add_option("--data-dir", data_dir, "data directory (fs store)");
  auto* o_cfg = app.add_option("--config", config, "TOML config file")->check(CLI::ExistingFile);
  auto* o_tok = app.add_option("--token-file", token_file,
                               "file holding the bearer token (else $YOI_RUNTIME_TOKEN; one is required)");
  app.add_flag("--no-auth", f.no_auth, "run without a token (loopback only; for local experiments)");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off, in any case")
      ->capture_default_str()
      ->transform(yoi::usage::log_level_validator());
  if (auto code = yoi::usage::parse_args(app, argc, argv)) return *code;
  if (*o_listen) f.listen = listen;
  if (*o_id) f.runtime_id = runtime_id;
  if (*o_name) f.display_name = display_name;
  if (*o_store) f.store = store;
  if (*o_dir) f.data_dir = data_dir;
  if (*o_cfg) f.config = config;
  if (*o_tok) f.token_file = token_file;
  return yoi::runtime_server::run_runtime(f);
}
