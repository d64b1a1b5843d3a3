#include "walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "yoi/tools/pattern.hpp"
#include "yoi/tools/scope.hpp"

namespace yoi::tools::detail {
namespace {

constexpr std::size_t kMaxIgnoreFileBytes = 256 * 1024;

struct IgnoreLevel {
  std::string base;  // directory of the .gitignore, relative to the root ("" = root)
  IgnoreRules rules;
};

class Walker {
 public:
  Walker(const Limits& limits, std::chrono::steady_clock::time_point deadline,
         const std::function<bool(const FileEntry&)>& on_file)
      : limits_(limits), deadline_(deadline), on_file_(on_file) {}

  WalkOutcome run(int root_fd) {
    int fd = ::fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) dir(fd, "", 0);
    if (depth_cut_ && !outcome_.stopped_early) {
      outcome_.stopped_early = true;
      outcome_.note = fmt::format("skipped directories deeper than {}", limits_.walk_max_depth);
    }
    return std::move(outcome_);
  }

 private:
  void stop(std::string note) {
    if (stopped_) return;
    stopped_ = true;
    if (!note.empty()) {
      outcome_.stopped_early = true;
      outcome_.note = std::move(note);
    }
  }

  bool ignored(const std::string& rel, bool is_dir) const {
    // Deeper .gitignore files take precedence over shallower ones.
    for (auto it = ignores_.rbegin(); it != ignores_.rend(); ++it) {
      std::string_view sub = rel;
      if (!it->base.empty()) sub.remove_prefix(it->base.size() + 1);
      auto v = it->rules.match(sub, is_dir);
      if (v != IgnoreRules::Verdict::none) return v == IgnoreRules::Verdict::ignore;
    }
    return false;
  }

  void load_ignore(int fd, const std::string& rel) {
    struct stat st;
    int f = open_regular(fd, ".gitignore", st);
    if (f < 0) return;
    UniqueFd file(f);
    if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxIgnoreFileBytes) return;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    ssize_t n = ::pread(f, text.data(), text.size(), 0);
    if (n <= 0) return;
    text.resize(static_cast<std::size_t>(n));
    IgnoreRules rules = IgnoreRules::parse(text);
    if (!rules.empty()) ignores_.push_back(IgnoreLevel{rel, std::move(rules)});
  }

  // Takes ownership of `fd`.
  void dir(int fd, const std::string& rel, std::size_t depth) {
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      return;
    }
    std::size_t ignores_before = ignores_.size();
    load_ignore(fd, rel);
    std::vector<std::pair<std::string, unsigned char>> entries;
    while (dirent* e = ::readdir(d)) {
      if (++visited_ > limits_.walk_max_entries) {
        stop(fmt::format("stopped after {} directory entries", limits_.walk_max_entries));
        break;
      }
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || name == ".git") continue;
      entries.emplace_back(std::string(name), e->d_type);
    }
    std::sort(entries.begin(), entries.end());
    for (auto& [name, type] : entries) {
      if (stopped_) break;
      if (std::chrono::steady_clock::now() > deadline_) {
        stop("stopped at the time limit");
        break;
      }
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
      }
      std::string child = rel.empty() ? name : rel + "/" + name;
      if (type == DT_DIR) {
        if (ignored(child, true)) continue;
        if (depth + 1 >= limits_.walk_max_depth) {
          depth_cut_ = true;
          continue;
        }
        int sub = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) dir(sub, child, depth + 1);  // a symlink swapped in: ELOOP, skipped
      } else if (type == DT_REG) {
        if (ignored(child, false)) continue;
        if (!on_file_(FileEntry{fd, name, child})) stop("");
      }
      // Symlinks and special files are neither followed nor listed.
    }
    ignores_.resize(ignores_before);
    ::closedir(d);
  }

  const Limits& limits_;
  std::chrono::steady_clock::time_point deadline_;
  const std::function<bool(const FileEntry&)>& on_file_;
  std::vector<IgnoreLevel> ignores_;
  std::size_t visited_ = 0;
  bool stopped_ = false;
  bool depth_cut_ = false;
  WalkOutcome outcome_;
};

}  // namespace

WalkOutcome walk_files(int root_fd, const Limits& limits,
                       std::chrono::steady_clock::time_point deadline,
                       const std::function<bool(const FileEntry&)>& on_file) {
  return Walker(limits, deadline, on_file).run(root_fd);
}

int open_regular(int dir_fd, const char* name, struct stat& st) {
  int fd = ::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool looks_binary(std::string_view head) {
  return std::memchr(head.data(), '\0', std::min(head.size(), kBinaryProbeBytes)) != nullptr;
}

}  // namespace yoi::tools::detail
