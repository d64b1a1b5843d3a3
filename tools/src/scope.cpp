// The path resolver. Design note: README.md ("The resolver").
#include "yoi/tools/scope.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "yoi/tools/output.hpp"

namespace yoi::tools {
namespace {

constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::string_view kHome = "/work";
constexpr std::string_view kWorkspaces = "/workspaces";

// openat2 beneath `root` (glibc 2.36 has no wrapper). Retries EINTR and the
// EAGAIN the kernel answers when a rename raced the lookup.
int openat2_beneath(int root, const char* path, int flags, unsigned mode) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if ((errno == EINTR || errno == EAGAIN) && attempt < 64) continue;
    return -1;
  }
}

// A model-supplied path, shortened for a message.
std::string quoted(std::string_view path) {
  std::string_view p = utf8_prefix(path, 200);
  return fmt::format("'{}{}'", p, p.size() < path.size() ? "…" : "");
}

bool valid_mount_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

ToolError errno_error(int err, std::string_view what, std::string_view view_path) {
  switch (err) {
    case ENOENT:
      return {ToolCode::not_found, fmt::format("{}: '{}' does not exist", what, view_path)};
    case EXDEV:
    case ELOOP:
      return {ToolCode::path_outside_scope,
              fmt::format("{}: '{}' leads outside its root (a symlink or '..' out of the view)",
                          what, view_path)};
    case EISDIR:
      return {ToolCode::invalid_arguments, fmt::format("{}: '{}' is a directory", what, view_path)};
    case ENOTDIR:
      return {ToolCode::invalid_arguments,
              fmt::format("{}: a component of '{}' is not a directory", what, view_path)};
    case ENAMETOOLONG:
      return {ToolCode::invalid_arguments, fmt::format("{}: '{}' is too long", what, view_path)};
    case EROFS:
      return {ToolCode::read_only, fmt::format("{}: '{}' is on a read-only file system", what, view_path)};
    case EACCES:
    case EPERM:
      return {ToolCode::tool_failed, fmt::format("{}: '{}': permission denied", what, view_path)};
    default:
      return {ToolCode::tool_failed, fmt::format("{}: '{}': {}", what, view_path, std::strerror(err))};
  }
}

ToolOr<Scope> Scope::open(const ViewSpec& spec) {
  Scope scope;
  auto add = [&](std::string view, const std::string& host, bool writable) -> ToolOr<void> {
    int fd = ::open(host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return tool_fail(ToolCode::tool_failed,
                       fmt::format("cannot open the directory behind {}: {}", view, std::strerror(errno)));
    scope.roots_.push_back(Root{std::move(view), UniqueFd(fd), writable});
    return {};
  };
  if (auto r = add(std::string(kHome), spec.home_host_path, true); !r) return tl::unexpected(r.error());
  for (const MountSpec& m : spec.mounts) {
    if (!valid_mount_name(m.name))
      return tool_fail(ToolCode::tool_failed, fmt::format("invalid workspace name {}", quoted(m.name)));
    std::string view = fmt::format("{}/{}", kWorkspaces, m.name);
    for (const Root& r : scope.roots_)
      if (r.view == view) return tool_fail(ToolCode::tool_failed, fmt::format("workspace '{}' mounted twice", m.name));
    if (auto r = add(std::move(view), m.host_path, m.access == Access::write); !r) return tl::unexpected(r.error());
  }
  return scope;
}

ToolOr<Resolved> Scope::resolve(std::string_view path, Access need) const {
  if (path.empty()) return tool_fail(ToolCode::invalid_arguments, "path is empty");
  if (path.size() > kMaxPathBytes)
    return tool_fail(ToolCode::invalid_arguments,
                     fmt::format("path is {} bytes, above the limit of {}", path.size(), kMaxPathBytes));
  if (path.find('\0') != std::string_view::npos)
    return tool_fail(ToolCode::invalid_arguments, "path contains a NUL byte");
  if (!valid_utf8(path)) return tool_fail(ToolCode::invalid_arguments, "path is not valid UTF-8");

  // Lexical normalisation of the absolute in-view path; `..` stops at `/`.
  std::vector<std::string_view> segs;
  auto push_all = [&](std::string_view p) {
    while (!p.empty()) {
      std::size_t slash = p.find('/');
      std::string_view seg = p.substr(0, slash);
      p = slash == std::string_view::npos ? std::string_view() : p.substr(slash + 1);
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") {
        if (!segs.empty()) segs.pop_back();
        continue;
      }
      segs.push_back(seg);
    }
  };
  if (path.front() != '/') push_all(kHome);
  push_all(path);

  const Root* root = nullptr;
  std::size_t skip = 0;
  if (!segs.empty() && segs[0] == kHome.substr(1)) {
    root = &roots_[0];
    skip = 1;
  } else if (segs.size() >= 2 && segs[0] == kWorkspaces.substr(1)) {
    std::string view = fmt::format("{}/{}", kWorkspaces, segs[1]);
    for (const Root& r : roots_)
      if (r.view == view) root = &r;
    if (!root)
      return tool_fail(ToolCode::path_outside_scope,
                       fmt::format("no workspace named {} is mounted", quoted(segs[1])));
    skip = 2;
  }
  if (!root)
    return tool_fail(ToolCode::path_outside_scope,
                     "the path is outside the worker's view (only /work and /workspaces/NAME exist)");

  Resolved out;
  out.root_fd = root->fd.get();
  out.writable = root->writable;
  for (std::size_t i = skip; i < segs.size(); ++i) {
    if (!out.rel.empty()) out.rel += '/';
    out.rel += segs[i];
  }
  out.view_path = out.rel.empty() ? root->view : fmt::format("{}/{}", root->view, out.rel);
  if (need == Access::write && !root->writable)
    return tool_fail(ToolCode::read_only, fmt::format("'{}' is on a read-only mount", out.view_path));
  return out;
}

ToolOr<UniqueFd> Scope::open_at(const Resolved& r, int flags, unsigned mode) const {
  bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
  if (writes && !r.writable)
    return tool_fail(ToolCode::read_only, fmt::format("'{}' is on a read-only mount", r.view_path));
  int fd = openat2_beneath(r.root_fd, r.rel.empty() ? "." : r.rel.c_str(), flags, mode);
  if (fd < 0) return tl::unexpected(errno_error(errno, "open", r.view_path));
  return UniqueFd(fd);
}

ToolOr<std::pair<UniqueFd, std::string>> Scope::open_parent(const Resolved& r, bool create) const {
  if (r.rel.empty())
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is a directory", r.view_path));
  std::size_t slash = r.rel.rfind('/');
  std::string leaf = slash == std::string::npos ? r.rel : r.rel.substr(slash + 1);
  std::string dir = slash == std::string::npos ? "." : r.rel.substr(0, slash);
  constexpr int kDirFlags = O_RDONLY | O_DIRECTORY;

  int fd = openat2_beneath(r.root_fd, dir.c_str(), kDirFlags, 0);
  if (fd < 0 && errno == ENOENT && create) {
    // One segment at a time: each mkdirat is relative to a directory that
    // was itself opened beneath the root.
    UniqueFd cur(openat2_beneath(r.root_fd, ".", kDirFlags, 0));
    int err = cur ? 0 : errno;
    std::string prefix;
    std::string_view rest = dir;
    while (err == 0 && !rest.empty()) {
      std::size_t s = rest.find('/');
      std::string seg(rest.substr(0, s));
      rest = s == std::string_view::npos ? std::string_view() : rest.substr(s + 1);
      prefix += prefix.empty() ? seg : "/" + seg;
      if (::mkdirat(cur.get(), seg.c_str(), 0777) != 0 && errno != EEXIST) {
        err = errno;
        break;
      }
      cur = UniqueFd(openat2_beneath(r.root_fd, prefix.c_str(), kDirFlags, 0));
      if (!cur) err = errno;
    }
    fd = err == 0 ? cur.release() : -1;
    errno = err;
  }
  if (fd < 0) return tl::unexpected(errno_error(errno, "open parent directory", r.view_path));
  return std::pair<UniqueFd, std::string>(UniqueFd(fd), std::move(leaf));
}

std::string Scope::view_join(const Resolved& r, std::string_view rel) {
  return rel.empty() ? r.view_path : fmt::format("{}/{}", r.view_path, rel);
}

}  // namespace yoi::tools
