#include "fs_format.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <boost/json/basic_parser_impl.hpp>
#include <fmt/format.h>

#include "yoi/json_sax.hpp"

namespace yoi::store::fs {
namespace {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Parses `"<key>":<digits>` at `pos`, advancing it.
bool take_field(std::string_view line, std::size_t& pos, std::string_view key, std::uint64_t& v) {
  if (line.substr(pos, key.size()) != key) return false;
  pos += key.size();
  auto r = std::from_chars(line.data() + pos, line.data() + line.size(), v);
  if (r.ec != std::errc{}) return false;
  pos = static_cast<std::size_t>(r.ptr - line.data());
  return true;
}

bool take_record(std::string_view line, std::size_t pos, std::string_view& record) {
  static constexpr std::string_view kR = ",\"r\":";
  if (line.substr(pos, kR.size()) != kR || line.size() < pos + kR.size() + 1 || line.back() != '}')
    return false;
  record = line.substr(pos + kR.size(), line.size() - pos - kR.size() - 1);
  return true;
}

// boost::json::basic_parser handler: validates, builds nothing, captures the
// top-level unsigned fields the store indexes by.
struct FieldHandler : json::NullHandler {
  LineFields* out = nullptr;
  int depth = 0;
  bool top_object = false;
  int key = 0;  // 1 seq, 2 index, 3 f
  char keybuf[8];
  std::size_t keylen = 0;
  bool keylong = false;

  void reset(LineFields* f) {
    out = f;
    depth = 0;
    top_object = false;
    key = 0;
    keylen = 0;
    keylong = false;
  }
  void key_append(sv s) {
    if (keylen + s.size() > sizeof keybuf) {
      keylong = true;
      return;
    }
    std::memcpy(keybuf + keylen, s.data(), s.size());
    keylen += s.size();
  }
  void value_int(std::uint64_t v) {
    if (depth == 1 && out) {
      if (key == 1) out->has_seq = true, out->seq = v;
      if (key == 2) out->has_index = true, out->index = v;
      if (key == 3) out->has_f = true, out->f = v;
    }
    key = 0;
  }

  bool on_object_begin(ec_t&) {
    if (depth == 0) top_object = true;
    ++depth;
    key = 0;
    return true;
  }
  bool on_object_end(std::size_t, ec_t&) {
    --depth;
    return true;
  }
  bool on_array_begin(ec_t&) {
    ++depth;
    key = 0;
    return true;
  }
  bool on_array_end(std::size_t, ec_t&) {
    --depth;
    return true;
  }
  bool on_key_part(sv s, std::size_t, ec_t&) {
    key_append(s);
    return true;
  }
  bool on_key(sv s, std::size_t, ec_t&) {
    key_append(s);
    key = 0;
    if (depth == 1 && !keylong) {
      std::string_view k(keybuf, keylen);
      if (k == "seq") key = 1;
      else if (k == "index") key = 2;
      else if (k == "f") key = 3;
    }
    keylen = 0;
    keylong = false;
    return true;
  }
  bool on_string(sv, std::size_t, ec_t&) {
    key = 0;
    return true;
  }
  bool on_int64(std::int64_t v, sv, ec_t&) {
    if (v >= 0) value_int(static_cast<std::uint64_t>(v));
    key = 0;
    return true;
  }
  bool on_uint64(std::uint64_t v, sv, ec_t&) {
    value_int(v);
    return true;
  }
  bool on_double(double, sv, ec_t&) {
    key = 0;
    return true;
  }
  bool on_bool(bool, ec_t&) {
    key = 0;
    return true;
  }
  bool on_null(ec_t&) {
    key = 0;
    return true;
  }
};

}  // namespace

void append_event_line(std::string& out, std::uint64_t seq, unsigned flags, std::string_view record) {
  out.append("{\"seq\":");
  append_uint(out, seq);
  out.append(",\"f\":");
  append_uint(out, flags);
  out.append(",\"r\":");
  out.append(record);
  out.append("}\n");
}

void append_transcript_line(std::string& out, std::uint64_t index, std::uint64_t seq,
                            std::string_view record) {
  out.append("{\"index\":");
  append_uint(out, index);
  out.append(",\"seq\":");
  append_uint(out, seq);
  out.append(",\"r\":");
  out.append(record);
  out.append("}\n");
}

bool decode_event_line(std::string_view line, Decoded& out) {
  std::size_t pos = 0;
  std::uint64_t f = 0;
  if (!take_field(line, pos, "{\"seq\":", out.key) || !take_field(line, pos, ",\"f\":", f))
    return false;
  out.flags = static_cast<unsigned>(f);
  out.seq = out.key;
  return take_record(line, pos, out.record);
}

bool decode_transcript_line(std::string_view line, Decoded& out) {
  std::size_t pos = 0;
  if (!take_field(line, pos, "{\"index\":", out.key) || !take_field(line, pos, ",\"seq\":", out.seq))
    return false;
  out.flags = 0;
  return take_record(line, pos, out.record);
}

struct Validator::Impl {
  boost::json::basic_parser<FieldHandler> parser;
  Impl() : parser(make_options()) {}
  static boost::json::parse_options make_options() {
    boost::json::parse_options o;
    o.max_depth = 64;
    return o;
  }
};

Validator::Validator() : impl_(std::make_unique<Impl>()) {}
Validator::~Validator() = default;

bool Validator::check(std::string_view text, LineFields* fields) {
  auto& p = impl_->parser;
  p.reset();
  if (fields) *fields = LineFields{};
  p.handler().reset(fields);
  boost::json::error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (ec || n != text.size() || !p.done()) return false;
  if (fields && !p.handler().top_object) return false;
  return true;
}

LineScanner::LineScanner(int fd, std::uint64_t offset, std::size_t chunk)
    : fd_(fd), pos_(offset), chunk_(chunk) {}

bool LineScanner::next(std::string_view& line, std::uint64_t& offset) {
  for (;;) {
    const char* base = buf_.data();
    const void* nl = scan_from_ < buf_.size()
                         ? std::memchr(base + scan_from_, '\n', buf_.size() - scan_from_)
                         : nullptr;
    if (nl) {
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
      line = std::string_view(base + start_, end - start_);
      offset = pos_ - (buf_.size() - start_);
      start_ = end + 1;
      scan_from_ = start_;
      return true;
    }
    if (eof_ || !error_.empty()) return false;
    if (buf_.size() - start_ > kMaxLineBytes) {
      error_ = fmt::format("line longer than {} bytes", kMaxLineBytes);
      return false;
    }
    // Drop consumed bytes, then read one more chunk.
    scan_from_ = buf_.size() - start_;
    buf_.erase(0, start_);
    start_ = 0;
    std::size_t old = buf_.size();
    buf_.resize(old + chunk_);
    ssize_t r;
    do {
      r = ::pread(fd_, buf_.data() + old, chunk_, static_cast<off_t>(pos_));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      error_ = std::strerror(errno);
      buf_.resize(old);
      return false;
    }
    buf_.resize(old + static_cast<std::size_t>(r));
    pos_ += static_cast<std::uint64_t>(r);
    if (r == 0) eof_ = true;
  }
}

Error io_error(std::string_view what, const std::string& path, int err) {
  return Error{Code::store_io, fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

Result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t r = ::write(fd, data.data(), data.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(io_error("write", path, errno));
    }
    data.remove_prefix(static_cast<std::size_t>(r));
  }
  return {};
}

Result<void> sync_fd(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return tl::unexpected(io_error("fdatasync", path, errno));
  return {};
}

Result<void> sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(io_error("open directory", path, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return tl::unexpected(io_error("fsync directory", path, err));
  return {};
}

Result<void> replace_file(const std::string& path, std::string_view content, bool sync) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return tl::unexpected(io_error("create", tmp, errno));
  auto w = write_all(fd, content, tmp);
  if (w && sync && ::fsync(fd) != 0) w = tl::unexpected(io_error("fsync", tmp, errno));
  ::close(fd);
  if (!w) return w;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return tl::unexpected(io_error("rename", tmp, errno));
  if (sync) {
    auto slash = path.find_last_of('/');
    return sync_dir(slash == std::string::npos ? "." : path.substr(0, slash));
  }
  return {};
}

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return fail(Code::not_found, fmt::format("missing file {}", path));
    return tl::unexpected(io_error("open", path, err));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return tl::unexpected(io_error("read", path, err));
    }
    if (r == 0) break;
    out.append(buf, static_cast<std::size_t>(r));
    if (out.size() > max_bytes) {
      ::close(fd);
      return fail(Code::store_corrupt, fmt::format("{}: larger than {} bytes", path, max_bytes));
    }
  }
  ::close(fd);
  return out;
}

std::string seq_name(std::uint64_t seq) { return fmt::format("{:020}", seq); }

}  // namespace yoi::store::fs
