#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common.hpp"
#include "walk.hpp"
#include "yoi/tools/output.hpp"
#include "yoi/tools/pattern.hpp"
#include "yoi/tools/tools.hpp"

namespace yoi::tools {

using namespace detail;

namespace detail {

ToolOr<std::string> check_pattern(const boost::json::object& args, std::string_view key, bool required) {
  std::string value;
  if (required) {
    auto v = req_string(args, key);
    if (!v) return tl::unexpected(v.error());
    value = std::move(*v);
  } else {
    auto v = opt_string(args, key);
    if (!v) return tl::unexpected(v.error());
    if (!*v) return std::string();
    value = std::move(**v);
  }
  constexpr std::size_t kMaxGlobBytes = 1024;
  if (value.empty()) return tool_fail(ToolCode::invalid_arguments, fmt::format("field '{}' is empty", key));
  if (value.size() > kMaxGlobBytes)
    return tool_fail(ToolCode::invalid_arguments,
                     fmt::format("field '{}' is {} bytes, above the limit of {}", key, value.size(), kMaxGlobBytes));
  if (value.find('\0') != std::string::npos || !valid_utf8(value))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("field '{}' has a NUL byte or is not UTF-8", key));
  if (value.front() == '/')
    return tool_fail(ToolCode::invalid_arguments,
                     fmt::format("field '{}' must be relative to 'path' (default /work); put the directory in 'path'", key));
  return value;
}

ToolOr<std::pair<Resolved, UniqueFd>> open_search_root(const Scope& scope, const boost::json::object& args) {
  auto path = opt_string(args, "path");
  if (!path) return tl::unexpected(path.error());
  auto r = scope.resolve(path->value_or("/work"), Access::read);
  if (!r) return tl::unexpected(r.error());
  auto fd = scope.open_at(*r, O_RDONLY | O_NONBLOCK);
  if (!fd) return tl::unexpected(fd.error());
  return std::pair<Resolved, UniqueFd>(std::move(*r), std::move(*fd));
}

}  // namespace detail

namespace {

ToolOr<Text> do_glob(const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (auto k = only_keys(args, {"pattern", "path"}); !k) return tl::unexpected(k.error());
  auto pattern = check_pattern(args, "pattern", true);
  if (!pattern) return tl::unexpected(pattern.error());
  auto root = open_search_root(scope, args);
  if (!root) return tl::unexpected(root.error());
  Resolved& r = root->first;  // not a structured binding: clang 14 cannot capture one
  UniqueFd& fd = root->second;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is not a directory", r.view_path));

  struct Hit {
    struct timespec mtime;
    std::string rel;
  };
  std::vector<Hit> hits;
  PathPattern pat(*pattern);
  auto deadline = std::chrono::steady_clock::now() + limits.walk_time_budget;
  WalkOutcome walked = walk_files(fd.get(), limits, deadline, [&](const FileEntry& e) {
    if (!pat.matches(e.rel)) return true;
    struct stat fst;
    std::string name(e.name);
    if (::fstatat(e.dir_fd, name.c_str(), &fst, AT_SYMLINK_NOFOLLOW) == 0)
      hits.push_back(Hit{fst.st_mtim, std::string(e.rel)});
    return true;
  });
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec > b.mtime.tv_sec;
    if (a.mtime.tv_nsec != b.mtime.tv_nsec) return a.mtime.tv_nsec > b.mtime.tv_nsec;
    return a.rel < b.rel;
  });

  Text out;
  std::size_t shown = std::min(hits.size(), limits.glob_max_results);
  for (std::size_t i = 0; i < shown; ++i) out.text += Scope::view_join(r, hits[i].rel) + "\n";
  if (hits.size() > shown) {
    out.truncated = true;
    out.text += fmt::format("… {} more match(es); the newest {} are shown\n", hits.size() - shown, shown);
  }
  if (walked.stopped_early) {
    out.truncated = true;
    out.text += fmt::format("… the search {}; results may be incomplete\n", walked.note);
  }
  if (hits.empty() && !walked.stopped_early)
    out.text = fmt::format("no files match '{}' under '{}'\n", *pattern, r.view_path);
  return out;
}

}  // namespace

ToolResult glob(const Scope& s, const boost::json::object& a, const Limits& l) { return guarded(do_glob, s, a, l); }

}  // namespace yoi::tools
