// Argument decoding, the common exit, dispatch, and read/write/edit.
#include "yoi/tools/tools.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

#include "common.hpp"
#include "walk.hpp"
#include "yoi/json.hpp"
#include "yoi/tools/diff.hpp"
#include "yoi/tools/output.hpp"

namespace yoi::tools {
namespace detail {
namespace {

template <class T>
ToolOr<T> as_tool(Result<T> r) {
  if (r) return std::move(*r);
  return tool_fail(ToolCode::invalid_arguments, std::move(r.error().message));
}

}  // namespace

ToolOr<void> only_keys(const boost::json::object& args, std::initializer_list<std::string_view> allowed) {
  if (auto r = json::only_keys(args, allowed, "arguments"); !r)
    return tool_fail(ToolCode::invalid_arguments, std::move(r.error().message));
  return {};
}
ToolOr<std::string> req_string(const boost::json::object& a, std::string_view k) { return as_tool(json::req_string(a, k)); }
ToolOr<std::optional<std::string>> opt_string(const boost::json::object& a, std::string_view k) { return as_tool(json::opt_string(a, k)); }
ToolOr<std::optional<std::int64_t>> opt_int(const boost::json::object& a, std::string_view k) { return as_tool(json::opt_int(a, k)); }
ToolOr<std::optional<bool>> opt_bool(const boost::json::object& a, std::string_view k) { return as_tool(json::opt_bool(a, k)); }

ToolResult finish(ToolOr<Text> r, const Limits& limits) {
  ToolResult out;
  if (!r) {
    // Messages may quote model-supplied text: valid UTF-8 and short, too.
    out.error = ToolError{r.error().code, bound_output(r.error().message, 1024).text};
    return out;
  }
  Bounded b = bound_output(r->text, limits.max_output_bytes);
  out.ok = true;
  out.output = std::move(b.text);
  out.truncated = r->truncated || b.truncated;
  return out;
}

ToolResult guarded(ToolOr<Text> (*tool)(const Scope&, const boost::json::object&, const Limits&),
                   const Scope& scope, const boost::json::object& args, const Limits& limits) {
  try {
    return finish(tool(scope, args, limits), limits);
  } catch (const std::exception& e) {  // bad_alloc, at worst: still a result
    return finish(tool_fail(ToolCode::tool_failed, fmt::format("internal error: {}", e.what())), limits);
  }
}

ToolOr<void> atomic_replace(int dir_fd, const std::string& name, std::string_view content, unsigned mode,
                            std::string_view view_path) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 16; ++attempt) {
    tmp = fmt::format(".{}.yoi-tmp-{:016x}", name.substr(0, 64), rng());
    fd = ::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return tl::unexpected(errno_error(errno, "create temporary file", view_path));
  UniqueFd file(fd);
  auto fail_with = [&](int err, std::string_view what) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return tl::unexpected(errno_error(err, what, view_path));
  };
  for (std::size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_with(errno, "write");
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) return fail_with(errno, "chmod");  // exact mode, not umask'd
  if (::fsync(fd) != 0) return fail_with(errno, "fsync");
  if (::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0) return fail_with(errno, "rename");
  if (::fsync(dir_fd) != 0) return tl::unexpected(errno_error(errno, "fsync directory", view_path));
  return {};
}

}  // namespace detail

using namespace detail;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kNoteRoom = 100;  // bytes kept for a closing note

// Reads up to `max` bytes from the start of `fd` (a bound, not a buffer).
ToolOr<std::string> read_prefix(int fd, std::size_t max, std::string_view view_path) {
  std::string buf(max, '\0');
  std::size_t got = 0;
  while (got < max) {
    ssize_t n = ::pread(fd, buf.data() + got, max - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(errno_error(errno, "read", view_path));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  return buf;
}

// Opens a regular file for reading; a FIFO or device is invalid_arguments
// (O_NONBLOCK: opening a FIFO must not block the pool thread).
ToolOr<UniqueFd> open_regular_file(const Scope& scope, const Resolved& r, struct stat& st) {
  auto fd = scope.open_at(r, O_RDONLY | O_NONBLOCK);
  if (!fd) return fd;
  if (::fstat(fd->get(), &st) != 0) return tl::unexpected(errno_error(errno, "stat", r.view_path));
  if (S_ISDIR(st.st_mode))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is a directory", r.view_path));
  if (!S_ISREG(st.st_mode))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is not a regular file", r.view_path));
  return fd;
}

ToolError binary_error(std::string_view view_path) {
  return {ToolCode::invalid_arguments,
          fmt::format("'{}' is a binary file (a NUL byte in its first 8 KiB); not read", view_path)};
}

ToolOr<Text> do_read(const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (auto k = only_keys(args, {"path", "offset", "limit"}); !k) return tl::unexpected(k.error());
  auto path = req_string(args, "path");
  if (!path) return tl::unexpected(path.error());
  auto offset = opt_int(args, "offset");
  if (!offset) return tl::unexpected(offset.error());
  auto limit = opt_int(args, "limit");
  if (!limit) return tl::unexpected(limit.error());
  if (*offset && **offset < 1) return tool_fail(ToolCode::invalid_arguments, "field 'offset' must be at least 1");
  if (*limit && **limit < 1) return tool_fail(ToolCode::invalid_arguments, "field 'limit' must be at least 1");
  const std::size_t first = *offset ? static_cast<std::size_t>(**offset) : 1;
  const std::size_t count = *limit ? static_cast<std::size_t>(**limit) : limits.read_default_lines;

  auto r = scope.resolve(*path, Access::read);
  if (!r) return tl::unexpected(r.error());
  struct stat st;
  auto fd = open_regular_file(scope, *r, st);
  if (!fd) return tl::unexpected(fd.error());
  auto head = read_prefix(fd->get(), kBinaryProbeBytes, r->view_path);
  if (!head) return tl::unexpected(head.error());
  if (looks_binary(*head)) return tl::unexpected(binary_error(r->view_path));

  // Stream: lines before `first` are counted and dropped; a line longer
  // than read_max_line_bytes keeps its head only; the page stops at
  // `count` lines or when the output is full.
  Text out;
  std::string line;
  bool line_cut = false;
  std::size_t lineno = 1, shown = 0;
  bool more = false;  // lines remain after the page
  auto flush_line = [&]() -> bool {  // false: stop reading
    if (lineno >= first) {
      std::string numbered = fmt::format("{:>6}\t{}{}\n", lineno, line, line_cut ? " … [line cut]" : "");
      // The page ends at `count` lines, or before the output bound (room
      // kept for the note; the first line always goes in).
      bool full = shown > 0 && out.text.size() + numbered.size() + kNoteRoom > limits.max_output_bytes;
      if (shown == count || full) {
        more = true;
        out.truncated = full;
        return false;
      }
      out.text += numbered;
      ++shown;
    }
    ++lineno;
    line.clear();
    line_cut = false;
    return true;
  };
  std::string buf(kReadChunk, '\0');
  off_t pos = 0;
  bool going = true, pending = false;  // pending: a last line without '\n'
  while (going) {
    ssize_t n = ::pread(fd->get(), buf.data(), buf.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(errno_error(errno, "read", r->view_path));
    if (n == 0) break;
    pos += n;
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    while (going && !chunk.empty()) {
      std::size_t nl = chunk.find('\n');
      std::string_view piece = chunk.substr(0, nl);
      if (lineno >= first && !line_cut) {
        std::size_t room = limits.read_max_line_bytes - std::min(line.size(), limits.read_max_line_bytes);
        if (piece.size() > room) {
          line += utf8_prefix(piece, room);
          line_cut = true;
        } else {
          line += piece;
        }
      }
      if (nl == std::string_view::npos) {
        pending = pending || !piece.empty();
        break;
      }
      pending = false;
      chunk.remove_prefix(nl + 1);
      going = flush_line();
    }
  }
  if (going && pending) flush_line();  // a last line without '\n'
  if (more) {
    out.text += fmt::format("… more lines follow: continue with offset {}\n", first + shown);
  } else if (shown == 0) {
    out.text = fmt::format("(no lines: '{}' has {} line(s))\n", r->view_path, lineno - 1);
  }
  return out;
}

// A file mode for a replacement: the old file's, or 0644 for a new one.
unsigned mode_of(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
    return st.st_mode & 07777;
  return 0644;
}

ToolOr<Text> do_write(const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (auto k = only_keys(args, {"path", "content"}); !k) return tl::unexpected(k.error());
  auto path = req_string(args, "path");
  if (!path) return tl::unexpected(path.error());
  auto content = req_string(args, "content");
  if (!content) return tl::unexpected(content.error());
  if (content->size() > limits.max_file_bytes)
    return tool_fail(ToolCode::too_large, fmt::format("content is {} bytes, above the limit of {}",
                                                      content->size(), limits.max_file_bytes));
  auto r = scope.resolve(*path, Access::write);
  if (!r) return tl::unexpected(r.error());
  auto parent = scope.open_parent(*r, true);
  if (!parent) return tl::unexpected(parent.error());
  auto& [dir, name] = *parent;
  struct stat st;
  bool existed = ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (existed && S_ISDIR(st.st_mode))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is a directory", r->view_path));
  if (auto w = atomic_replace(dir.get(), name, *content, mode_of(dir.get(), name), r->view_path); !w)
    return tl::unexpected(w.error());
  return Text{fmt::format("{} '{}' ({} bytes)", existed ? "replaced" : "created", r->view_path, content->size())};
}

ToolOr<Text> do_edit(const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (auto k = only_keys(args, {"path", "old_string", "new_string", "replace_all"}); !k)
    return tl::unexpected(k.error());
  auto path = req_string(args, "path");
  if (!path) return tl::unexpected(path.error());
  auto old_s = req_string(args, "old_string");
  if (!old_s) return tl::unexpected(old_s.error());
  auto new_s = req_string(args, "new_string");
  if (!new_s) return tl::unexpected(new_s.error());
  auto all = opt_bool(args, "replace_all");
  if (!all) return tl::unexpected(all.error());
  if (old_s->empty()) return tool_fail(ToolCode::invalid_arguments, "field 'old_string' must not be empty");
  if (*old_s == *new_s)
    return tool_fail(ToolCode::invalid_arguments, "fields 'old_string' and 'new_string' are equal: nothing to do");

  auto r = scope.resolve(*path, Access::write);
  if (!r) return tl::unexpected(r.error());
  auto parent = scope.open_parent(*r, false);
  if (!parent) return tl::unexpected(parent.error());
  auto& [dir, name] = *parent;
  // The file is read through the same directory fd that receives the
  // replacement, and not through a symlink (the rename would replace the
  // link, not its target).
  struct stat st;
  UniqueFd fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ELOOP) {
    if (auto target = scope.open_at(*r, O_PATH); !target) return tl::unexpected(target.error());  // leads out
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is a symlink; edit the file it points to", r->view_path));
  }
  if (!fd) return tl::unexpected(errno_error(errno, "open", r->view_path));
  if (::fstat(fd.get(), &st) != 0) return tl::unexpected(errno_error(errno, "stat", r->view_path));
  if (!S_ISREG(st.st_mode))
    return tool_fail(ToolCode::invalid_arguments, fmt::format("'{}' is not a regular file", r->view_path));
  if (static_cast<std::size_t>(st.st_size) > limits.max_file_bytes)
    return tool_fail(ToolCode::too_large, fmt::format("'{}' is {} bytes, above the edit limit of {}", r->view_path,
                                                      st.st_size, limits.max_file_bytes));
  auto text = read_prefix(fd.get(), limits.max_file_bytes + 1, r->view_path);
  if (!text) return tl::unexpected(text.error());
  if (text->size() > limits.max_file_bytes)
    return tool_fail(ToolCode::too_large, fmt::format("'{}' is above the edit limit of {} bytes", r->view_path,
                                                      limits.max_file_bytes));
  if (looks_binary(*text)) return tl::unexpected(binary_error(r->view_path));

  std::vector<std::size_t> at;
  for (std::size_t p = text->find(*old_s); p != std::string::npos; p = text->find(*old_s, p + old_s->size()))
    at.push_back(p);
  if (at.empty())
    return tool_fail(ToolCode::not_found, fmt::format("old_string was not found in '{}'", r->view_path));
  if (at.size() > 1 && !all->value_or(false))
    return tool_fail(ToolCode::invalid_arguments,
                     fmt::format("old_string occurs {} times in '{}'; make it unique or set replace_all",
                                 at.size(), r->view_path));
  std::string updated;
  updated.reserve(text->size() + at.size() * new_s->size());
  std::size_t prev = 0;
  for (std::size_t p : at) {
    updated.append(*text, prev, p - prev);
    updated += *new_s;
    prev = p + old_s->size();
  }
  updated.append(*text, prev);
  if (updated.size() > limits.max_file_bytes)
    return tool_fail(ToolCode::too_large, fmt::format("the edited file would be {} bytes, above the limit of {}",
                                                      updated.size(), limits.max_file_bytes));
  if (auto w = atomic_replace(dir.get(), name, updated, st.st_mode & 07777, r->view_path); !w)
    return tl::unexpected(w.error());
  auto blocks = replacement_blocks(*text, updated, at, old_s->size(), new_s->size());
  return Text{unified_diff(r->view_path, split_lines(*text), split_lines(updated), std::move(blocks))};
}

}  // namespace

ToolResult read(const Scope& s, const boost::json::object& a, const Limits& l) { return guarded(do_read, s, a, l); }
ToolResult write(const Scope& s, const boost::json::object& a, const Limits& l) { return guarded(do_write, s, a, l); }
ToolResult edit(const Scope& s, const boost::json::object& a, const Limits& l) { return guarded(do_edit, s, a, l); }

ToolResult run(std::string_view name, const Scope& scope, const boost::json::object& args, const Limits& limits) {
  if (name == "read") return read(scope, args, limits);
  if (name == "write") return write(scope, args, limits);
  if (name == "edit") return edit(scope, args, limits);
  if (name == "glob") return glob(scope, args, limits);
  if (name == "grep") return grep(scope, args, limits);
  return finish(tool_fail(ToolCode::invalid_arguments, fmt::format("unknown tool '{}'", utf8_prefix(name, 64))),
                limits);
}

}  // namespace yoi::tools

namespace yoi::tools {

ToolOr<BashArguments> bash_arguments(const boost::json::object& args) {
  if (auto ok = detail::only_keys(args, {"command", "timeout_ms"}); !ok) return tl::unexpected(ok.error());
  auto command = detail::req_string(args, "command");
  if (!command) return tl::unexpected(command.error());
  if (command->empty()) return tool_fail(ToolCode::invalid_arguments, "command: must not be empty");
  if (command->size() > kMaxBashCommandBytes)
    return tool_fail(ToolCode::invalid_arguments, fmt::format("command: longer than {} bytes", kMaxBashCommandBytes));
  if (command->find('\0') != std::string::npos)
    return tool_fail(ToolCode::invalid_arguments, "command: must not contain a NUL byte");
  auto timeout = detail::opt_int(args, "timeout_ms");
  if (!timeout) return tl::unexpected(timeout.error());
  if (*timeout && **timeout < 1) return tool_fail(ToolCode::invalid_arguments, "timeout_ms: must be at least 1");
  return BashArguments{std::move(*command), *timeout};
}

}  // namespace yoi::tools
