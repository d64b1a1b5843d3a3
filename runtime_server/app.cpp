#include "yoi/runtime_server/app.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/ids.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime_server/config.hpp"
#include "yoi/runtime_server/host.hpp"
#include "yoi/runtime_server/runtime_server.hpp"

namespace yoi::runtime_server {

int run_runtime(const AppFlags& flags) {
  yoi::log::init(flags.log_level);
  auto config_error = [](const Error& e) {
    yoi::log::fatal(fmt::format("yoi-runtime: {}", e.message));
    return 2;
  };
  RuntimeConfig cfg;
  if (flags.config) {
    auto c = load_config(*flags.config);
    if (!c) return config_error(c.error());
    cfg = std::move(*c);
  }
  if (flags.listen) cfg.listen = *flags.listen;
  if (flags.runtime_id) cfg.runtime_id = *flags.runtime_id;
  if (flags.display_name) cfg.display_name = *flags.display_name;
  if (flags.store) cfg.store = *flags.store;
  if (flags.data_dir) cfg.data_dir = *flags.data_dir;
  if (flags.token_file) cfg.token_file = *flags.token_file;

  if (!is_valid_id(cfg.runtime_id))
    return config_error(Error{Code::config_invalid, "--runtime-id is not a valid id ([A-Za-z0-9_:-], 1-120 chars)"});
  if (cfg.store != "memory" && cfg.store != "fs")
    return config_error(Error{Code::config_invalid, "--store must be 'memory' or 'fs'"});
  if (cfg.store == "fs" && cfg.data_dir.empty())
    return config_error(Error{Code::config_invalid, "--store fs needs --data-dir (or runtime.data_dir)"});
  auto hp = net::parse_host_port(cfg.listen);
  if (!hp) return config_error(Error{Code::config_invalid, hp.error().message});
  auto getenv = [](const char* n) { return std::getenv(n); };
  auto token = resolve_token(cfg.token_file, getenv);
  if (!token) return config_error(token.error());
  if (auto ok = check_auth_mode("yoi-runtime", hp->first, *token, flags.no_auth, kRuntimeTokenSources); !ok)
    return config_error(ok.error());
  if (flags.no_auth) *token = Secret();
  if (auto ok = check_listen_policy(hp->first, *token, kRuntimeTokenSources); !ok) return config_error(ok.error());
  net::RequestPolicy policy;
  policy.allowed_hosts = cfg.allowed_hosts;
  if (auto ok = net::check_policy(policy, hp->first); !ok) return config_error(ok.error());

  boost::asio::io_context io;
  auto runtime = open_runtime(io, cfg, "yoi-runtime", getenv);
  if (!runtime) {
    yoi::log::fatal(fmt::format("yoi-runtime: cannot open the runtime: {}", runtime.error().message));
    return runtime.error().code == Code::config_invalid ? 2 : 1;
  }

  ServerSettings ss;
  ss.host = hp->first;
  ss.port = hp->second;
  ss.token = std::move(*token);
  ss.allowed_hosts = cfg.allowed_hosts;
  ss.heartbeat_interval = cfg.heartbeat_interval;
  ss.max_body_bytes = cfg.max_body_bytes;
  ss.max_header_bytes = cfg.max_header_bytes;
  ss.ws_max_message_bytes = cfg.ws_max_message_bytes;
  ss.request_timeout = cfg.request_timeout;
  ss.header_timeout = cfg.header_timeout;
  ss.keep_alive_timeout = cfg.keep_alive_timeout;
  RuntimeServer server(io, **runtime, std::move(ss));
  GracefulStop stop(
      io, "yoi-runtime", cfg.shutdown_timeout,
      [&](std::chrono::milliseconds grace, std::function<void()> done) { server.shutdown(grace, std::move(done)); },
      runtime->get());
  if (auto ok = server.start(); !ok) {
    yoi::log::fatal(fmt::format("yoi-runtime: {}", ok.error().message));
    return 1;
  }
  std::cout << listening_line("yoi-runtime", hp->first, server.port()) << std::endl;
  spdlog::info("yoi-runtime: runtime '{}' ({} store, epoch {}) on port {}", cfg.runtime_id, cfg.store,
               (*runtime)->epoch(), server.port());
  io.run();
  spdlog::info("yoi-runtime: stopped");
  return stop.exit_code();
}

}  // namespace yoi::runtime_server
