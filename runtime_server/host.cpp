#include "yoi/runtime_server/host.hpp"

#include <csignal>
#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/net/http_server.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/store/fs_store.hpp"

namespace yoi::runtime_server {

Result<std::unique_ptr<rt::Runtime>> open_runtime(boost::asio::io_context& io, RuntimeConfig cfg,
                                                  std::string_view who, const Getenv& getenv) {
  if (auto ok = resolve_api_keys(cfg.profiles, getenv); !ok) return fail(ok.error());
  store::RetentionLimits retention{cfg.limits.retention_events, cfg.limits.retention_bytes};
  std::unique_ptr<store::Store> st;
  if (cfg.store == "fs") {
    if (cfg.data_dir.empty()) return fail(Code::config_invalid, "the fs store needs a data directory");
    auto policy = store::fsync_policy_from_name(cfg.fsync);
    if (!policy) return fail(policy.error());
    store::FsOptions fo;
    fo.dir = cfg.data_dir;
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
  ro.profiles = std::move(cfg.profiles);
  ro.default_profile = std::move(cfg.default_profile);
  ro.workspaces = cfg.workspaces;
  ro.sandbox_hidden = cfg.hidden_paths;
  for (const auto* p : {&cfg.data_dir, &cfg.token_file})
    if (!p->empty()) ro.sandbox_hidden.push_back(*p);
  // Homes live with the data (fs); a memory store's runtime keeps them in a
  // temporary directory removed at close.
  if (cfg.store == "fs") ro.home_root = (std::filesystem::path(cfg.data_dir) / "homes").string();
  auto runtime = rt::Runtime::open(io, std::move(ro), std::move(st));
  if (!runtime) return fail(runtime.error());
  for (const auto& d : (*runtime)->diagnostics()) spdlog::warn("{}: restore: {}", who, d);
  return runtime;
}

Result<void> check_listen_policy(std::string_view host, const Secret& token, std::string_view token_sources) {
  if (token.empty() && !net::is_loopback_host(host))
    return fail(Code::config_invalid,
                fmt::format("refusing to listen on non-loopback address {} without {}", host, token_sources));
  return {};
}

Result<void> check_auth_mode(std::string_view binary, std::string_view host, const Secret& token, bool no_auth,
                             std::string_view token_sources) {
  if (no_auth && !net::is_loopback_host(host))
    return fail(Code::config_invalid,
                fmt::format("--no-auth is refused on non-loopback address {}: give {}", host, token_sources));
  if (no_auth) {
    spdlog::warn("{}: --no-auth: AUTHENTICATION IS OFF. Any program of any user on this machine can drive "
                 "its Workers. Use it for local experiments only.", binary);
    return {};
  }
  if (token.empty())
    return fail(Code::config_invalid,
                fmt::format("{} needs {}; --no-auth runs without one on loopback only", binary, token_sources));
  return {};
}

std::string listen_url(std::string_view host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string_view::npos;
  return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

std::string listening_line(std::string_view binary, std::string_view host, std::uint16_t port) {
  return fmt::format("{} listening on {}", binary, listen_url(host, port));
}

struct GracefulStop::Impl {
  boost::asio::io_context& io;
  std::string name;
  std::chrono::milliseconds grace;
  Drain drain;
  rt::Runtime* runtime;
  boost::asio::signal_set signals;
  bool stopping = false;
  int exit_code = 0;

  Impl(boost::asio::io_context& io, std::string name, std::chrono::milliseconds grace, Drain drain,
       rt::Runtime* runtime)
      : io(io), name(std::move(name)), grace(grace), drain(std::move(drain)), runtime(runtime),
        signals(io, SIGTERM, SIGINT) {}

  void stop() {
    if (stopping) return;
    stopping = true;
    boost::system::error_code ignored;
    signals.cancel(ignored);
    drain(grace, [this] {
      if (!runtime) return io.stop();
      spdlog::info("{}: connections drained; flushing the store", name);
      runtime->flush([this](Result<void> r) {
        // Acknowledged writes that did not reach the disk: say so in the
        // exit code, so a supervisor does not take this for a clean stop.
        if (!r) {
          spdlog::error("{}: flush failed: {}", name, r.error().message);
          exit_code = 1;
        }
        io.stop();
      });
    });
  }
};

GracefulStop::GracefulStop(boost::asio::io_context& io, std::string name, std::chrono::milliseconds grace,
                           Drain drain, rt::Runtime* runtime)
    : impl_(std::make_shared<Impl>(io, std::move(name), grace, std::move(drain), runtime)) {
  impl_->signals.async_wait([weak = std::weak_ptr<Impl>(impl_)](const boost::system::error_code& ec, int sig) {
    auto im = weak.lock();
    if (ec || !im) return;
    spdlog::info("{}: signal {}: shutting down", im->name, sig);
    im->stop();
  });
}

GracefulStop::~GracefulStop() {
  boost::system::error_code ignored;
  impl_->signals.cancel(ignored);
}

void GracefulStop::stop() { impl_->stop(); }

int GracefulStop::exit_code() const { return impl_->exit_code; }

}  // namespace yoi::runtime_server
