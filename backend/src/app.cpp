#include "yoi/backend/app.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "yoi/backend/api.hpp"
#include "yoi/backend/config.hpp"
#include "yoi/backend/embedded_source.hpp"
#include "yoi/backend/observe.hpp"
#include "yoi/backend/remote_source.hpp"
#include "yoi/clock.hpp"
#include "yoi/config_file.hpp"
#include "yoi/ids.hpp"
#include "yoi/log.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime_server/config.hpp"
#include "yoi/runtime_server/host.hpp"

namespace fs = std::filesystem;

namespace yoi::backend {
namespace {

// The cursor key: 32 random bytes kept in the data dir so cursors survive a
// restart (and a second backend sharing the dir can resume them).
Result<Secret> cursor_key(const ServerConfig& cfg, const fs::path& data_dir) {
  Result<Secret> key;
  auto path = data_dir / "backend-cursor.key";
  std::error_code ec;
  if (cfg.cursor_key_file) {
    key = config::read_token_file(*cfg.cursor_key_file, "observe.cursor_key_file");
  } else if (fs::exists(path, ec)) {
    key = config::read_token_file(path.string(), "the cursor key file");
  } else {
    auto made = Random::system().hex(32);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!(out << made << "\n")) return fail(Code::store_io, "cannot write the cursor key in the data directory");
    ::chmod(path.c_str(), 0600);
    key = Secret(made);
  }
  if (key && key->expose().size() < 16)
    return fail(Code::config_invalid, "observe.cursor_key_file must hold at least 16 characters");
  return key;
}

// The embedded runtime is configured as a yoi-runtime is: [limits] and
// [profiles.*] from its runtime_config file, the rest from [embedded].
Result<runtime_server::RuntimeConfig> embedded_config(const EmbeddedConfig& e, const fs::path& data_dir) {
  runtime_server::RuntimeConfig rc;
  if (!e.runtime_config.empty()) {
    auto file = runtime_server::load_config(e.runtime_config);
    if (!file) return fail(file.error());
    rc = std::move(*file);
  }
  rc.runtime_id = e.id;
  rc.display_name = e.display_name;
  rc.store = e.store;
  rc.fsync = e.fsync;
  rc.data_dir = (data_dir / "runtimes" / encode_for_path(e.id)).string();
  rc.default_profile.echo_chunk_delay = e.echo_chunk_delay;
  return rc;
}

void add_stream_metrics(net::MetricsRegistry& metrics, const RuntimeRegistry& registry,
                        const ObservationHub& observe) {
  metrics.gauge("yoi_backend_runtimes", "runtimes in the registry").get().set(static_cast<double>(registry.size()));
  auto& upstreams = metrics.gauge("yoi_backend_stream_upstreams", "watched workers (one upstream each)").get();
  auto& open = metrics.gauge("yoi_backend_streams_open", "open client event streams").get();
  auto& lagged = metrics.gauge("yoi_backend_streams_lagged", "streams closed as subscriber_lagged since start").get();
  metrics.on_collect([&upstreams, &open, &lagged, &observe] {
    auto s = observe.stats();
    upstreams.set(static_cast<double>(s.feeds));
    open.set(static_cast<double>(s.clients));
    lagged.set(static_cast<double>(s.lagged));
  });
}

}  // namespace

int run_server(const AppFlags& flags) {
  log::init(flags.log_level);
  auto config_error = [](const Error& e) {
    spdlog::error("yoi-server: {}", e.message);
    return 2;
  };
  ServerConfig cfg;
  if (flags.config) {
    auto c = load_config(*flags.config);
    if (!c) return config_error(c.error());
    cfg = std::move(*c);
  }
  auto listen = flags.listen.value_or(cfg.listen.value_or("127.0.0.1:8787"));
  fs::path data_dir = flags.data_dir.value_or(cfg.data_dir.value_or("./.yoi-data"));
  auto web_dir = flags.web_dir.value_or(cfg.web_dir.value_or("web/dist"));
  auto access_token_file = flags.access_token_file ? flags.access_token_file : cfg.access_token_file;
  if (flags.no_embedded) cfg.embedded.enabled = false;

  auto hp = net::parse_host_port(listen);
  if (!hp) return config_error(Error{Code::config_invalid, fmt::format("--listen: {}", hp.error().message)});
  Secret access_token;
  if (access_token_file) {
    auto t = config::read_token_file(*access_token_file, "access_token_file");
    if (!t) return config_error(t.error());
    access_token = std::move(*t);
  } else if (const char* env = std::getenv("YOI_ACCESS_TOKEN"); env && *env) {
    access_token = Secret(env);
  }
  if (auto ok = runtime_server::check_listen_policy(hp->first, access_token,
                                                    "an access token (--access-token-file or YOI_ACCESS_TOKEN)");
      !ok)
    return config_error(ok.error());
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return config_error(Error{Code::store_io, "cannot create the data directory"});
  auto key = cursor_key(cfg, data_dir);
  if (!key) return config_error(key.error());
  CursorCodec cursors(std::move(*key));

  boost::asio::io_context io;
  RuntimeRegistry registry(io);
  ObservationHub observe(io, registry, cursors, cfg.observe);
  std::unique_ptr<rt::Runtime> runtime;
  if (cfg.embedded.enabled) {
    auto rc = embedded_config(cfg.embedded, data_dir);
    if (!rc) return config_error(rc.error());
    auto r = runtime_server::open_runtime(io, std::move(*rc), "embedded runtime", [](const char* n) { return std::getenv(n); });
    if (!r) return config_error(r.error());
    runtime = std::move(*r);
    if (auto a = registry.add(make_embedded_source(io, *runtime, cfg.embedded.id, cfg.embedded.display_name)); !a)
      return config_error(a.error());
  }
  for (auto& rc : cfg.runtimes) {
    auto s = make_remote_source(io, std::move(rc));
    if (!s) return config_error(s.error());
    if (auto a = registry.add(std::move(*s)); !a) return config_error(a.error());
  }

  net::MetricsRegistry metrics;
  add_stream_metrics(metrics, registry, observe);
  ApiOptions ao;
  ao.web_dir = web_dir;
  ao.access_token = access_token;
  BrowserApi api(registry, cursors, std::move(ao), &metrics);
  auto authorize = [&api](const net::Request& req) { return api.authorize(req); };
  net::Router router;
  api.add_routes(router);
  observe.add_routes(router, authorize);
  net::ServerOptions so;
  so.host = hp->first;
  so.port = hp->second;
  so.server_name = "yoi-server";
  so.header_timeout = cfg.header_timeout;
  so.keep_alive_timeout = cfg.keep_alive_timeout;
  so.metrics = &metrics;
  so.metrics_prefix = "yoi_backend_http";
  so.auth = authorize;
  net::HttpServer server(io, std::move(router), so);
  runtime_server::GracefulStop stop(
      io, "yoi-server", cfg.shutdown_timeout,
      [&](std::chrono::milliseconds grace, std::function<void()> done) {
        observe.close();
        server.shutdown(grace, [&registry, done = std::move(done)] {
          registry.close();
          done();
        });
      },
      runtime.get());
  if (auto s = server.start(); !s) {
    spdlog::error("yoi-server: {}", s.error().message);
    return 1;
  }
  std::cout << runtime_server::listening_line("yoi-server", server.host(), server.port()) << std::endl;
  spdlog::info("yoi-server: {} runtime(s), web console from {}", registry.size(), web_dir);
  io.run();
  spdlog::info("yoi-server: stopped");
  return stop.exit_code();
}

}  // namespace yoi::backend
