#pragma once
// Internal to the fs store: the on-disk line format, a DOM-free JSON
// validator, a chunked line scanner and small POSIX helpers. See README.md.
//
// Event line:      {"seq":N,"f":F,"r":<event record>}\n
// Transcript line: {"index":I,"seq":S,"r":<transcript record>}\n
// F: bit 0 = last event of a commit, bit 1 = that commit replaced the state.
// S: the last event seq of the commit that appended the item.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "yoi/error.hpp"

namespace yoi::store::fs {

inline constexpr unsigned kCommitEnd = 1;
inline constexpr unsigned kCommitState = 2;
// A sparse offset index keeps one entry per kIndexStride records.
inline constexpr std::uint64_t kIndexStride = 64;
inline constexpr std::size_t kMaxLineBytes = 16u << 20;

void append_event_line(std::string& out, std::uint64_t seq, unsigned flags, std::string_view record);
void append_transcript_line(std::string& out, std::uint64_t index, std::uint64_t seq,
                            std::string_view record);

struct Decoded {
  std::uint64_t key = 0;  // seq (events) or index (transcript)
  std::uint64_t seq = 0;  // transcript: commit seq
  unsigned flags = 0;
  std::string_view record;
};
// Fast decoding of a line this store wrote (no JSON parse). `line` excludes '\n'.
bool decode_event_line(std::string_view line, Decoded& out);
bool decode_transcript_line(std::string_view line, Decoded& out);

// Top-level unsigned integer fields of a line, captured while validating.
struct LineFields {
  bool has_seq = false, has_index = false, has_f = false;
  std::uint64_t seq = 0, index = 0, f = 0;
};

// Validates JSON text without building a DOM. Reusable; not thread-safe.
class Validator {
 public:
  Validator();
  ~Validator();
  // True when `text` is exactly one JSON document. When `fields` is given the
  // document must be an object and its top-level seq/index/f are captured.
  bool check(std::string_view text, LineFields* fields = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a file as lines from an offset in chunks, so memory stays bounded by
// the chunk size plus the longest line.
class LineScanner {
 public:
  LineScanner(int fd, std::uint64_t offset, std::size_t chunk);
  // Next complete line (without '\n') and its file offset. false at the end
  // of the complete lines; then `error()` or `trailing()` say why.
  bool next(std::string_view& line, std::uint64_t& offset);
  // Bytes after the last '\n' (a torn tail), valid once next() returned false.
  std::uint64_t trailing() const { return buf_.size() - start_; }
  std::uint64_t trailing_offset() const { return pos_ - (buf_.size() - start_); }
  const std::string& error() const { return error_; }

 private:
  int fd_;
  std::uint64_t pos_;  // file offset of the end of buf_
  std::size_t chunk_;
  std::string buf_;
  std::size_t start_ = 0;
  std::size_t scan_from_ = 0;
  bool eof_ = false;
  std::string error_;
};

// POSIX helpers; failures are store_io naming the path and errno text.
Error io_error(std::string_view what, const std::string& path, int err);
Result<void> write_all(int fd, std::string_view data, const std::string& path);
Result<void> sync_fd(int fd, const std::string& path);
Result<void> sync_dir(const std::string& path);
// Write `content` to path.tmp, (sync), rename over `path`, (sync the directory).
Result<void> replace_file(const std::string& path, std::string_view content, bool sync);
// Whole small file. ENOENT gives Code::not_found so callers can name it.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes);

// 20-digit zero-padded decimal, so segment names sort by seq.
std::string seq_name(std::uint64_t seq);

}  // namespace yoi::store::fs
