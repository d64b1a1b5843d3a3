#include "yoi/engines/sse.hpp"

#include <fmt/format.h>

namespace yoi::engines {

Result<void> SseParser::feed(std::string_view bytes, const Sink& sink) {
  if (failed_) return fail(Code::payload_too_large, "event stream already failed");
  if (stopped_) return {};
  std::size_t i = 0;
  if (after_cr_ && !bytes.empty()) {
    after_cr_ = false;
    if (bytes[0] == '\n') i = 1;  // second half of a CRLF split across slices
  }
  while (i < bytes.size()) {
    std::size_t end = bytes.find_first_of("\r\n", i);
    std::string_view piece = bytes.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (pending_bytes() + piece.size() > max_event_bytes_) {
      failed_ = true;
      line_.clear();
      data_.clear();
      return fail(Code::payload_too_large,
                  fmt::format("an event exceeds the limit of {} bytes", max_event_bytes_));
    }
    if (end == std::string_view::npos) {
      line_.append(piece);
      return {};
    }
    bool keep_going;
    if (line_.empty()) {
      keep_going = line(piece, sink);
    } else {
      line_.append(piece);
      std::string whole = std::move(line_);
      line_.clear();
      keep_going = line(whole, sink);
    }
    if (!keep_going) {
      stopped_ = true;
      return {};
    }
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i < bytes.size()) {
        if (bytes[i] == '\n') ++i;
      } else {
        after_cr_ = true;
      }
    }
  }
  return {};
}

bool SseParser::line(std::string_view l, const Sink& sink) {
  if (first_line_) {
    first_line_ = false;
    if (l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
  }
  if (l.empty()) {
    if (!has_data_) {
      type_.clear();
      return true;
    }
    SseEvent ev;
    if (!type_.empty()) ev.type = std::move(type_);
    data_.pop_back();  // the '\n' after the last data line
    ev.data = std::move(data_);
    ev.id = id_;
    type_.clear();
    data_.clear();
    has_data_ = false;
    return sink(ev);
  }
  if (l[0] == ':') return true;  // comment (often a keep-alive)
  std::string_view field = l, value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  }
  // "retry" and unknown fields are ignored.
  return true;
}

bool SseParser::finish() {
  bool clean = line_.empty() && !has_data_;
  line_.clear();
  data_.clear();
  type_.clear();
  has_data_ = false;
  return clean;
}

}  // namespace yoi::engines
