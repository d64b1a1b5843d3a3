// The embedded upstream: one worker's event stream out of an in-process
// rt::Runtime. Runtime::subscribe wakes a drain of read_after (kDrainBatch at
// a time, yielding to other work every kDrainPerTurn events); snapshots come
// from Runtime::snapshot. Protocol: StreamHandlers in source.hpp.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "upstream.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend::detail {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kDrainBatch = 256;
constexpr std::size_t kDrainPerTurn = 4096;  // then yield to other work

bool resyncable(Code c) {
  return c == Code::cursor_expired || c == Code::cursor_unknown || c == Code::cursor_invalid;
}

class EmbeddedUpstream final : public EventStream {
  struct State : std::enable_shared_from_this<State> {
    asio::io_context& io;
    rt::Runtime& rt;
    std::string wid;
    StreamHandlers h;
    bool active = false;
    unsigned gen = 0;
    rt::Subscription sub;
    std::string cursor;
    bool drain_posted = false;

    State(asio::io_context& i, rt::Runtime& r, std::string w) : io(i), rt(r), wid(std::move(w)) {}

    Result<StreamSnapshot> take_snapshot() const {
      auto snap = rt.snapshot(wid);
      if (!snap) return fail(snap.error());
      auto v = json::parse(rt::wire::snapshot_frame(*snap), 64u << 20);
      if (!v || !v->is_object()) return fail(Code::internal, "snapshot frame does not parse");
      StreamSnapshot s;
      s.epoch = snap->epoch;
      s.seq = snap->seq;
      s.frame = std::move(v->as_object());
      return s;
    }

    // false: the stream ended (a fatal diagnostic and `lost` were delivered).
    bool send_snapshot() {
      auto s = take_snapshot();
      if (!s) return end(s.error());
      cursor = rt::encode_cursor(s->epoch, rt::worker_tag(wid), s->seq);
      h.snapshot(std::move(*s));
      return active;
    }

    bool end(const Error& e) {
      auto lost = h.lost;
      unsigned g = gen;
      h.diagnostic(e, "fatal");
      if (g != gen) return false;
      active = false;
      sub.reset();
      if (lost) lost(e);
      return false;
    }

    void start(std::optional<Position> after, unsigned g) {
      if (!active || g != gen) return;
      h.connected();
      if (!active || g != gen) return;
      if (!after) {
        if (!send_snapshot()) return;
      } else {
        cursor = rt::encode_cursor(after->epoch, rt::worker_tag(wid), after->seq);
        auto s = rt.cursor_seq(wid, cursor);
        if (!s) {
          if (!resyncable(s.error().code)) return (void)end(s.error());
          h.diagnostic(s.error(), "resync");
          if (!active || g != gen || !send_snapshot()) return;
        }
      }
      auto weak = weak_from_this();
      auto sub_r = rt.subscribe(wid, [weak] {
        if (auto st = weak.lock()) st->schedule_drain();
      });
      if (!sub_r) return (void)end(sub_r.error());
      sub = std::move(*sub_r);
      drain(true);
    }

    void schedule_drain() {
      if (drain_posted || !active) return;
      drain_posted = true;
      asio::post(io, [weak = weak_from_this(), g = gen] {
        auto st = weak.lock();
        if (!st) return;
        st->drain_posted = false;
        if (st->active && st->gen == g) st->drain(false);
      });
    }

    // Delivers what the log has now, then tells the feed it is idle.
    void drain(bool first) {
      unsigned g = gen;
      drain_events(first);
      if (active && g == gen && h.idle) h.idle();
    }

    void drain_events(bool first) {
      unsigned g = gen;
      std::size_t sent = 0;
      std::uint64_t last = 0;
      while (active && g == gen) {
        auto page = rt.read_after(wid, cursor, kDrainBatch);
        if (!page) {
          if (resyncable(page.error().code)) {
            h.diagnostic(page.error(), "resync");
            if (!active || g != gen || !send_snapshot()) return;
            continue;
          }
          return (void)end(page.error());
        }
        last = page->last_seq;
        if (page->events.empty()) break;
        for (auto& e : page->events) {
          cursor = e.cursor;
          h.event(page->epoch, e.seq, e.json);
          if (!active || g != gen) return;
        }
        sent += page->events.size();
        if (sent >= kDrainPerTurn) return schedule_drain();
      }
      if (first && active && g == gen) {
        // Already stopped and drained: say so, like the runtime's own stream.
        auto d = rt.detail(wid);
        auto at = rt.cursor_seq(wid, cursor);
        if (d && d->record.status == rt::WorkerStatus::stopped && at && *at >= last)
          end(Error{Code::worker_stopped, fmt::format("worker '{}' is stopped", wid)});
      }
    }
  };

 public:
  EmbeddedUpstream(asio::io_context& io, rt::Runtime& rt, std::string wid)
      : st_(std::make_shared<State>(io, rt, std::move(wid))) {}
  ~EmbeddedUpstream() override { disconnect(); }

  void connect(std::optional<Position> after, StreamHandlers handlers) override {
    st_->h = std::move(handlers);
    st_->active = true;
    unsigned g = ++st_->gen;
    asio::post(st_->io, [st = st_, after = std::move(after), g] { st->start(after, g); });
  }
  void disconnect() override {
    st_->active = false;
    ++st_->gen;
    st_->sub.reset();
    // Handlers stay: disconnect() may run inside one of them.
  }
  void snapshot(std::function<void(Result<StreamSnapshot>)> done) override {
    asio::post(st_->io, [st = st_, done = std::move(done)] { done(st->take_snapshot()); });
  }

 private:
  std::shared_ptr<State> st_;
};

}  // namespace

std::unique_ptr<EventStream> make_embedded_upstream(asio::io_context& io, rt::Runtime& runtime, std::string worker_id) {
  return std::make_unique<EmbeddedUpstream>(io, runtime, std::move(worker_id));
}

}  // namespace yoi::backend::detail
