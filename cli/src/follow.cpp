#include "follow.hpp"

#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "yoi/json.hpp"

namespace yoi::cli {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kPage = 500;
constexpr milliseconds kPollInterval{300};

std::uint64_t uint_field(const bj::object& o, std::string_view key) {
  const auto* s = o.if_contains(key);
  if (s && s->is_uint64()) return s->as_uint64();
  if (s && s->is_int64() && s->as_int64() >= 0) return static_cast<std::uint64_t>(s->as_int64());
  return 0;
}
std::uint64_t seq_of(const bj::object& o) { return uint_field(o, "seq"); }

Frame make_frame(bj::object o) {
  Frame f;
  f.type = std::string(json::str_or_empty(o, "type"));
  f.raw = json::serialize(o);
  f.obj = std::move(o);
  return f;
}

Frame diagnostic(std::string_view code, std::string_view message, std::string_view action) {
  bj::object o;
  o["type"] = "diagnostic";
  o["code"] = code;
  o["message"] = message;
  o["action"] = action;
  return make_frame(std::move(o));
}

}  // namespace

std::optional<std::string> DiagnosticWords::text(const Frame& d) {
  auto code = json::str_or_empty(d.obj, "code");
  auto message = json::str_or_empty(d.obj, "message");
  auto action = json::str_or_empty(d.obj, "action");
  if (code == "runtime_unavailable") outage_ = true;
  if (code == "runtime_recovered") {
    if (!outage_) return std::nullopt;
    outage_ = false;
    return fmt::format("{}: {}; following again", code, message);
  }
  std::string_view words = action == "wait"     ? "; waiting for it to come back"
                           : action == "retry"  ? "; reconnecting"
                           : action == "resync" ? "; starting again from the current state"
                                                : "";
  return fmt::format("{}: {}{}", code, message, words);
}

Follower::Follower(Api& api, WorkerRef ref, std::function<void(const std::string&)> note)
    : api_(api),
      ref_(std::move(ref)),
      note_(std::move(note)),
      backoff_(BackoffPolicy{milliseconds(200), milliseconds(5000)}, Random::system()) {}

Follower::~Follower() {
  if (ws_) ws_->close();
}

bool Follower::accept(Frame& f) {
  if (f.type == "snapshot") {
    cursor_ = std::string(json::str_or_empty(f.obj, "cursor"));
    last_seq_ = seq_of(f.obj);
    return true;
  }
  if (f.type == "event") {
    auto seq = seq_of(f.obj);
    if (last_seq_ && seq <= *last_seq_) return false;  // a re-delivery after a reconnect
    cursor_ = std::string(json::str_or_empty(f.obj, "cursor"));
    last_seq_ = seq;
    return true;
  }
  if (f.type == "heartbeat") {
    auto seq = seq_of(f.obj);
    if (!last_seq_ || seq == *last_seq_) {
      cursor_ = std::string(json::str_or_empty(f.obj, "cursor"));
      last_seq_ = seq;
    }
    return true;
  }
  if (f.type == "diagnostic") {
    auto action = json::str_or_empty(f.obj, "action");
    if (action == "fatal") {
      finished_ = true;
      if (ws_) ws_->close();
      ws_.reset();
    } else if (action == "retry") {
      schedule_reconnect(fmt::format("{}", json::str_or_empty(f.obj, "code")));
    }
    return true;
  }
  return true;  // unknown frame types pass through; callers ignore them
}

void Follower::requeue(std::vector<Frame> frames) {
  pending_.insert(pending_.begin(), std::make_move_iterator(frames.begin()), std::make_move_iterator(frames.end()));
}

void Follower::schedule_reconnect(std::string why) {
  if (ws_) ws_->close(milliseconds(100));
  ws_.reset();
  reconnecting_ = true;
  auto delay = backoff_.next();
  retry_at_ = clock::now() + delay;
  note_(fmt::format("stream interrupted ({}); reconnecting in {:.1f}s", why, delay.count() / 1000.0));
}

CliResult<Follower::Open> Follower::open_ws() {
  std::string target = worker_path(ref_) + "/events/ws";
  if (cursor_ && !cursor_->empty()) target += "?cursor=" + query_escape(*cursor_);
  auto& http = api_.http();
  auto ws = WsConnection::open(http.endpoint(), http.token(), target, http.timeout());
  if (ws) {
    ws_ = std::move(*ws);
    if (reconnecting_) note_("stream resumed");
    reconnecting_ = false;
    ever_connected_ = true;
    backoff_.reset();
    return Open::ok;
  }
  const auto& f = ws.error();
  if (f.status == 0) {
    if (!ever_connected_) return tl::unexpected(transport_error(f.transport, http.endpoint()));
    schedule_reconnect(f.transport.what);
    return Open::retry;
  }
  auto err = reply_error(f.status, f.body);
  if (err.code == "not_found" || err.code == "method_not_allowed") return Open::fallback;
  if (f.status >= 500) {
    if (!ever_connected_ && err.code != "shutting_down") return tl::unexpected(err);
    schedule_reconnect(err.code);
    return Open::retry;
  }
  return tl::unexpected(err);
}

// Reads REST event pages after cursor_ until caught up; queues them as event
// frames when `emit`, else only moves the position.
CliResult<void> Follower::catch_up(bool emit) {
  for (int pages = 0; pages < 100000; ++pages) {
    std::string target = fmt::format("{}/events?limit={}", worker_path(ref_), kPage);
    if (cursor_ && !cursor_->empty()) target += "&after=" + query_escape(*cursor_);
    auto page = api_.get(target);
    if (!page) return tl::unexpected(page.error());
    if (!page->is_object()) return cli_fail(kExitConnection, "bad_response", "an events page is not an object");
    const auto& o = page->as_object();
    const auto* evs = o.if_contains("events");
    std::size_t n = 0;
    std::uint64_t seen = 0;
    if (evs && evs->is_array()) {
      for (const auto& e : evs->as_array()) {
        if (!e.is_object()) continue;
        ++n;
        bj::object fo;
        fo["type"] = "event";
        fo["cursor"] = e.as_object().contains("cursor") ? e.as_object().at("cursor") : bj::value("");
        fo["seq"] = seq_of(e.as_object());
        seen = seq_of(e.as_object());
        fo["runtime_id"] = ref_.runtime_id;
        fo["worker_id"] = ref_.worker_id;
        fo["event"] = e.as_object().contains("event") ? e.as_object().at("event") : bj::object{};
        Frame f = make_frame(std::move(fo));
        if (emit) {
          if (accept(f)) pending_.push_back(std::move(f));
        } else {
          cursor_ = std::string(json::str_or_empty(f.obj, "cursor"));
          last_seq_ = seq_of(f.obj);
        }
      }
    }
    if (auto c = json::str_or_empty(o, "cursor"); !c.empty()) cursor_ = std::string(c);
    auto last = uint_field(o, "last_seq");
    if (!last_seq_ && n == 0) last_seq_ = last;
    if (n == 0 || seen >= last) return {};
  }
  return {};
}

// The WebSocket ends a stopped worker's stream with a fatal diagnostic;
// polling says the same after the worker_stopped event.
void Follower::end_if_stopped(std::size_t from) {
  for (std::size_t i = from; i < pending_.size(); ++i) {
    const auto* ev = pending_[i].obj.if_contains("event");
    if (ev && ev->is_object() && json::str_or_empty(ev->as_object(), "type") == "worker_stopped") {
      auto d = diagnostic("worker_stopped", "the worker is stopped", "fatal");
      accept(d);
      pending_.push_back(std::move(d));
      return;
    }
  }
}

CliResult<void> Follower::poll_once() {
  std::size_t before = pending_.size();
  auto r = catch_up(true);
  if (r) {
    end_if_stopped(before);
    backoff_.reset();
    // Full pages mean more is waiting: fetch it at once.
    next_poll_ = pending_.size() - before >= kPage ? clock::now() : clock::now() + kPollInterval;
    return {};
  }
  const auto& e = r.error();
  if (e.exit_code == kExitConnection) {
    auto delay = backoff_.next();
    next_poll_ = clock::now() + delay;
    note_(fmt::format("stream interrupted ({}: {}); reconnecting in {:.1f}s", e.code, e.message,
                      delay.count() / 1000.0));
    return {};
  }
  if (e.code == "cursor_expired" || e.code == "cursor_unknown" || e.code == "cursor_invalid") {
    auto d = diagnostic(e.code, e.message, "resync");
    pending_.push_back(std::move(d));
    cursor_.reset();
    last_seq_.reset();
    if (auto c = catch_up(false); !c) return c;
    auto detail = api_.get(worker_path(ref_));
    if (!detail) return tl::unexpected(detail.error());
    bj::object s;
    s["type"] = "snapshot";
    s["cursor"] = cursor_.value_or("");
    s["seq"] = last_seq_.value_or(0);
    s["runtime_id"] = ref_.runtime_id;
    s["worker_id"] = ref_.worker_id;
    s["worker"] = *detail;
    s["transcript_tail"] = bj::array{};
    s["in_flight"] = nullptr;
    Frame f = make_frame(std::move(s));
    accept(f);
    pending_.push_back(std::move(f));
    return {};
  }
  auto d = diagnostic(e.code, e.message, "fatal");
  accept(d);
  pending_.push_back(std::move(d));
  return {};
}

CliResult<void> Follower::start(std::optional<std::string> cursor, bool from_start) {
  cursor_ = std::move(cursor);
  if (from_start) {
    if (auto r = catch_up(true); !r) return r;
    ever_connected_ = true;
  }
  auto o = open_ws();
  if (!o) return tl::unexpected(o.error());
  if (*o == Open::fallback) {
    polling_ = true;
    note_("the server has no event WebSocket; polling");
    end_if_stopped(0);
    if (!cursor_) {
      if (auto c = catch_up(false); !c) return c;
      auto detail = api_.get(worker_path(ref_));
      if (!detail) return tl::unexpected(detail.error());
      bj::object s;
      s["type"] = "snapshot";
      s["cursor"] = cursor_.value_or("");
      s["seq"] = last_seq_.value_or(0);
      s["runtime_id"] = ref_.runtime_id;
      s["worker_id"] = ref_.worker_id;
      s["worker"] = *detail;
      s["transcript_tail"] = bj::array{};
      s["in_flight"] = nullptr;
      Frame f = make_frame(std::move(s));
      accept(f);
      pending_.push_back(std::move(f));
    }
    ever_connected_ = true;
  }
  return {};
}

clock::time_point Follower::due() const {
  auto now = clock::now();
  if (!pending_.empty()) return now;
  if (finished_) return now + std::chrono::hours(1);
  if (polling_) return next_poll_;
  if (!ws_) return retry_at_;
  return now + milliseconds(500);  // the WebSocket's pings and idle timer
}

CliResult<std::optional<Frame>> Follower::next(milliseconds wait) {
  auto deadline = clock::now() + wait;
  auto remaining = [&] {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - clock::now()));
  };
  for (;;) {
    if (!pending_.empty()) {
      Frame f = std::move(pending_.front());
      pending_.pop_front();
      return f;
    }
    if (finished_) return std::optional<Frame>{};
    auto now = clock::now();
    if (polling_) {
      if (now >= next_poll_) {
        if (auto r = poll_once(); !r) return tl::unexpected(r.error());
        if (!pending_.empty()) continue;
      }
      auto until = std::min(deadline, next_poll_);
      if (until > clock::now()) std::this_thread::sleep_until(until);
    } else if (!ws_) {
      if (now >= retry_at_) {
        auto o = open_ws();
        if (!o) return tl::unexpected(o.error());
        if (*o == Open::fallback) {
          polling_ = true;
          next_poll_ = clock::now();
          note_("the server has no event WebSocket; polling");
        }
        continue;
      }
      auto until = std::min(deadline, retry_at_);
      if (until > clock::now()) std::this_thread::sleep_until(until);
    } else {
      std::string msg;
      switch (ws_->next(msg, remaining())) {
        case WsConnection::Next::message: {
          auto v = json::parse(msg, 16u << 20);
          if (!v || !v->is_object()) {
            note_("ignored a frame that is not a JSON object");
            continue;
          }
          Frame f;
          f.obj = std::move(v->as_object());
          f.type = std::string(json::str_or_empty(f.obj, "type"));
          f.raw = std::move(msg);
          if (accept(f)) return std::optional<Frame>(std::move(f));
          continue;
        }
        case WsConnection::Next::closed:
          schedule_reconnect(ws_->close_reason());
          continue;
        case WsConnection::Next::timeout:
          break;
      }
    }
    if (clock::now() >= deadline) return std::optional<Frame>{};
  }
}

}  // namespace yoi::cli
