// yoi-server: the workspace backend (ARCHITECTURE §1, §7, §9). Thin: flags and
// config → registry (embedded runtime + remote runtimes) → browser API on the
// net/ server. Everything it wires lives in backend/.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/stat.h>

#include "yoi/backend/api.hpp"
#include "yoi/backend/config.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/server/config.hpp"
#include "yoi/backend/observe.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/clock.hpp"
#include "yoi/ids.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/fs_store.hpp"

namespace fs = std::filesystem;
using namespace yoi;

namespace {

int die(const Error& e) {
  spdlog::error("yoi-server: {}", e.message);
  return 2;
}

// The cursor key: 32 random bytes kept in the data dir so cursors survive a
// restart (and a second backend sharing the dir can resume them).
Result<Secret> cursor_key(const fs::path& data_dir) {
  auto path = data_dir / "backend-cursor.key";
  std::error_code ec;
  if (fs::exists(path, ec)) return backend::read_token_file(path.string(), "the cursor key file");
  auto key = Random::system().hex(32);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return fail(Code::store_io, "cannot write the cursor key in the data directory");
    out << key << "\n";
  }
  ::chmod(path.c_str(), 0600);
  return Secret(key);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"yoi-server: the yoi workspace backend"};
  std::string listen, config_file, data_dir, web_dir, access_token_file, log_level = "info";
  bool no_embedded = false;
  app.add_option("--listen", listen, "host:port to listen on (default 127.0.0.1:8787)");
  app.add_option("--config", config_file, "TOML configuration file");
  app.add_option("--data-dir", data_dir, "data directory (default ./.yoi-data)");
  app.add_flag("--no-embedded", no_embedded, "do not run the embedded runtime");
  app.add_option("--web-dir", web_dir, "the web console's files (default web/dist)");
  app.add_option("--access-token-file", access_token_file,
                 "file holding the browser access token (or YOI_ACCESS_TOKEN)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  CLI11_PARSE(app, argc, argv);
  log::init(log_level);

  backend::ServerConfig cfg;
  if (!config_file.empty()) {
    auto c = backend::load_config(config_file);
    if (!c) return die(c.error());
    cfg = std::move(*c);
  }
  // Flags win over the file.
  if (listen.empty()) listen = cfg.listen.value_or("127.0.0.1:8787");
  if (data_dir.empty()) data_dir = cfg.data_dir.value_or("./.yoi-data");
  if (web_dir.empty()) web_dir = cfg.web_dir.value_or("web/dist");
  if (access_token_file.empty()) access_token_file = cfg.access_token_file.value_or("");
  if (no_embedded) cfg.embedded.enabled = false;

  auto hp = net::parse_host_port(listen);
  if (!hp) return die(Error{Code::config_invalid, fmt::format("--listen: {}", hp.error().message)});

  Secret access_token;
  if (!access_token_file.empty()) {
    auto t = backend::read_token_file(access_token_file, "access_token_file");
    if (!t) return die(t.error());
    access_token = std::move(*t);
  } else if (const char* env = std::getenv("YOI_ACCESS_TOKEN"); env && *env) {
    access_token = Secret(env);
  }
  if (access_token.empty() && !net::is_loopback_host(hp->first))
    return die(Error{Code::config_invalid,
                     fmt::format("refusing to listen on non-loopback address {} without an access token "
                                 "(--access-token-file or YOI_ACCESS_TOKEN)",
                                 hp->first)});

  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return die(Error{Code::store_io, "cannot create the data directory"});
  auto key = cfg.cursor_key_file ? backend::read_token_file(*cfg.cursor_key_file, "observe.cursor_key_file")
                                 : cursor_key(data_dir);
  if (key && key->expose().size() < 16)
    return die(Error{Code::config_invalid, "observe.cursor_key_file must hold at least 16 characters"});
  if (!key) return die(key.error());
  backend::CursorCodec cursors(std::move(*key));

  boost::asio::io_context io;
  backend::RuntimeRegistry registry(io);

  std::unique_ptr<rt::Runtime> runtime;
  if (cfg.embedded.enabled) {
    std::unique_ptr<store::Store> st;
    if (cfg.embedded.store == "memory") {
      st = store::make_memory_store(io, store::RetentionLimits{});
    } else {
      store::FsOptions fo;
      fo.dir = (fs::path(data_dir) / "runtimes" / encode_for_path(cfg.embedded.id)).string();
      auto pol = store::fsync_policy_from_name(cfg.embedded.fsync);
      if (!pol) return die(pol.error());
      fo.fsync = *pol;
      st = store::make_fs_store(io, fo);
    }
    rt::RuntimeOptions ro;
    ro.runtime_id = cfg.embedded.id;
    ro.display_name = cfg.embedded.display_name;
    if (!cfg.embedded.runtime_config.empty()) {
      fs::path path(cfg.embedded.runtime_config);
      if (path.is_relative() && !config_file.empty()) path = fs::path(config_file).parent_path() / path;
      auto rc = server::load_config(path.string());
      if (!rc) return die(rc.error());
      if (auto keys = server::resolve_api_keys(rc->profiles, [](const char* n) { return std::getenv(n); }); !keys)
        return die(keys.error());
      ro.profiles = std::move(rc->profiles);
      ro.limits = rc->limits;
    }
    bool has_default = false;
    for (const auto& p : ro.profiles) has_default = has_default || p.name == "runtime_default";
    if (!has_default) {
      engines::ProfileConfig def;
      def.echo_chunk_delay = cfg.embedded.echo_chunk_delay;
      ro.profiles.push_back(def);
    }
    auto r = rt::Runtime::open(io, std::move(ro), std::move(st));
    if (!r) return die(r.error());
    runtime = std::move(*r);
    for (const auto& d : runtime->diagnostics()) spdlog::warn("embedded runtime: {}", d);
    if (auto a = registry.add(backend::make_embedded_source(io, *runtime, cfg.embedded.id,
                                                            cfg.embedded.display_name));
        !a)
      return die(a.error());
  }
  // The event streams (observation proxy): one upstream per watched worker.
  backend::ObservationHub observe(io, registry, cursors, cfg.observe);
  if (runtime) observe.add_embedded(cfg.embedded.id, *runtime);
  for (auto& rc : cfg.runtimes) {
    observe.add_remote(rc);
    auto s = backend::make_remote_source(io, std::move(rc));
    if (!s) return die(s.error());
    if (auto a = registry.add(std::move(*s)); !a) return die(a.error());
  }

  net::MetricsRegistry metrics;
  auto& configured = metrics.gauge("yoi_backend_runtimes", "runtimes in the registry");
  configured.get().set(static_cast<double>(registry.size()));
  auto& stream_upstreams = metrics.gauge("yoi_backend_stream_upstreams", "watched workers (one upstream each)").get();
  auto& streams_open = metrics.gauge("yoi_backend_streams_open", "open client event streams").get();
  auto& streams_lagged = metrics.gauge("yoi_backend_streams_lagged", "streams closed as subscriber_lagged since start").get();
  metrics.on_collect([&] {
    auto s = observe.stats();
    stream_upstreams.set(static_cast<double>(s.feeds));
    streams_open.set(static_cast<double>(s.clients));
    streams_lagged.set(static_cast<double>(s.lagged));
  });

  backend::ApiOptions ao;
  ao.web_dir = web_dir;
  ao.access_token = access_token;
  backend::BrowserApi api(registry, cursors, std::move(ao), &metrics);
  net::Router router;
  api.add_routes(router);
  observe.add_routes(router, [&api](const net::Request& req) { return api.authorize(req); });
  net::ServerOptions so;
  so.host = hp->first;
  so.port = hp->second;
  so.server_name = "yoi-server";
  so.header_timeout = cfg.header_timeout;
  so.keep_alive_timeout = cfg.keep_alive_timeout;
  so.metrics = &metrics;
  so.metrics_prefix = "yoi_backend_http";
  so.auth = [&api](const net::Request& req) { return api.authorize(req); };
  net::HttpServer server(io, std::move(router), so);
  if (auto s = server.start(); !s) return die(s.error());

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    spdlog::info("yoi-server: shutting down");
    observe.close();
    server.shutdown(std::chrono::seconds(5), [&] {
      registry.close();
      if (runtime)
        runtime->flush([&](Result<void>) { io.stop(); });
      else
        io.stop();
    });
  });
  // Only now say we are ready: a SIGTERM right after the line is handled
  // (the signal set above is installed) and flushes the store.
  std::string shown_host = server.host().find(':') != std::string::npos ? "[" + server.host() + "]" : server.host();
  std::cout << "yoi-server listening on http://" << shown_host << ":" << server.port() << std::endl;
  spdlog::info("yoi-server: {} runtime(s), web console from {}", registry.size(), web_dir);
  io.run();
  return 0;
}
