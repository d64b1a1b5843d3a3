#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>
#include <re2/re2.h>

#include "common.hpp"
#include "walk.hpp"
#include "yoi/tools/output.hpp"
#include "yoi/tools/pattern.hpp"
#include "yoi/tools/tools.hpp"

namespace yoi::tools {

using namespace detail;

namespace {

constexpr std::size_t kChunk = 1 << 20;
// A line longer than this is searched in its first kMaxLineScan bytes only.
constexpr std::size_t kMaxLineScan = 4 << 20;

// Newlines in [b, e), eight bytes at a time (std::count is a byte loop
// here, and counting lines between matches was most of grep's time).
std::size_t count_newlines(const char* b, const char* e) {
  constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL, kNl = 0x0A0A0A0A0A0A0A0AULL;
  std::size_t n = 0;
  for (; e - b >= 8; b += 8) {
    std::uint64_t v;
    std::memcpy(&v, b, 8);
    v ^= kNl;  // newline bytes become zero
    std::uint64_t t = ~(((v & kLow7) + kLow7) | v | kLow7);  // 0x80 in exactly the zero bytes
    n += static_cast<std::size_t>(((t >> 7) * 0x0101010101010101ULL) >> 56);  // sum of the 0/1 bytes
  }
  for (; b < e; ++b) n += *b == '\n';
  return n;
}

class Searcher {
 public:
  Searcher(const RE2& re, const Limits& limits, std::chrono::steady_clock::time_point deadline)
      : re_(re), limits_(limits), deadline_(deadline) {}

  // Searches one open regular file up to the size it had when opened;
  // false when a bound stopped the search.
  bool file(int fd, const std::string& view_path) {
    view_ = &view_path;
    lineno_ = 1;
    buf_.clear();
    pending_ = {};
    struct stat st;
    if (::fstat(fd, &st) != 0) return true;
    auto left = static_cast<std::uint64_t>(st.st_size);
    bool skip_line = false, first = true;
    if (chunk_.empty()) chunk_.resize(kChunk);  // once per search, not per file
    while (left > 0) {
      if (std::chrono::steady_clock::now() > deadline_) return stop("stopped at the time limit");
      settle();  // chunk_ is about to be reused
      ssize_t n = ::read(fd, chunk_.data(), static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), left)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // an I/O error ends this file only
      left -= static_cast<std::uint64_t>(n);
      std::string_view got(chunk_.data(), static_cast<std::size_t>(n));
      if (first && looks_binary(got)) return true;  // binary: skipped
      first = false;
      if (skip_line) {
        std::size_t nl = got.find('\n');
        if (nl == std::string_view::npos) continue;
        got.remove_prefix(nl + 1);
        ++lineno_;
        skip_line = false;
      }
      if (buf_.empty()) {  // the common case: search the chunk in place
        std::size_t last = got.rfind('\n');
        if (last != std::string_view::npos) {
          if (!block(got.substr(0, last + 1))) return false;
          got.remove_prefix(last + 1);
        }
      }
      buf_.append(got);
      std::size_t last_nl = buf_.rfind('\n');
      if (last_nl == std::string::npos) {
        if (buf_.size() > kMaxLineScan) {
          buf_.resize(kMaxLineScan);
          if (!block(buf_)) return false;
          settle();
          buf_.clear();
          skip_line = true;
        }
        continue;
      }
      if (!block(std::string_view(buf_).substr(0, last_nl + 1))) return false;
      settle();  // before buf_ moves
      buf_.erase(0, last_nl + 1);
    }
    if (!buf_.empty() && !skip_line) return block(buf_);
    return true;  // newlines still pending after the last match are never needed
  }

  bool stop(std::string why) {
    note_ = std::move(why);
    return false;
  }

  Text take(const WalkOutcome& walked) {
    if (!note_.empty() || walked.stopped_early) {
      out_.truncated = true;
      out_.text += fmt::format("… the search {}; results may be incomplete\n",
                               note_.empty() ? walked.note : note_);
    }
    if (matches_ == 0 && note_.empty() && !walked.stopped_early) out_.text = "no matches\n";
    return std::move(out_);
  }

 private:
  // Complete lines (the last may lack '\n' at EOF). One RE2 search per
  // match rather than per line; never_nl keeps a match inside one line.
  bool block(std::string_view text) {
    settle();
    std::size_t pos = 0;
    while (pos < text.size()) {
      re2::StringPiece m;
      if (!re_.Match(re2::StringPiece(text.data(), text.size()), pos, text.size(), RE2::UNANCHORED, &m, 1) ||
          static_cast<std::size_t>(m.data() - text.data()) >= text.size()) {
        pending_ = text.substr(pos);  // counted only if a later match needs it
        return true;
      }
      auto at = static_cast<std::size_t>(m.data() - text.data());
      std::size_t ls = at == 0 ? std::string_view::npos : text.rfind('\n', at - 1);
      ls = ls == std::string_view::npos ? 0 : ls + 1;
      if (ls < pos) ls = pos;
      std::size_t le = text.find('\n', at);
      if (le == std::string_view::npos) le = text.size();
      lineno_ += count_newlines(text.data() + pos, text.data() + ls);
      if (!emit(text.substr(ls, le - ls))) return false;
      ++lineno_;
      pos = le + 1;
    }
    return true;
  }

  // Counts the newlines of the last block's unmatched tail into lineno_.
  void settle() {
    lineno_ += count_newlines(pending_.data(), pending_.data() + pending_.size());
    pending_ = {};
  }

  bool emit(std::string_view line) {
    if (matches_ == limits_.grep_max_matches)
      return stop(fmt::format("stopped after {} matches", limits_.grep_max_matches));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view shown = utf8_prefix(line, limits_.grep_max_line_bytes);
    std::string entry = fmt::format("{}:{}:{}{}\n", *view_, lineno_, shown, shown.size() < line.size() ? " …" : "");
    // Stop before the output bound (room kept for the closing note).
    if (matches_ > 0 && out_.text.size() + entry.size() + 100 > limits_.max_output_bytes)
      return stop(fmt::format("stopped at the output limit of {} bytes", limits_.max_output_bytes));
    out_.text += entry;
    ++matches_;
    return true;
  }

  const RE2& re_;
  const Limits& limits_;
  std::chrono::steady_clock::time_point deadline_;
  const std::string* view_ = nullptr;
  std::string chunk_;  // read buffer
  std::string buf_;    // an incomplete last line carried to the next read
  std::string_view pending_;  // the unmatched tail of the last block, not yet counted
  std::size_t lineno_ = 1, matches_ = 0;
  std::string note_;
  Text out_;
};

ToolOr<Text> do_grep(const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (auto k = only_keys(args, {"pattern", "path", "glob", "case_insensitive"}); !k) return tl::unexpected(k.error());
  auto pattern = req_string(args, "pattern");
  if (!pattern) return tl::unexpected(pattern.error());
  if (pattern->size() > limits.grep_max_pattern_bytes)
    return tool_fail(ToolCode::invalid_arguments, fmt::format("field 'pattern' is {} bytes, above the limit of {}",
                                                              pattern->size(), limits.grep_max_pattern_bytes));
  auto filter = check_pattern(args, "glob", false);
  if (!filter) return tl::unexpected(filter.error());
  auto ci = opt_bool(args, "case_insensitive");
  if (!ci) return tl::unexpected(ci.error());

  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(limits.grep_regex_max_mem);
  opts.set_case_sensitive(!ci->value_or(false));
  opts.set_never_nl(true);
  // (?m): ^ and $ match at line boundaries inside a searched block.
  RE2 re("(?m)" + *pattern, opts);
  if (!re.ok())
    return tool_fail(ToolCode::invalid_arguments, fmt::format("field 'pattern' is not a valid RE2 expression: {}",
                                                              utf8_prefix(re.error(), 300)));

  auto root = open_search_root(scope, args);
  if (!root) return tl::unexpected(root.error());
  Resolved& r = root->first;  // not a structured binding: clang 14 cannot capture one
  UniqueFd& fd = root->second;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return tl::unexpected(errno_error(errno, "stat", r.view_path));

  auto deadline = std::chrono::steady_clock::now() + limits.walk_time_budget;
  Searcher search(re, limits, deadline);
  WalkOutcome walked;
  if (S_ISREG(st.st_mode)) {
    search.file(fd.get(), r.view_path);
  } else if (S_ISDIR(st.st_mode)) {
    std::optional<PathPattern> only;
    bool by_name = filter->find('/') == std::string::npos;
    if (!filter->empty()) only.emplace(*filter);
    walked = walk_files(fd.get(), limits, deadline, [&](const FileEntry& e) {
      if (only) {
        std::string_view subject = e.rel;
        if (by_name) subject = e.name;
        if (!only->matches(subject)) return true;
      }
      struct stat fst;
      std::string name(e.name);
      UniqueFd file(open_regular(e.dir_fd, name.c_str(), fst));
      if (!file) return true;
      return search.file(file.get(), Scope::view_join(r, e.rel));
    });
  } else {
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is not a file or directory", r.view_path));
  }
  return search.take(walked);
}

}  // namespace

ToolResult grep(const Scope& s, const boost::json::object& a, const Limits& l) { return guarded(do_grep, s, a, l); }

}  // namespace yoi::tools
