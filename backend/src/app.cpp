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
  if (cfg.cursor_key_file)
    key = config::read_token_file(*cfg.cursor_key_file, "observe.cursor_key_file");
  else
    key = config::secret_file((data_dir / "backend-cursor.key").string(), "the cursor key file");
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
  auto& catchup = metrics.gauge("yoi_backend_stream_catchup_pages",
                                "pages asked of the runtimes' polling routes for clients behind the ring, since start")
                      .get();
  metrics.on_collect([&upstreams, &open, &lagged, &catchup, &observe] {
    auto s = observe.stats();
    upstreams.set(static_cast<double>(s.feeds));
    open.set(static_cast<double>(s.clients));
    lagged.set(static_cast<double>(s.lagged));
    catchup.set(static_cast<double>(s.catchup_pages));
  });
}

// What the flags and the config file decide, checked before anything runs.
struct Settings {
  ServerConfig cfg;
  std::string host;
  std::uint16_t port = 0;
  fs::path data_dir;
  std::string web_dir;
  Secret access_token;
  bool print_login_url = false;  // the token is the data dir's, made or kept by us
  net::RequestPolicy policy;
  // What the embedded runtime's bash never sees (ARCHITECTURE §14): our
  // config file, data dir (access token, embedded store) and token file.
  std::vector<std::string> hidden_paths;
};

// The access token (app.hpp): explicit sources first, then the data dir's
// file, made on first start. Needs the data directory to exist.
Result<void> resolve_access_token(const AppFlags& flags, Settings& st) {
  auto access_token_file = flags.access_token_file ? flags.access_token_file : st.cfg.access_token_file;
  if (flags.no_auth) return {};
  if (access_token_file) {
    st.hidden_paths.push_back(*access_token_file);
    auto t = config::read_token_file(*access_token_file, "access_token_file");
    if (!t) return fail(t.error());
    st.access_token = std::move(*t);
  } else if (const char* env = std::getenv("YOI_ACCESS_TOKEN"); env && *env) {
    st.access_token = Secret(env);
  } else {
    bool created = false;
    auto t = config::secret_file((st.data_dir / "access-token").string(), "the access token file", &created);
    if (!t) return fail(t.error());
    if (created) spdlog::info("yoi-server: made a new access token in the data directory (access-token, mode 0600)");
    st.access_token = std::move(*t);
    st.print_login_url = true;
  }
  return {};
}

// Flags over the file over the defaults; the access token; the listen
// policy; the data directory. Every error here is a configuration error.
Result<Settings> settings_of(const AppFlags& flags) {
  Settings st;
  if (flags.config) {
    auto c = load_config(*flags.config);
    if (!c) return fail(c.error());
    st.cfg = std::move(*c);
    st.hidden_paths.push_back(*flags.config);
  }
  auto& cfg = st.cfg;
  auto hp = net::parse_host_port(flags.listen.value_or(cfg.listen.value_or("127.0.0.1:8787")));
  if (!hp) return fail(Code::config_invalid, fmt::format("--listen: {}", hp.error().message));
  std::tie(st.host, st.port) = *hp;
  st.data_dir = flags.data_dir.value_or(cfg.data_dir.value_or("./.yoi-data"));
  st.web_dir = flags.web_dir.value_or(cfg.web_dir.value_or("web/dist"));
  if (flags.no_embedded) cfg.embedded.enabled = false;
  constexpr std::string_view sources =
      "an access token (--access-token-file, YOI_ACCESS_TOKEN or <data-dir>/access-token)";
  if (flags.no_auth) {
    if (auto ok = runtime_server::check_auth_mode("yoi-server", st.host, Secret(), true, sources); !ok)
      return fail(ok.error());
  }
  st.policy.allowed_hosts = cfg.allowed_hosts;
  st.policy.allowed_origins = cfg.allowed_origins;
  if (auto ok = net::check_policy(st.policy, st.host); !ok) return fail(ok.error());
  std::error_code ec;
  fs::create_directories(st.data_dir, ec);
  if (ec) return fail(Code::store_io, "cannot create the data directory");
  if (auto ok = resolve_access_token(flags, st); !ok) return fail(ok.error());
  if (auto ok = runtime_server::check_listen_policy(st.host, st.access_token, sources); !ok)
    return fail(ok.error());
  return st;
}

// The registry's runtimes: the embedded one (opened as yoi-runtime opens its
// own; returned, since the process flushes it at shutdown) and the remote ones.
Result<std::unique_ptr<rt::Runtime>> add_runtimes(boost::asio::io_context& io, Settings& st,
                                                  RuntimeRegistry& registry) {
  std::unique_ptr<rt::Runtime> runtime;
  const auto& e = st.cfg.embedded;
  if (e.enabled) {
    auto rc = embedded_config(e, st.data_dir);
    if (!rc) return fail(rc.error());
    rc->hidden_paths.insert(rc->hidden_paths.end(), st.hidden_paths.begin(), st.hidden_paths.end());
    rc->hidden_paths.push_back(st.data_dir.string());
    auto r = runtime_server::open_runtime(io, std::move(*rc), "embedded runtime",
                                          [](const char* n) { return std::getenv(n); });
    if (!r) return fail(r.error());
    runtime = std::move(*r);
    if (auto a = registry.add(make_embedded_source(io, *runtime, e.id, e.display_name)); !a) return fail(a.error());
  }
  for (auto& rc : st.cfg.runtimes) {
    auto s = make_remote_source(io, std::move(rc));
    if (!s) return fail(s.error());
    if (auto a = registry.add(std::move(*s)); !a) return fail(a.error());
  }
  return runtime;
}

net::ServerOptions server_options(const Settings& st, net::MetricsRegistry& metrics,
                                  std::function<std::optional<Error>(const net::Request&)> authorize) {
  net::ServerOptions so;
  so.host = st.host;
  so.port = st.port;
  so.server_name = "yoi-server";
  so.policy = st.policy;  // origins: same_origin, the default
  so.header_timeout = st.cfg.header_timeout;
  so.keep_alive_timeout = st.cfg.keep_alive_timeout;
  so.metrics = &metrics;
  so.metrics_prefix = "yoi_backend_http";
  so.auth = std::move(authorize);
  return so;
}

}  // namespace

int run_server(const AppFlags& flags) {
  log::init(flags.log_level);
  auto config_error = [](const Error& e) {
    log::fatal(fmt::format("yoi-server: {}", e.message));
    return 2;
  };
  auto st = settings_of(flags);
  if (!st) return config_error(st.error());
  auto key = cursor_key(st->cfg, st->data_dir);
  if (!key) return config_error(key.error());
  CursorCodec cursors(std::move(*key));

  // One thread runs `io` and does all its socket I/O; other threads (the
  // embedded runtime's tool pool, the file store's writer and pool, the
  // resolver's) only post to it. UNSAFE_IO keeps the scheduler's lock and the
  // reactor's registration lock (posts and timers stay thread-safe) and drops
  // the per-descriptor locks the reactor takes on every socket operation
  // (Asio 1.81: epoll_reactor.ipp, descriptor_state's mutex_; issue 22).
  boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  RuntimeRegistry registry(io);
  if (!st->cfg.profiles.empty())
    registry.set_server_profiles(make_server_profiles(st->cfg.profiles, st->cfg.profile_bodies));
  ObservationHub observe(io, registry, cursors, st->cfg.observe);
  auto runtime = add_runtimes(io, *st, registry);
  if (!runtime) {
    // As yoi-runtime: 2 for what the config says, 1 for what the store holds.
    log::fatal(fmt::format("yoi-server: {}", runtime.error().message));
    return runtime.error().code == Code::config_invalid ? 2 : 1;
  }

  net::MetricsRegistry metrics;
  add_stream_metrics(metrics, registry, observe);
  ApiOptions ao;
  ao.web_dir = st->web_dir;
  ao.access_token = st->access_token;
  BrowserApi api(registry, cursors, std::move(ao), &metrics);
  auto authorize = [&api](const net::Request& req) { return api.authorize(req); };
  net::Router router;
  api.add_routes(router);
  observe.add_routes(router, authorize);
  net::HttpServer server(io, std::move(router), server_options(*st, metrics, authorize));
  runtime_server::GracefulStop stop(
      io, "yoi-server", st->cfg.shutdown_timeout,
      [&](std::chrono::milliseconds grace, std::function<void()> done) {
        observe.close();
        server.shutdown(grace, [&registry, done = std::move(done)] {
          registry.close();
          done();
        });
      },
      runtime->get());
  if (auto s = server.start(); !s) {
    log::fatal(fmt::format("yoi-server: {}", s.error().message));
    return 1;
  }
  std::cout << runtime_server::listening_line("yoi-server", server.host(), server.port()) << std::endl;
  // The token travels in the fragment, which no browser sends to a server;
  // stdout only, never the log.
  if (st->print_login_url)
    std::cout << "yoi-server: open the console at " << runtime_server::listen_url(server.host(), server.port())
              << "/#token=" << st->access_token.expose() << std::endl;
  if (api.serves_console())
    spdlog::info("yoi-server: {} runtime(s), web console from {}", registry.size(), st->web_dir);
  else
    spdlog::warn("yoi-server: no web console in '{}' (no index.html); build it with "
                 "'cd web && npm ci && npm run build' or point --web-dir at it. {} runtime(s)",
                 st->web_dir, registry.size());
  io.run();
  spdlog::info("yoi-server: stopped");
  return stop.exit_code();
}

}  // namespace yoi::backend
