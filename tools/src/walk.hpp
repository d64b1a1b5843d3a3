#pragma once
// The one directory walker of glob and grep (internal). It walks with fds
// only: each directory is opened with openat(parent, name, O_NOFOLLOW |
// O_DIRECTORY), so it never follows a symlink (a link swapped in during the
// walk fails to open and is skipped) and never leaves the root it started
// from. It skips `.git/` and whatever the .gitignore files at or beneath the
// root ignore (pattern.hpp for the subset), and stops at the Limits'
// entry/depth/time bounds.

#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "yoi/tools/result.hpp"

namespace yoi::tools::detail {

struct FileEntry {
  int dir_fd;             // the directory holding the file
  std::string_view name;  // its name there
  std::string_view rel;   // its path relative to the walk's root
};

struct WalkOutcome {
  bool stopped_early = false;  // a bound was hit (note says which)
  std::string note;
};

// Calls `on_file` for each regular file (and only those), in name order per
// directory; `on_file` returns false to stop. `root_fd` is a directory fd.
WalkOutcome walk_files(int root_fd, const Limits& limits,
                       std::chrono::steady_clock::time_point deadline,
                       const std::function<bool(const FileEntry&)>& on_file);

// Opens `name` in `dir_fd` for reading if it is a regular file (O_NOFOLLOW,
// O_NONBLOCK so a FIFO cannot block); -1 otherwise. `st` receives its stat.
int open_regular(int dir_fd, const char* name, struct stat& st);

// True when `head` (a file's first bytes) has a NUL byte: binary.
bool looks_binary(std::string_view head);
constexpr std::size_t kBinaryProbeBytes = 8192;

}  // namespace yoi::tools::detail
