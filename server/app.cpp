#include "yoi/server/app.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/ids.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/server/config.hpp"
#include "yoi/server/runtime_server.hpp"
#include "yoi/store/fs_store.hpp"

namespace yoi::server {

int run_runtime(const AppFlags& flags) {
  yoi::log::init(flags.log_level);
  auto config_error = [](const Error& e) {
    spdlog::error("yoi-runtime: {}", e.message);
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
  if (auto ok = check_listen_policy(hp->first, *token); !ok) return config_error(ok.error());
  if (auto ok = resolve_api_keys(cfg.profiles, getenv); !ok) return config_error(ok.error());

  boost::asio::io_context io;
  store::RetentionLimits retention{cfg.limits.retention_events, cfg.limits.retention_bytes};
  std::unique_ptr<store::Store> st;
  if (cfg.store == "fs") {
    store::FsOptions fo;
    fo.dir = cfg.data_dir;
    auto policy = store::fsync_policy_from_name(cfg.fsync);
    if (!policy) return config_error(policy.error());
    fo.fsync = *policy;
    fo.batch_interval = cfg.fsync_batch_interval;
    fo.retention = retention;
    st = store::make_fs_store(io, std::move(fo));
  } else {
    st = store::make_memory_store(io, retention);
  }

  rt::RuntimeOptions ro;
  ro.runtime_id = cfg.runtime_id;
  ro.display_name = cfg.display_name;
  ro.limits = cfg.limits;
  ro.profiles = cfg.profiles;
  auto runtime = rt::Runtime::open(io, std::move(ro), std::move(st));
  if (!runtime) {
    spdlog::error("yoi-runtime: cannot open the runtime: {}", runtime.error().message);
    return runtime.error().code == Code::config_invalid ? 2 : 1;
  }
  for (const auto& d : (*runtime)->diagnostics()) spdlog::warn("yoi-runtime: restore: {}", d);

  ServerSettings ss;
  ss.host = hp->first;
  ss.port = hp->second;
  ss.token = std::move(*token);
  ss.heartbeat_interval = cfg.heartbeat_interval;
  ss.max_body_bytes = cfg.max_body_bytes;
  ss.max_header_bytes = cfg.max_header_bytes;
  ss.ws_max_message_bytes = cfg.ws_max_message_bytes;
  ss.request_timeout = cfg.request_timeout;
  ss.header_timeout = cfg.header_timeout;
  ss.keep_alive_timeout = cfg.keep_alive_timeout;
  RuntimeServer server(io, **runtime, std::move(ss));
  // Installed before the listening line: a signal right after it must
  // already mean "graceful shutdown".
  int exit_code = 0;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  if (auto ok = server.start(); !ok) {
    spdlog::error("yoi-runtime: {}", ok.error().message);
    return 1;
  }
  std::string host = hp->first.find(':') != std::string::npos ? "[" + hp->first + "]" : hp->first;
  std::cout << fmt::format("yoi-runtime listening on http://{}:{}", host, server.port()) << std::endl;
  spdlog::info("yoi-runtime: runtime '{}' ({} store, epoch {}) serving on {}:{}", cfg.runtime_id, cfg.store,
               (*runtime)->epoch(), host, server.port());

  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("yoi-runtime: signal {}: shutting down", sig);
    server.shutdown(cfg.shutdown_timeout, [&] {
      spdlog::info("yoi-runtime: connections drained; flushing the store");
      (*runtime)->flush([&](Result<void> r) {
        if (!r) {
          spdlog::error("yoi-runtime: flush failed: {}", r.error().message);
          exit_code = 1;
        }
        io.stop();
      });
    });
  });
  io.run();
  spdlog::info("yoi-runtime: stopped");
  return exit_code;
}

}  // namespace yoi::server
