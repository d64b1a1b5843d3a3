#pragma once
// An incremental Server-Sent Events parser (the WHATWG "event stream"
// interpretation), fed arbitrary byte slices as they arrive from the network.
//
// - Lines end in CRLF, LF or CR; a CR at the end of one slice followed by an
//   LF at the start of the next is one line ending.
// - `data:` lines accumulate (joined with "\n"); `event:` sets the type
//   (default "message"); `id:` is recorded; `retry:` and unknown fields are
//   ignored; lines starting with ':' are comments; a blank line dispatches.
//   An event with no data lines is not dispatched (per the spec).
// - A leading UTF-8 BOM is skipped.
// - Bounded: a single event (its pending line plus accumulated data) larger
//   than `max_event_bytes` fails with payload_too_large, and the parser stays
//   failed. An unterminated event at end of stream is discarded (finish()).
//
// No I/O, no Asio: a pure state machine, safe to fuzz. Not thread-safe; one
// parser per stream.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "yoi/error.hpp"

namespace yoi::engines {

struct SseEvent {
  std::string type = "message";
  std::string data;
  std::string id;
};

class SseParser {
 public:
  static constexpr std::size_t kDefaultMaxEventBytes = 1 << 20;

  // Return false from the sink to stop: the rest of the slice is dropped and
  // every later feed() does nothing (the consumer is done with the stream).
  using Sink = std::function<bool(const SseEvent&)>;

  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Consumes `bytes`, calling `sink` for every event completed by them, in
  // order. Fails (payload_too_large) when an event exceeds the limit.
  Result<void> feed(std::string_view bytes, const Sink& sink);

  // End of stream: discards any unterminated event. True when nothing was
  // pending (the stream ended on an event boundary).
  bool finish();

  bool failed() const { return failed_; }
  bool stopped() const { return stopped_; }

 private:
  // Processes one complete line; false when the sink asked to stop.
  bool line(std::string_view l, const Sink& sink);
  std::size_t pending_bytes() const { return line_.size() + data_.size() + type_.size(); }

  std::size_t max_event_bytes_;
  std::string line_;  // the current, unterminated line
  std::string data_;  // accumulated data lines, each followed by '\n'
  std::string type_;
  std::string id_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the previous slice ended in CR
  bool first_line_ = true;  // for the BOM
  bool failed_ = false;
  bool stopped_ = false;
};

}  // namespace yoi::engines
