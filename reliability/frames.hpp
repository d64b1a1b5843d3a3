#pragma once
// Frames of yoi-server's event stream as a test client sees them, and the
// checker of the stream guarantee: per worker, every event's seq is the one
// after the previous (no gap, no duplicate), except across a typed resync
// (a cursor_expired / cursor_unknown / cursor_invalid diagnostic followed by
// a snapshot, which sets the new position).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace yoi::reliability {

struct Frame {
  std::string type;    // snapshot | event | diagnostic | heartbeat | (unparsable: "")
  std::string cursor;  // snapshot, event, heartbeat
  std::uint64_t seq = 0;
  bool has_seq = false;
  std::string code, action;  // diagnostic
  std::string event_type;    // event: event.type
  std::string status;        // snapshot: worker status, event "status": its status
  std::string raw;
};

Frame parse_frame(const std::string& text);

// The `error.code` of an error body ({"error":{"code":...}}), or "".
std::string error_code(const std::string& body);

class SeqChecker {
 public:
  // A connection opened (with or without a cursor). Without a cursor the
  // first frame must be a snapshot.
  void connected(bool with_cursor);
  // Feeds one frame; false (and a reason in violations()) when it breaks the
  // guarantee.
  bool on(const Frame& f);
  const std::vector<std::string>& violations() const { return violations_; }
  const std::vector<std::uint64_t>& seqs() const { return seqs_; }
  std::optional<std::uint64_t> position() const { return pos_; }
  const std::string& cursor() const { return cursor_; }
  int resyncs() const { return resyncs_; }
  std::uint64_t events() const { return seqs_.size(); }

 private:
  std::optional<std::uint64_t> pos_;
  std::string cursor_;
  bool expect_snapshot_ = false;
  int resyncs_ = 0;
  std::vector<std::uint64_t> seqs_;
  std::vector<std::string> violations_;
};

}  // namespace yoi::reliability
