// yoi-server: the workspace backend (ARCHITECTURE §1, §7, §9). Flags only;
// the process is yoi::backend::run_server (backend/src/app.cpp).
#include <CLI/CLI.hpp>

#include "yoi/backend/app.hpp"
#include "yoi/usage.hpp"

int main(int argc, char** argv) {
  CLI::App app{"yoi-server: the yoi workspace backend"};
  yoi::backend::AppFlags f;
  std::string listen, config, data_dir, web_dir, access_token_file;
  auto* o_listen = app.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8787; port 0 picks one)");
  auto* o_cfg = app.add_option("--config", config, "TOML configuration file")->check(CLI::ExistingFile);
  auto* o_dir = app.add_option("--data-dir", data_dir, "data directory (default ./.yoi-data)");
  app.add_flag("--no-embedded", f.no_embedded, "do not run the embedded runtime");
  app.add_flag("--no-auth", f.no_auth, "no access token (loopback only; for local experiments)");
  auto* o_web = app.add_option("--web-dir", web_dir, "the web console's files (default web/dist)");
  auto* o_tok = app.add_option("--access-token-file", access_token_file,
                               "file holding the access token (else $YOI_ACCESS_TOKEN, else <data-dir>/access-token, made once)");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off, in any case")
      ->capture_default_str()
      ->transform(yoi::usage::log_level_validator());
  if (auto code = yoi::usage::parse_args(app, argc, argv)) return *code;
  if (*o_listen) f.listen = listen;
  if (*o_cfg) f.config = config;
  if (*o_dir) f.data_dir = data_dir;
  if (*o_web) f.web_dir = web_dir;
  if (*o_tok) f.access_token_file = access_token_file;
  return yoi::backend::run_server(f);
}
