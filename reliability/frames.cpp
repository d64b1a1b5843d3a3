#include "frames.hpp"

#include <boost/json.hpp>

namespace yoi::reliability {

namespace bj = boost::json;

namespace {
std::string str(const bj::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
}  // namespace

Frame parse_frame(const std::string& text) {
  Frame f;
  f.raw = text;
  boost::system::error_code ec;
  auto v = bj::parse(text, ec);
  if (ec || !v.is_object()) return f;
  const auto& o = v.as_object();
  f.type = str(o, "type");
  f.cursor = str(o, "cursor");
  if (auto* s = o.if_contains("seq"); s && (s->is_uint64() || s->is_int64())) {
    f.seq = s->is_uint64() ? s->as_uint64() : static_cast<std::uint64_t>(s->as_int64());
    f.has_seq = true;
  }
  f.code = str(o, "code");
  f.action = str(o, "action");
  if (auto* e = o.if_contains("event"); e && e->is_object()) {
    f.event_type = str(e->as_object(), "type");
    f.status = str(e->as_object(), "status");
  }
  if (f.type == "snapshot") {
    if (auto* w = o.if_contains("worker"); w && w->is_object()) f.status = str(w->as_object(), "status");
    if (f.status.empty()) f.status = str(o, "status");
  }
  return f;
}

void SeqChecker::connected(bool with_cursor) {
  expect_snapshot_ = !with_cursor;
  if (!with_cursor) pos_.reset();
}

bool SeqChecker::on(const Frame& f) {
  auto violate = [&](std::string why) {
    violations_.push_back(std::move(why) + " (frame: " + f.raw.substr(0, 200) + ")");
    return false;
  };
  if (f.type.empty()) return violate("unparsable frame");
  if (f.type == "snapshot") {
    if (!expect_snapshot_) return violate("snapshot without a resync or a fresh connection");
    expect_snapshot_ = false;
    if (!f.has_seq) return violate("snapshot without seq");
    pos_ = f.seq;
    cursor_ = f.cursor;
    return true;
  }
  if (f.type == "diagnostic") {
    if (f.action == "resync") {
      if (f.code != "cursor_expired" && f.code != "cursor_unknown" && f.code != "cursor_invalid")
        return violate("resync with an unexpected code " + f.code);
      ++resyncs_;
      expect_snapshot_ = true;
    }
    return true;
  }
  // Waiting for a snapshot (e.g. while the runtime is down) a stream may
  // send heartbeats; they carry no position for this client yet.
  if (expect_snapshot_ && f.type == "heartbeat") return true;
  if (expect_snapshot_) return violate("expected a snapshot first");
  if (f.type == "heartbeat") {
    if (f.has_seq && pos_ && f.seq < *pos_) return violate("heartbeat behind the position");
    if (!f.cursor.empty()) cursor_ = f.cursor;
    return true;
  }
  if (f.type == "event") {
    if (!f.has_seq) return violate("event without seq");
    if (pos_ && f.seq != *pos_ + 1)
      return violate(f.seq <= *pos_ ? "duplicate seq " + std::to_string(f.seq) + " after " + std::to_string(*pos_)
                                    : "gap: seq " + std::to_string(f.seq) + " after " + std::to_string(*pos_));
    pos_ = f.seq;
    cursor_ = f.cursor;
    seqs_.push_back(f.seq);
    return true;
  }
  return violate("unknown frame type " + f.type);
}

std::string error_code(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  auto* e = v.as_object().if_contains("error");
  if (!e || !e->is_object()) return {};
  auto* c = e->as_object().if_contains("code");
  return c && c->is_string() ? std::string(c->as_string()) : std::string();
}

}  // namespace yoi::reliability
