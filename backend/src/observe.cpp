// The observation proxy: feeds (one upstream per watched worker, a bounded
// ring), clients (a position each, pulled by the net layer's writer) and the
// WebSocket route. Design note: backend/OBSERVE.md.
#include "yoi/backend/observe.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "relabel.hpp"
#include "upstream_error.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend {

namespace asio = boost::asio;
namespace bj = boost::json;

namespace {

struct RingEvent {
  std::uint64_t seq = 0;
  // The event's whole frame, built (and its cursor MAC'd) once for every
  // client: as it arrives when its head was written ahead
  // (Feed::prepare_next_frame), else when a client first reads it
  // (Feed::framed), so a burst no client reads from the ring (they are
  // behind it, catching up by pages) costs no MAC. Until then the event
  // alone, with room for the head. nullopt: withheld by the policy.
  std::optional<std::string> json;
  bool framed = false;
  bool stop = false;  // a worker_stopped event
};

}  // namespace

struct Client;

struct Feed : std::enable_shared_from_this<Feed> {
  std::weak_ptr<ObservationHub::Impl> hub;
  ObservationHub::Impl* hub_raw;
  std::string rid, wid;
  std::unique_ptr<EventStream> up;  // from the source (Source::event_stream)

  bool have_epoch = false;
  std::string epoch;
  std::uint64_t head = 0;  // newest seq received
  std::deque<RingEvent> ring;
  std::size_t ring_bytes = 0;
  std::optional<StreamSnapshot> base;  // newest snapshot seen
  std::string base_frame;          // base, as the backend sends it
  // One-shot snapshots asked for so far, and the number of the one base is
  // at least as new as: base was taken after every request up to it.
  std::uint64_t snapshots_asked = 0;
  std::uint64_t base_asked = 0;

  bool connected = false;
  bool down = false;
  std::uint64_t down_gen = 0;
  std::optional<Error> fatal;
  bool stopped = false;
  std::uint64_t stop_seq = 0;
  bool snapshot_inflight = false;
  bool snapshot_retry_wait = false;  // a one-shot failed: ask again after a pause

  Backoff backoff;
  bool delivered = false;  // the connection has delivered a snapshot or events
  std::chrono::steady_clock::time_point connected_at;
  asio::steady_timer retry;
  asio::steady_timer grace;
  asio::steady_timer snapshot_retry;
  std::set<Client*> clients;
  bool closed = false;
  // The cursors of this feed's current epoch (CursorCodec::Minter): made
  // again when the epoch changes.
  std::optional<CursorCodec::Minter> minter;
  // on_event's buffers, reused from event to event (no allocation per event
  // but the frame the ring keeps): the event as the policy sees it, and its
  // cursor.
  std::string event_buf;
  std::string cursor_buf;
  std::string head_buf;  // framed()'s
  // The next event's frame up to its event JSON (wire::append_event_frame_head),
  // written once a burst is out (prepare_next_frame) for seq `next_frame_seq`
  // (0: none) by the current minter: the cursor's MAC and the ids' escaping
  // are then done while the relay waits, not after the event arrives.
  std::string next_frame;
  std::uint64_t next_frame_seq = 0;
  std::size_t last_event_size = 0;
  // Bytes reserved for a frame's head (its ids and cursor) and closing brace.
  static constexpr std::size_t kHeadRoom = 192;

  Feed(asio::io_context& io, std::shared_ptr<ObservationHub::Impl> h, std::string r, std::string w,
       const ObserveOptions& o)
      : hub(h), hub_raw(h.get()), rid(std::move(r)), wid(std::move(w)), backoff(o.backoff, *o.random),
        retry(io), grace(io), snapshot_retry(io) {}

  void start();
  void connect();
  void on_lost(const Error& e);
  void on_delivery();
  void on_snapshot(StreamSnapshot s);
  void on_event(std::string_view ep, std::uint64_t seq, std::string_view json);
  void wake_all();
  void trim_ring(std::size_t max_events);
  void write_frame_head(std::string& out, std::uint64_t seq);
  void prepare_next_frame();
  // How far past ring_events the ring may grow within a burst, before
  // wake_all() trims it back.
  static constexpr std::size_t kRingSlack = 4096;
  // Clients stream up to here; events past it wait for the upstream's
  // idle() (StreamHandlers::idle) and then leave together, one write per burst.
  std::uint64_t published = 0;
  void request_snapshot();
  void set_base(StreamSnapshot s);
  // Whether base may be handed to a client that began waiting for a
  // snapshot when the head was `want_seq` and `asked` one-shots had been
  // asked for: it must be as of that moment or later (ARCHITECTURE §5: the
  // worker's state at the newest event the hub knew), so at or past that
  // head, or taken after the client arrived. The ring must also reach back
  // to it, so that the client then streams from the ring.
  bool base_serves(std::uint64_t want_seq, std::uint64_t asked) const {
    if (!base || !have_epoch || base->epoch != epoch) return false;
    if (base->seq < want_seq && base_asked <= asked) return false;
    if (ring.empty()) return base->seq >= head;
    return base->seq + 1 >= ring.front().seq;
  }
  RingEvent* at(std::uint64_t seq) {
    if (ring.empty() || seq < ring.front().seq || seq > ring.back().seq) return nullptr;
    return &ring[seq - ring.front().seq];
  }
  const std::string& framed(RingEvent& r);
  void shutdown() {
    closed = true;
    if (up) up->disconnect();
    retry.cancel();
    grace.cancel();
    snapshot_retry.cancel();
  }
};

struct ObservationHub::Impl : std::enable_shared_from_this<ObservationHub::Impl> {
  asio::io_context& io;
  RuntimeRegistry& registry;
  const CursorCodec& cursors;
  ObserveOptions opts;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Feed>> feeds;
  std::map<Client*, std::weak_ptr<Client>> clients;
  ObserveStats st;
  bool closed = false;

  Impl(asio::io_context& i, RuntimeRegistry& r, const CursorCodec& c, ObserveOptions o)
      : io(i), registry(r), cursors(c), opts(std::move(o)) {}

  // The feed of a worker of `source` (rid's source in the registry).
  std::shared_ptr<Feed> feed_for(Source& source, const std::string& rid, const std::string& wid) {
    auto key = std::make_pair(rid, wid);
    if (auto it = feeds.find(key); it != feeds.end()) return it->second;
    auto f = std::make_shared<Feed>(io, shared_from_this(), rid, wid, opts);
    StreamOptions so{opts.connect_timeout, opts.upstream_idle_timeout, opts.max_upstream_frame};
    f->up = source.event_stream(wid, so);
    feeds.emplace(key, f);
    f->start();
    return f;
  }

  void drop_feed(Feed* f) {
    f->shutdown();
    feeds.erase(std::make_pair(f->rid, f->wid));
  }

  void open_client(std::string rid, std::string wid, std::optional<std::string> cursor,
                   std::shared_ptr<net::WsStream> stream);
};

// One WebSocket client. The writer pulls next(); this holds a position, at
// most a few control frames (`pending`) and at most one catch-up page.
//
// Phase: what next() does once `pending` is out.
//   resolving      the client came with a valid cursor (`start`); waits for
//                  the feed's epoch. The same epoch → streaming at `start`;
//                  another → resync.
//   need_snapshot  sends the feed's base snapshot when it is as of this
//                  client's arrival (Feed::base_serves) → streaming at its
//                  position; else asks the feed for a one-shot and waits
//                  (woken when it lands, or a second after it failed).
//   streaming      at (epoch, seq); the next event per Catchup below. A new
//                  epoch on the feed → resync; a stopped worker whose final
//                  event was sent → closing (worker_stopped).
//   closing        `pending` ends with a diagnostic; then close with
//                  close_code → finished.
//   finished       closed (by us or the peer): nothing more.
// resync(): a diagnostic (action resync), then need_snapshot (closing and
// finished stay). close_with(): from any phase but finished → closing.
// Before the phase is looked at, a fatal feed → closing, and the upstream's
// availability is told once per change (runtime_unavailable,
// runtime_recovered; `told_down`).
//
// Catchup, while streaming: where the next event comes from.
//   none        the ring, by seq + 1. Behind the ring (or ahead of the
//               head, once: `probed_ahead`), unless the upstream is down:
//               start_catchup() → in_flight. Every page asked (ask())
//               checks the lag rule first: a client that has not gained on
//               the head for lag_timeout → closing (subscriber_lagged); a
//               burst faster than the client is fine: it gains once the
//               burst is over.
//   in_flight   a page of the polling route is on its way; heartbeats.
//               take_page() → draining (events), none (an empty page), or
//               retry_wait (the runtime is down) or a resync / closing.
//   draining    the page's events, one per pull (those at or before the
//               client's seq skipped). A full page of at most ring_bytes
//               that the ring does not continue asks for the next one at
//               once (`asked`), so the runtime's round trip overlaps the
//               client's writes. After the last event: that page if it
//               landed (`landed`), else in_flight while it is on its way,
//               else none.
//   retry_wait  heartbeats until a timer (1 s) → none.
// One page at most is on its way per client, and one more held: a client
// behind the ring costs two pages (the first at most ring_bytes). A resync
// drops the page being drained and the one held; a page on its way runs its
// course and is dropped when it lands (`asked_stale`); so does a retry wait.
struct Client : std::enable_shared_from_this<Client> {
  enum class Phase { resolving, need_snapshot, streaming, closing, finished };
  enum class Catchup { none, in_flight, draining, retry_wait };

  // One step of next(): a frame, nothing for now (`frame` empty), or look
  // again because the state changed. A frame of the ring is handed out in
  // place (`ring_frame`): the writer copies it before the ring can change.
  struct Pull {
    std::optional<std::string> frame;
    bool again = false;
    const std::string* ring_frame = nullptr;
  };
  static Pull again() { return Pull{std::nullopt, true}; }
  static Pull from_ring_entry(const std::string& f) { return Pull{std::nullopt, false, &f}; }

  std::weak_ptr<ObservationHub::Impl> hub;
  ObservationHub::Impl* h;
  std::shared_ptr<Feed> feed;
  std::weak_ptr<net::WsStream> stream;
  std::string rid, wid;
  Phase phase = Phase::need_snapshot;
  Catchup catchup = Catchup::none;
  Position start;  // resolving: the client's decoded cursor
  std::string epoch;
  std::uint64_t seq = 0;
  std::deque<std::string> pending;  // control frames (a few at most)
  std::string out_;                 // the frame next() handed out, if built
  std::uint16_t close_code = 1000;
  std::uint64_t down_seen = 0;  // the feed's down_gen last looked at
  bool told_down = false;       // runtime_unavailable sent, runtime_recovered not yet
  bool probed_ahead = false;    // asked the polling route while ahead of the head
  std::vector<SourceEvent> batch;  // draining: the catch-up page
  std::size_t batch_pos = 0;
  bool asked = false;        // a catch-up page is on its way
  bool asked_stale = false;  // ... asked before a resync: dropped when it lands
  std::optional<Result<SourceEventPage>> landed;  // the next page, landed while draining
  // Catch-up frames: their cursors minted for (rid, wid, epoch) once.
  std::optional<CursorCodec::Minter> minter;
  std::string cursor_buf;
  // The lag rule, while behind the ring (ask): the largest gap to the head
  // since the client last gained, and when that was.
  bool behind = false;
  std::uint64_t peak_gap = 0;
  std::chrono::steady_clock::time_point gained_at;
  std::optional<asio::steady_timer> retry_timer;

  // need_snapshot: the feed's head and one-shot count when the wait began
  // (Feed::base_serves).
  std::uint64_t want_seq = 0;
  std::uint64_t asked_before = 0;

  Client(std::shared_ptr<ObservationHub::Impl> hb, std::shared_ptr<Feed> f, std::string r, std::string w)
      : hub(hb), h(hb.get()), feed(std::move(f)), rid(std::move(r)), wid(std::move(w)) {
    mark_snapshot_wait();
  }

  void mark_snapshot_wait() {
    want_seq = feed->head;
    asked_before = feed->snapshots_asked;
  }

  void wake() {
    if (auto s = stream.lock()) s->wake();
  }

  std::string cursor() const { return h->cursors.encode(rid, wid, Position{epoch, seq}); }

  static std::string unavailable_frame() {
    return rt::wire::diagnostic_frame(Code::runtime_unavailable,
                                      "the runtime is unavailable; the stream resumes when it returns", "wait");
  }
  static std::string recovered_frame() {
    return rt::wire::diagnostic_frame(Code::runtime_recovered, "the runtime is available again", "wait");
  }

  void close_with(Code code, std::string_view message, std::string_view action, std::uint16_t cc) {
    if (phase == Phase::finished) return;
    pending.clear();
    pending.push_back(rt::wire::diagnostic_frame(code, message, action));
    phase = Phase::closing;
    close_code = cc;
  }

  void resync(Code code, std::string_view message) {
    pending.push_back(rt::wire::diagnostic_frame(code, message, "resync"));
    if (phase != Phase::closing && phase != Phase::finished) {
      phase = Phase::need_snapshot;
      mark_snapshot_wait();
    }
    if (catchup == Catchup::draining) catchup = Catchup::none;
    batch.clear();
    batch_pos = 0;
    landed.reset();
    asked_stale = asked;
    behind = false;
  }

  // A catch-up event's frame (the ring holds its events' frames ready).
  std::string event_frame(std::uint64_t s, const std::string& json) {
    seq = s;
    if (!minter || minter->epoch() != epoch) minter = h->cursors.minter(rid, wid, epoch);
    cursor_buf.clear();
    minter->append_to(cursor_buf, s);
    return rt::wire::event_frame(rid, wid, s, json, cursor_buf);
  }

  // Nothing to send now; on an idle socket, a heartbeat.
  Pull beat(bool idle) const { return Pull{idle ? heartbeat() : std::nullopt}; }

  std::optional<std::string> heartbeat() const {
    if (phase != Phase::streaming) return std::nullopt;
    return rt::wire::heartbeat_frame(cursor(), seq);
  }

  // The next frame for the writer (WsStream::Source): valid until the next
  // call (built frames are kept in `out_`).
  std::optional<std::string_view> next(bool idle) {
    for (int guard = 0; guard < 100'000; ++guard) {
      Pull p = step(idle);
      if (p.again) continue;
      if (p.ring_frame) return std::string_view(*p.ring_frame);
      if (!p.frame) return std::nullopt;
      out_ = std::move(*p.frame);
      return std::string_view(out_);
    }
    return std::nullopt;
  }

  Pull step(bool idle) {
    if (phase == Phase::finished) return {};
    if (!pending.empty()) {
      auto f = std::move(pending.front());
      pending.pop_front();
      return {std::move(f)};
    }
    if (phase == Phase::closing) {
      phase = Phase::finished;
      if (auto s = stream.lock()) s->close(close_code, "");
      return {};
    }
    if (feed->fatal) {
      close_with(feed->fatal->code, feed->fatal->message, "fatal", 1000);
      return again();
    }
    if (auto told = availability_change()) return {std::move(told)};
    switch (phase) {
      case Phase::resolving: return resolve();
      case Phase::need_snapshot: return snapshot();
      case Phase::streaming: return streaming(idle);
      case Phase::closing:
      case Phase::finished: break;
    }
    return {};
  }

  // runtime_unavailable once per outage of the upstream, runtime_recovered
  // once it is back.
  std::optional<std::string> availability_change() {
    auto& f = *feed;
    if (f.down && down_seen != f.down_gen) {
      down_seen = f.down_gen;
      if (!told_down) {
        told_down = true;
        return unavailable_frame();
      }
    }
    if (!f.down && told_down && f.connected) {
      told_down = false;
      return recovered_frame();
    }
    return std::nullopt;
  }

  Pull resolve() {
    if (!feed->have_epoch) return {};
    if (start.epoch != feed->epoch) {
      resync(Code::cursor_unknown, "the cursor belongs to another history of this worker");
      return again();
    }
    epoch = start.epoch;
    seq = start.seq;
    phase = Phase::streaming;
    return again();
  }

  Pull snapshot() {
    auto& f = *feed;
    if (!f.base_serves(want_seq, asked_before)) {
      f.request_snapshot();
      return {};
    }
    epoch = f.base->epoch;
    seq = f.base->seq;
    phase = Phase::streaming;
    behind = false;
    return {f.base_frame};
  }

  Pull streaming(bool idle) {
    if (feed->have_epoch && epoch != feed->epoch) {
      resync(Code::cursor_unknown, "the runtime restarted with a new history; resynchronising");
      return again();
    }
    switch (catchup) {
      case Catchup::draining: {
        auto e = std::move(batch[batch_pos++]);
        std::optional<std::string> frame;
        if (e.seq > seq) frame = event_frame(e.seq, e.json);  // else a page asked before a resync
        if (batch_pos >= batch.size()) drained();
        if (!frame) return again();
        return {std::move(frame)};
      }
      case Catchup::in_flight:
      case Catchup::retry_wait: return beat(idle);
      case Catchup::none: break;
    }
    return from_ring(idle);
  }

  Pull from_ring(bool idle) {
    auto& f = *feed;
    if (seq >= f.published && seq < f.head) return beat(idle);  // not announced yet
    if (seq >= f.head && f.stopped && seq >= f.stop_seq) {
      close_with(Code::worker_stopped, fmt::format("worker '{}' is stopped", wid), "fatal", 1000);
      return again();
    }
    if (seq == f.head) {
      behind = false;
      return beat(idle);
    }
    if (seq > f.head) {
      if (probed_ahead || f.down) return beat(idle);
      probed_ahead = true;
      start_catchup();
      return again();
    }
    if (RingEvent* r = f.at(seq + 1)) {
      behind = false;
      seq = r->seq;
      if (!r->json) return again();  // withheld: advance silently
      return from_ring_entry(f.framed(*r));
    }
    // Behind the ring: a page from the polling route.
    if (f.down) return beat(idle);
    start_catchup();
    return again();
  }

  void start_catchup() {
    // Already asked: a page from before a resync lands first.
    if (asked || ask(seq)) catchup = Catchup::in_flight;
  }

  // Asks for the page after `after`; false (closing) when the client cannot
  // keep up. A client gains when its gap to the head falls an eighth (and
  // at least a page) below the largest it reached since it last gained: a
  // burst faster than the client is followed by gains, a client slower than
  // the worker never gains, and one page sent early is not a gain (the
  // writer's pulls come in bursts as the socket drains).
  bool ask(std::uint64_t after) {
    const auto gap = feed->head > seq ? feed->head - seq : 0;
    const auto now = h->opts.clock->steady_now();
    const auto gain = std::max<std::uint64_t>(h->opts.catchup_page, peak_gap / 8);
    if (!behind || peak_gap >= gap + gain) {
      behind = true;
      peak_gap = gap;
      gained_at = now;
    }
    peak_gap = std::max(peak_gap, gap);
    if (now - gained_at >= h->opts.lag_timeout) {
      ++h->st.lagged;
      close_with(Code::subscriber_lagged, "this client cannot keep up; reconnect with its last cursor", "retry",
                 1008);
      return false;
    }
    asked = true;
    asked_stale = false;
    ++h->st.catchup_pages;
    std::weak_ptr<Client> weak = weak_from_this();
    h->registry.events(rid, wid, Position{epoch, after}, h->opts.catchup_page,
                       [weak](Result<SourceEventPage> page) {
                         if (auto c = weak.lock()) c->page_landed(std::move(page));
                       });
    return true;
  }

  void page_landed(Result<SourceEventPage> page) {
    asked = false;
    if (asked_stale) {
      asked_stale = false;
      if (catchup == Catchup::in_flight) catchup = Catchup::none;
      return wake();
    }
    if (catchup == Catchup::draining) {
      landed = std::move(page);
      return;
    }
    take_page(std::move(page));
    wake();
  }

  // The last event of the page is out: the next page, if it landed or is
  // on its way.
  void drained() {
    batch.clear();
    batch_pos = 0;
    catchup = asked ? Catchup::in_flight : Catchup::none;
    if (landed) {
      auto page = std::move(*landed);
      landed.reset();
      take_page(std::move(page));
    }
  }

  void take_page(Result<SourceEventPage> page) {
    catchup = Catchup::none;
    if (phase == Phase::finished) return;
    if (!page) {
      auto c = page.error().code;
      if (c == Code::cursor_expired || c == Code::cursor_unknown) {
        resync(c, page.error().message);
      } else if (upstream::runtime_down(c)) {
        // The runtime is unreachable through the polling route too: wait
        // (the upstream reconnects and wakes everyone), retry in a second.
        if (!told_down) {
          told_down = true;
          pending.push_back(unavailable_frame());
        }
        retry_later();
      } else {
        close_with(c, page.error().message, "fatal", 1011);
      }
      return;
    }
    if (page->epoch != epoch) {
      resync(Code::cursor_unknown, "the runtime restarted with a new history; resynchronising");
      return;
    }
    if (told_down && !feed->down) {
      told_down = false;
      pending.push_back(recovered_frame());
    }
    if (!page->events.empty()) probed_ahead = false;
    batch = std::move(page->events);
    batch_pos = 0;
    if (batch.empty()) {
      seq = std::max(seq, page->position);
      return;
    }
    catchup = Catchup::draining;
    // The next page ahead, when this one is full, the ring does not continue
    // it, and it holds no more bytes than the ring may (pages are bounded by
    // count: a page of big events amortises the round trip by itself, and
    // is not doubled).
    const auto next = page->position;
    if (batch.size() < h->opts.catchup_page || next >= page->last_seq || feed->at(next + 1)) return;
    std::size_t bytes = 0;
    for (const auto& e : batch) bytes += e.json.size();
    if (bytes <= h->opts.ring_bytes) ask(next);
  }

  void retry_later() {
    if (!retry_timer) retry_timer.emplace(h->io);
    catchup = Catchup::retry_wait;
    retry_timer->expires_after(std::chrono::seconds(1));
    retry_timer->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto c = weak.lock()) {
        if (c->catchup == Catchup::retry_wait) c->catchup = Catchup::none;
        c->wake();
      }
    });
  }

  void client_sent_data() {
    if (phase == Phase::closing || phase == Phase::finished) return;
    close_with(Code::observation_only, "this stream is observation-only; the client must not send data", "fatal",
               1008);
    wake();
  }

  void closed() {
    phase = Phase::finished;
    if (retry_timer) retry_timer->cancel();
    feed->clients.erase(this);
    auto hb = hub.lock();
    if (!hb) return;
    hb->clients.erase(this);
    hb->st.clients = hb->clients.size();
    if (feed->clients.empty() && !feed->closed) {
      feed->grace.expires_after(hb->opts.grace);
      feed->grace.async_wait([wf = std::weak_ptr<Feed>(feed), weak_hub = hub](boost::system::error_code ec) {
        if (ec) return;
        auto f = wf.lock();
        auto hb2 = weak_hub.lock();
        if (f && hb2 && f->clients.empty() && !f->closed) hb2->drop_feed(f.get());
        if (hb2) hb2->st.feeds = hb2->feeds.size();
      });
    }
  }
};

// ---------------------------------------------------------------- feed

void Feed::start() { connect(); }

void Feed::connect() {
  if (closed) return;
  std::optional<Position> after;
  if (have_epoch) after = Position{epoch, head};
  // The handlers hold the feed by pointer: it owns `up`, which runs no
  // handler after disconnect() (shutdown()) or its destruction, and the hub
  // never drops a feed from inside one (issue 22: a weak pointer's lock per
  // event was an atomic on a cold line).
  StreamHandlers hs;
  hs.connected = [f = this] {
    if (f->closed) return;
    f->connected = true;
    f->delivered = false;
    f->connected_at = f->hub_raw->opts.clock->steady_now();
    if (auto hb = f->hub.lock()) ++hb->st.upstream_connects;
    if (f->down) {
      f->down = false;
      f->wake_all();
    }
  };
  hs.snapshot = [f = this](StreamSnapshot s) {
    if (f->closed) return;
    f->on_delivery();
    f->on_snapshot(std::move(s));
  };
  hs.event = [f = this](std::string_view ep, std::uint64_t seq, std::string_view json) {
    if (!f->closed) f->on_event(ep, seq, json);
  };
  hs.idle = [f = this] {
    if (f->closed || f->published == f->head) return;
    f->on_delivery();  // events came
    f->wake_all();
  };
  hs.diagnostic = [f = this](Error e, std::string action) {
    if (f->closed) return;
    if (action == "resync") return;  // a snapshot follows
    if (e.code == Code::worker_stopped) {
      f->stopped = true;
      f->stop_seq = f->head;
    } else if (action == "fatal" && !upstream::runtime_down(e.code)) {
      f->fatal = e;
    }
    f->wake_all();
  };
  hs.lost = [f = this](Error e) {
    if (!f->closed) f->on_lost(e);
  };
  up->connect(std::move(after), std::move(hs));
}

// The backoff starts again once a connection has delivered something (a
// snapshot, events) or lived as long as the longest backoff (an idle
// worker's), not at the handshake: a runtime that accepts the upstream and
// then sends what cannot be read (a frame over max_upstream_frame) is
// retried ever more slowly, not every 100 ms.
void Feed::on_delivery() {
  if (delivered) return;
  delivered = true;
  backoff.reset();
}

void Feed::on_lost(const Error& e) {
  const auto lived = hub_raw->opts.clock->steady_now() - connected_at;
  if (connected && lived >= hub_raw->opts.backoff.max) backoff.reset();
  connected = false;
  if (fatal || stopped) return;  // nothing more will come: no reconnect
  if (!down) {
    down = true;
    ++down_gen;
    spdlog::info("observe: upstream of {}/{} lost ({}); reconnecting", rid, wid, code_name(e.code));
    wake_all();
  }
  auto hb = hub.lock();
  if (!hb) return;
  auto delay = backoff.next();
  retry.expires_after(delay);
  retry.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto f = weak.lock(); f && !f->closed) f->connect();
  });
}

void Feed::on_snapshot(StreamSnapshot s) {
  bool new_history = !have_epoch || s.epoch != epoch;
  if (new_history || s.seq != head) {
    ring.clear();
    ring_bytes = 0;
  }
  if (new_history) {
    stopped = false;
    fatal.reset();
  }
  have_epoch = true;
  epoch = s.epoch;
  head = s.seq;
  set_base(std::move(s));
  base_asked = snapshots_asked;  // as new as the head: serves everyone waiting
  wake_all();
}

void Feed::set_base(StreamSnapshot s) {
  s.frame["runtime_id"] = rid;
  if (auto* w = s.frame.if_contains("worker"); w && w->is_object()) w->as_object()["runtime_id"] = rid;
  s.frame["cursor"] = hub_raw->cursors.encode(rid, wid, Position{s.epoch, s.seq});
  base_frame = json::serialize(s.frame);
  if (auto* w = s.frame.if_contains("worker"); w && w->is_object())
    if (json::str_or_empty(w->as_object(), "status") == "stopped" && !stopped) {
      stopped = true;
      stop_seq = s.seq;
    }
  base = std::move(s);
}

void Feed::on_event(std::string_view ep, std::uint64_t seq, std::string_view json) {
  if (!have_epoch || ep != epoch) return;  // a snapshot announces a new history first
  if (seq <= head) return;                  // duplicate across a reconnect
  if (seq != head + 1) {
    // A hole the ring cannot represent: clients catch up by polling.
    ring.clear();
    ring_bytes = 0;
  }
  // The hub outlives its open feeds (its close() shuts them all first).
  auto& hb = *hub_raw;
  event_buf.assign(json);
  const auto type = rt::wire::event_type_of(event_buf);  // relabelling keeps it
  detail::relabel_event_json(event_buf, rid, type);
  RingEvent r;
  r.seq = seq;
  r.stop = type == rt::wire::EventType::worker_stopped;
  if (auto kept = hb.registry.policy().filter_event(rid, wid, std::move(event_buf))) {
    if (!minter || minter->epoch() != epoch) {
      minter = hb.cursors.minter(rid, wid, epoch);
      next_frame_seq = 0;  // the head was another epoch's
    }
    std::string frame;
    if (next_frame_seq == seq) {
      frame = std::move(next_frame);
      frame += *kept;
      frame += '}';
      r.framed = true;
    } else {
      frame.reserve(kept->size() + kHeadRoom);
      frame += *kept;
    }
    next_frame_seq = 0;
    last_event_size = kept->size();
    r.json = std::move(frame);
    event_buf = std::move(*kept);  // its buffer, for the next event
  }
  ring_bytes += r.json ? r.json->size() : 0;
  head = seq;
  if (r.stop) {
    stopped = true;
    stop_seq = head;
  }
  ring.push_back(std::move(r));
  // The byte bound holds at every event; the count is trimmed once the
  // burst is out (trim_ring), since the oldest event is a cold line away.
  trim_ring(hb.opts.ring_events + kRingSlack);
  // Clients see it at the upstream's next idle() (StreamHandlers::idle).
}

// Drops the oldest events while the ring holds more than `max_events` or
// more than the hub's byte bound, keeping the newest always (clients read
// it from here, whatever its size).
void Feed::trim_ring(std::size_t max_events) {
  const auto max_bytes = hub_raw->opts.ring_bytes;
  while (ring.size() > 1 && (ring.size() > max_events || ring_bytes > max_bytes)) {
    ring_bytes -= ring.front().json ? ring.front().json->size() : 0;
    ring.pop_front();
  }
}

// Every caller is at the end of what the feed had at hand (the upstream's
// idle(), a snapshot, a loss), so the clients write now. A write can end its
// session (and the session's end removes its client from `clients`), so
// the streams are taken first and each is held while it writes.
void Feed::wake_all() {
  published = head;
  boost::container::small_vector<std::shared_ptr<net::WsStream>, 4> streams;
  for (auto* c : clients)
    if (auto s = c->stream.lock()) streams.push_back(std::move(s));
  for (auto& s : streams) s->flush();
  // The burst is out: evicting the oldest events now costs the relay's
  // latency nothing (issue 22: the ring's front was a third of on_event's
  // time, a cache miss), and so does the next frame's head.
  trim_ring(hub_raw->opts.ring_events);
  prepare_next_frame();
}

// A ring event's frame, built on its first read: the head goes in front of
// the event (in the room reserved for it) and the ring's bytes count it
// (the trim after each flush, wake_all, holds the byte bound again).
const std::string& Feed::framed(RingEvent& r) {
  auto& frame = *r.json;
  if (r.framed) return frame;
  const auto before = frame.size();
  head_buf.clear();
  write_frame_head(head_buf, r.seq);
  frame.insert(0, head_buf);
  frame += '}';
  r.framed = true;
  ring_bytes += frame.size() - before;
  return frame;
}

void Feed::write_frame_head(std::string& out, std::uint64_t seq) {
  cursor_buf.clear();
  minter->append_to(cursor_buf, seq);
  rt::wire::append_event_frame_head(out, rid, wid, seq, cursor_buf);
}

void Feed::prepare_next_frame() {
  if (!have_epoch || !minter || minter->epoch() != epoch || next_frame_seq == head + 1) return;
  next_frame.clear();
  // Room for an event like the last one (a large one is not taken as the
  // measure: the ring keeps this buffer, its capacity uncounted).
  next_frame.reserve(std::min<std::size_t>(last_event_size, 4096) + kHeadRoom);
  write_frame_head(next_frame, head + 1);
  next_frame_seq = head + 1;
}

// One one-shot at a time; the clients still waiting when it lands ask again
// (Client::snapshot), so a burst of new clients costs at most two.
void Feed::request_snapshot() {
  if (snapshot_inflight || snapshot_retry_wait || !have_epoch) return;
  snapshot_inflight = true;
  auto n = ++snapshots_asked;
  up->snapshot([weak = weak_from_this(), n](Result<StreamSnapshot> s) {
    auto f = weak.lock();
    if (!f || f->closed) return;
    f->snapshot_inflight = false;
    if (!s || s->epoch != f->epoch) {
      // The runtime is away or restarted (the upstream will say so): ask
      // again in a second rather than leave a waiting client without one.
      f->snapshot_retry_wait = true;
      f->snapshot_retry.expires_after(std::chrono::seconds(1));
      f->snapshot_retry.async_wait([weak = f->weak_from_this()](boost::system::error_code ec) {
        if (ec) return;
        if (auto f2 = weak.lock(); f2 && !f2->closed) {
          f2->snapshot_retry_wait = false;
          f2->wake_all();
        }
      });
      return;
    }
    // Never step back: a one-shot older than base (the upstream resynced
    // meanwhile) leaves base, which is then as new as this request.
    // A snapshot ahead of the ring is fine: its clients wait for the ring.
    if (!f->base || f->base->epoch != s->epoch || s->seq >= f->base->seq) f->set_base(std::move(*s));
    f->base_asked = std::max(f->base_asked, n);
    f->wake_all();
  });
}

// ---------------------------------------------------------------- hub

void ObservationHub::Impl::open_client(std::string rid, std::string wid, std::optional<std::string> cursor,
                                       std::shared_ptr<net::WsStream> stream) {
  if (closed) return stream->close(1001, "");
  Source* source = registry.find(rid);
  if (!source) return stream->close(1011, "");  // the route found it; sources are never removed
  // A feed that ended fatally (e.g. worker_not_found: an embedded worker
  // deleted while its upstream was open) is not reused: the worker may exist
  // by now. Nor is one whose stopped worker's stream has ended (a remote
  // runtime closes it after worker_stopped): the worker may have been
  // deleted and created again since, through any backend, and only a new
  // upstream brings the current worker (backend/OBSERVE.md, "Deleted workers").
  if (auto it = feeds.find(std::make_pair(rid, wid));
      it != feeds.end() && (it->second->fatal || (it->second->stopped && !it->second->connected))) {
    auto old = it->second;
    drop_feed(old.get());
  }
  auto feed = feed_for(*source, rid, wid);
  feed->grace.cancel();
  auto c = std::make_shared<Client>(shared_from_this(), feed, rid, wid);
  c->stream = stream;
  if (cursor) {
    auto pos = cursors.decode(rid, wid, *cursor);
    if (pos) {
      c->start = std::move(*pos);
      c->phase = Client::Phase::resolving;
    } else {
      c->resync(pos.error().code, pos.error().message);
    }
  }
  clients.emplace(c.get(), c);
  feed->clients.insert(c.get());
  st.clients = clients.size();
  st.feeds = feeds.size();
  stream->on_close([c](net::WsCloseInfo) { c->closed(); });
  stream->on_message([weak = std::weak_ptr<Client>(c)](std::string_view) {
    if (auto cl = weak.lock()) cl->client_sent_data();
  });
  stream->set_idle_interval(opts.heartbeat);
  // The stream holds its client through on_close already, and drops both
  // when the session ends: the source may hold it too, without a lock per
  // pull.
  stream->set_source([c](bool idle) { return c->next(idle); });
}

ObservationHub::ObservationHub(asio::io_context& io, RuntimeRegistry& registry, const CursorCodec& cursors,
                               ObserveOptions options)
    : impl_(std::make_shared<Impl>(io, registry, cursors, std::move(options))) {}

ObservationHub::~ObservationHub() { close(); }

ObserveStats ObservationHub::stats() const {
  auto s = impl_->st;
  s.feeds = impl_->feeds.size();
  s.clients = impl_->clients.size();
  return s;
}

void ObservationHub::close() {
  auto& im = *impl_;
  if (im.closed) return;
  im.closed = true;
  for (auto& [_, f] : im.feeds) f->shutdown();
  im.feeds.clear();
  auto clients = im.clients;
  for (auto& [_, w] : clients)
    if (auto c = w.lock())
      if (auto s = c->stream.lock()) s->close(1001, "");
}

namespace {

// The browser offers `yoi.v1, yoi-token.<token>` as subprotocols (web/README).
std::optional<std::string> subprotocol_token(const net::Request& req) {
  auto h = req.header("sec-websocket-protocol");
  if (!h) return std::nullopt;
  std::string_view rest = *h;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto part = rest.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.starts_with("yoi-token.")) return std::string(part.substr(10));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

bool offers_v1(const net::Request& req) {
  auto h = req.header("sec-websocket-protocol");
  return h && h->find("yoi.v1") != std::string_view::npos;
}

}  // namespace

void ObservationHub::add_routes(net::Router& router,
                                std::function<std::optional<Error>(const net::Request&)> authorize) {
  std::weak_ptr<Impl> weak = impl_;
  router.websocket(
      "/api/runtimes/{rid}/workers/{wid}/events/ws",
      [weak, authorize](const net::Request& req) -> net::WsDecision {
        auto im = weak.lock();
        if (!im || im->closed) return net::Response::error(Error{Code::shutting_down, "the server is shutting down"});
        if (authorize) {
          auto err = authorize(req);
          if (err) {
            if (auto tok = subprotocol_token(req)) {
              net::Request copy = req;
              copy.headers.emplace(copy.headers.begin(), "Authorization", "Bearer " + *tok);
              err = authorize(copy);
            }
          }
          if (err) return net::Response::error(*err);
        }
        std::string rid(req.param("rid")), wid(req.param("wid"));
        if (auto ok = validate_id(rid, "runtime_id"); !ok) return net::Response::error(ok.error());
        if (auto ok = validate_id(wid, "worker_id"); !ok) return net::Response::error(ok.error());
        if (auto ok = im->registry.policy().check(PolicyRequest{ApiOp::stream, rid, wid, "browser"}); !ok)
          return net::Response::error(ok.error());
        if (!im->registry.find(rid))
          return net::Response::error(Error{Code::runtime_not_found, fmt::format("no runtime '{}'", rid)});
        std::optional<std::string> cursor;
        if (auto c = req.query_param("cursor"); c && !c->empty()) cursor = std::string(*c);
        net::WsAccept accept;
        if (offers_v1(req)) accept.subprotocol = "yoi.v1";
        accept.on_open = [weak, rid, wid, cursor](std::shared_ptr<net::WsStream> s) {
          if (auto im2 = weak.lock()) im2->open_client(rid, wid, cursor, std::move(s));
        };
        return accept;
      },
      net::RouteOptions{.auth = false});
}

}  // namespace yoi::backend
