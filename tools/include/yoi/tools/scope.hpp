#pragma once
// The path resolver (ARCHITECTURE §13): the one place where a model-supplied
// path becomes a file descriptor.
//
// A worker's view is its home (`/work`, writable) and its mounts
// (`/workspaces/NAME`, read or write). A Scope opens one directory fd per
// root when it is made (the only use of host paths) and from then on resolves
// every path *beneath* one of those fds with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS): `..`, absolute symlinks, a symlink pointing out of
// the root and a symlink swapped in during the call all fail in the kernel
// (EXDEV) instead of escaping. Error messages name in-view paths only.
//
// Thread-safety: a Scope is immutable after open(); resolve/open may be
// called from any number of threads at once.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "yoi/tools/result.hpp"

namespace yoi::tools {

// An owned file descriptor (-1 when empty), closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

enum class Access { read, write };

struct MountSpec {
  std::string name;       // shown as /workspaces/NAME
  std::string host_path;  // absolute host directory (never shown)
  Access access = Access::read;
};

struct ViewSpec {
  std::string home_host_path;  // shown as /work
  std::vector<MountSpec> mounts;
};

// A path resolved on the view, not yet opened.
struct Resolved {
  int root_fd = -1;       // borrowed from the Scope
  std::string rel;       // beneath root_fd, normalised, "" for the root itself
  std::string view_path;  // canonical in-view path ("/work/a/b"), for messages
  bool writable = false;  // the root's access
};

class Scope {
 public:
  // Opens the roots. A missing or non-directory root, a mount name that is
  // not one path segment, or a duplicate name is an error (tool_failed;
  // these are runtime configuration, checked before a worker exists).
  static ToolOr<Scope> open(const ViewSpec& spec);

  // Maps a model-supplied path onto the view: relative paths against /work;
  // /work/... and /workspaces/NAME/...; `.` and `..` are resolved lexically
  // (clamped at `/`). Errors: invalid_arguments (empty, NUL byte, longer
  // than 4096 bytes, not UTF-8), path_outside_scope (anything else, an
  // unknown mount), read_only (`need` is write on a read-only root).
  ToolOr<Resolved> resolve(std::string_view path, Access need) const;

  // openat2 beneath the root. O_CLOEXEC is added; a write open on a
  // read-only root is read_only. Errors: not_found, path_outside_scope (the
  // kernel refused to leave the root: EXDEV/ELOOP), invalid_arguments (EISDIR,
  // ENOTDIR), tool_failed (anything else; message carries strerror).
  ToolOr<UniqueFd> open_at(const Resolved& r, int flags, unsigned mode = 0) const;

  // Opens the parent directory of `r` (O_RDONLY | O_DIRECTORY, so it can be
  // fsynced) and returns it with the last path segment. With `create`, missing
  // parents are made one segment at a time, each beneath the root. The root
  // itself has no parent: invalid_arguments.
  ToolOr<std::pair<UniqueFd, std::string>> open_parent(const Resolved& r, bool create) const;

  // The in-view path of `rel` beneath the root that `r` resolved to.
  static std::string view_join(const Resolved& r, std::string_view rel);

 private:
  struct Root {
    std::string view;  // "/work" or "/workspaces/NAME"
    UniqueFd fd;
    bool writable = false;
  };
  std::vector<Root> roots_;  // [0] is the home
};

// Maps an errno from a beneath-root operation on `view_path` to a ToolError
// (the table described at Scope::open_at).
ToolError errno_error(int err, std::string_view what, std::string_view view_path);

}  // namespace yoi::tools
