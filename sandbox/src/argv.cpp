// The bwrap command line: the one place that decides what a sandboxed
// command sees (ARCHITECTURE §14, sandbox/README.md).
#include <filesystem>
#include <system_error>

#include "yoi/sandbox/sandbox.hpp"

namespace yoi::sandbox {
namespace {

namespace fs = std::filesystem;

// What of /etc a shell and the usual programs need: the loader's cache,
// alternatives (Debian's /usr/bin links point there), name service files,
// the time zone, shell start-up files and certificates. Never /etc as a
// whole: it may hold the runtime's config, shadow, ssh keys.
constexpr const char* kEtc[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/passwd",
    "/etc/group",       "/etc/nsswitch.conf", "/etc/hosts",     "/etc/resolv.conf",  "/etc/localtime",
    "/etc/bash.bashrc", "/etc/profile",    "/etc/inputrc",      "/etc/ssl/certs",    "/etc/ca-certificates",
    "/etc/mime.types",  "/etc/locale.alias", "/etc/terminfo",   "/etc/magic",
};
// Top-level system directories: bound read-only, or recreated as the
// symlinks they are on a merged-/usr system.
constexpr const char* kSystem[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

bool under(const fs::path& p, const fs::path& root) {
  auto rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

std::string_view stream_name(Stream s) { return s == Stream::stdout_ ? "stdout" : "stderr"; }

std::vector<std::string> sandbox_env() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "HOME=/work", "LANG=C.UTF-8"};
}

std::vector<std::string> bwrap_argv(const Policy& policy, const Command& cmd, int status_fd) {
  std::vector<std::string> a{policy.bwrap_path, "--die-with-parent", "--new-session", "--unshare-pid",
                             "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "yoi-sandbox"};
  if (!policy.network) a.push_back("--unshare-net");
  std::vector<fs::path> shown;  // host paths shown read-only (identity-mapped)
  std::error_code ec;
  for (const char* dir : kSystem) {
    fs::path p(dir);
    auto st = fs::symlink_status(p, ec);
    if (ec) continue;
    if (fs::is_symlink(st)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(p, ec).string(), dir});
    } else if (fs::is_directory(st)) {
      a.insert(a.end(), {"--ro-bind", dir, dir});
      shown.push_back(p);
    }
  }
  for (const char* e : kEtc) {
    a.insert(a.end(), {"--ro-bind-try", e, e});
    shown.emplace_back(e);
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  a.insert(a.end(), {"--bind", cmd.view.home_host_path, "/work"});
  for (const auto& m : cmd.view.mounts)
    a.insert(a.end(), {m.access == tools::Access::write ? "--bind" : "--ro-bind", m.host_path, "/workspaces/" + m.name});
  // A secret beneath a system directory shown above is covered: an empty
  // tmpfs over a directory, /dev/null over a file.
  for (const auto& h : policy.hidden) {
    fs::path p = fs::weakly_canonical(h, ec);
    if (ec || !fs::exists(p, ec)) continue;
    bool visible = false;
    for (const auto& s : shown) visible = visible || p == s || under(p, s);
    if (!visible) continue;
    if (fs::is_directory(p, ec)) a.insert(a.end(), {"--tmpfs", p.string()});
    else a.insert(a.end(), {"--ro-bind", "/dev/null", p.string()});
  }
  a.insert(a.end(), {"--chdir", "/work", "--clearenv"});
  for (const auto& kv : sandbox_env()) {
    auto eq = kv.find('=');
    a.insert(a.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
  }
  if (status_fd >= 0) a.insert(a.end(), {"--json-status-fd", std::to_string(status_fd)});
  a.insert(a.end(), {"--", "/bin/bash", "-c", cmd.command});
  return a;
}

}  // namespace yoi::sandbox
