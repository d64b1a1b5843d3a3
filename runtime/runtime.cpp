#include "yoi/runtime/runtime.hpp"

#include <charconv>
#include <deque>
#include <list>
#include <map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/runtime/cursor.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::rt {

namespace bj = boost::json;

// ---- subscriptions ----

struct SubscriberEntry {
  std::function<void()> fn;
  bool active = true;
};
using SubscriberList = std::list<std::shared_ptr<SubscriberEntry>>;

struct Subscription::Impl {
  std::weak_ptr<SubscriberList> list;
  std::shared_ptr<SubscriberEntry> entry;
  ~Impl() {
    entry->active = false;
    if (auto l = list.lock()) l->remove(entry);
  }
};

Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&&) noexcept = default;
Subscription::~Subscription() = default;
void Subscription::reset() { impl_.reset(); }

namespace {

// A run's reply text, shared by the live run (which appends to it) and the
// published view (which shows a prefix of it: the text of durable deltas).
// It outlives the run until its end is published.
struct FlightText {
  std::string run_id;
  std::string text;  // reply so far (live)
  // (seq of a text_delta, text length after it) not yet published; a
  // vector consumed from `head` and cleared when drained, so it keeps its
  // capacity through a run.
  std::vector<std::pair<std::uint64_t, std::size_t>> marks;
  std::size_t head = 0;
  std::size_t published = 0;  // length observers may see

  void publish_through(std::uint64_t seq) {
    while (head < marks.size() && marks[head].first <= seq) published = marks[head++].second;
    if (head == marks.size()) {
      marks.clear();
      head = 0;
    }
  }
};

struct Run {
  std::string run_id;
  std::uint64_t serial = 0;  // the worker's run_serial when it started
  std::unique_ptr<engines::Turn> turn;
  std::shared_ptr<FlightText> flight;
};

// What observers may see changes only when a commit is durable: the
// "published" view below trails the live state by the commits in flight.
struct Published {
  std::uint64_t seq = 0;
  WorkerStatus status = WorkerStatus::idle;
  std::uint64_t transcript_total = 0;
  std::shared_ptr<FlightText> flight;  // the run in flight, as observers see it
};

// A change to the published view, applied when its commit is durable.
// (Deltas need none: their text is published through FlightText marks.)
struct Publish {
  std::optional<WorkerStatus> status;
  enum class Flight { none, start, end } flight = Flight::none;
  std::shared_ptr<FlightText> text;  // for start
  std::uint64_t transcript_added = 0;
  bool empty() const { return !status && flight == Flight::none && transcript_added == 0; }
};

// A commit waiting for the store's durable watermark to reach `seq`.
struct PendingCommit {
  std::uint64_t seq = 0;
  Publish publish;
  std::function<void(Result<void>)> then;
};

struct WorkerState {
  WorkerRecord record;
  std::string tag;
  std::string history;  // the epoch part of its cursors (runtime epoch + incarnation)
  // Expires when the worker is deleted: what outlives it (an engine turn's
  // handlers, a delete waiting to run) holds a weak reference to this.
  std::shared_ptr<const bool> life = std::make_shared<const bool>(true);
  store::Log* log = nullptr;  // resolved once; the store owns it
  std::uint64_t last_seq = 0;  // assigned
  std::uint64_t transcript_total = 0;  // assigned
  std::uint64_t run_serial = 0;
  std::unique_ptr<Run> run;
  Published pub;
  std::vector<PendingCommit> pending;  // oldest first; short (control commits only)
  std::deque<InputAccepted> recent_inputs;  // client_message_id dedupe window
  std::shared_ptr<SubscriberList> subscribers;
};

}  // namespace

struct Runtime::Impl : std::enable_shared_from_this<Runtime::Impl> {
  boost::asio::io_context& io;
  RuntimeOptions opts;
  std::unique_ptr<store::Store> store;
  std::string epoch;
  std::map<std::string, std::unique_ptr<WorkerState>, std::less<>> workers;
  std::map<std::string, std::shared_ptr<engines::Engine>, std::less<>> engines;
  std::map<std::string, engines::ProfileConfig, std::less<>> profiles;
  std::vector<std::string> diagnostics;
  RuntimeStats stats;
  std::string scratch;  // add_delta's serialisation buffer (keeps its capacity)

  Impl(boost::asio::io_context& io, RuntimeOptions o, std::unique_ptr<store::Store> s)
      : io(io), opts(std::move(o)), store(std::move(s)) {}

  // The configured profile names for an "unknown profile" error, in order,
  // bounded (at most 20 names and about 200 characters, then "…") so the
  // message passes through yoi-server whole.
  std::string profile_list() const {
    constexpr std::size_t kMaxNames = 20, kMaxChars = 200;
    std::string out;
    std::size_t n = 0;
    for (const auto& [name, p] : profiles) {
      std::string next = (n ? ", " : "") + name;
      if (n == kMaxNames || out.size() + next.size() > kMaxChars) return out + (n ? ", …" : "…");
      out += next;
      ++n;
    }
    return out;
  }

  template <class T>
  void post_result(Callback<T> done, Result<T> r) {
    boost::asio::post(io, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  // A requested page size: 0 means the default; never above max_page.
  std::size_t page_limit(std::size_t requested) const {
    return std::clamp<std::size_t>(requested ? requested : opts.limits.default_page, 1, opts.limits.max_page);
  }

  WorkerState* find(std::string_view id) const {
    auto it = workers.find(id);
    return it == workers.end() ? nullptr : it->second.get();
  }

  Result<WorkerState*> lookup(std::string_view id) const {
    if (auto ok = validate_id(id, "worker_id"); !ok) return fail(ok.error());
    if (auto* w = find(id)) return w;
    return fail(Code::worker_not_found, fmt::format("worker '{}' not found", id));
  }

  WorkerDetail detail_of(const WorkerState& w) const {
    return WorkerDetail{opts.runtime_id, w.record, w.pub.seq, w.pub.transcript_total};
  }

  // Appends one event to the worker's open commit, assigning the next seq.
  std::uint64_t add_event(WorkerState& w, const wire::EventBody& body) {
    std::uint64_t seq = ++w.last_seq;
    w.log->append(seq, wire::encode_event(body, seq, now(w)));
    ++stats.events_appended;
    return seq;
  }

  // The hot path: a text_delta serialised straight into a reused buffer.
  std::uint64_t add_delta(WorkerState& w, std::string_view run_id, std::string_view delta) {
    std::uint64_t seq = ++w.last_seq;
    scratch.clear();
    wire::append_text_delta(scratch, seq, now(w), run_id, delta);
    w.log->append(seq, scratch);
    ++stats.events_appended;
    return seq;
  }

  // The time of an event; also the worker's updated_at (one clock read).
  std::int64_t now(WorkerState& w) { return w.record.updated_at_ms = opts.clock->now_ms(); }

  void add_transcript(WorkerState& w, TranscriptItem item) {
    item.index = w.transcript_total++;
    item.time_ms = opts.clock->now_ms();
    w.log->append_transcript(item.index, bj::serialize(wire::to_json(item)));
  }

  void set_status(WorkerState& w, Publish& p, WorkerStatus s) {
    WorkerStatus before = w.record.status;
    if (before == s) return;
    w.record.status = s;
    add_event(w, wire::event::status(s, before));
    p.status = s;
  }

  // Closes the worker's open commit (the events and transcript items added
  // since the last one), replacing the state document when given. Once the
  // store's watermark covers it, `p` is published to observers and then
  // `then` runs. Every mutation goes through here. A commit with neither a
  // publish nor a `then` (a delta) leaves no bookkeeping behind.
  void commit(WorkerState& w, std::optional<std::string> state, Publish p,
              std::function<void(Result<void>)> then) {
    w.log->commit(std::move(state));
    if (p.empty() && !then) return;
    w.pending.push_back(PendingCommit{w.last_seq, std::move(p), std::move(then)});
  }

  // Answers `then` once everything committed so far is published.
  void when_published(WorkerState& w, std::function<void(Result<void>)> then) {
    if (w.pending.empty() && w.pub.seq >= w.last_seq) {
      boost::asio::post(io, [then = std::move(then)] { then(Result<void>{}); });
      return;
    }
    w.pending.push_back(PendingCommit{w.last_seq, Publish{}, std::move(then)});
  }

  // The store's durability report for one worker's log.
  void on_durable(store::Log& log, const Result<std::uint64_t>& durable) {
    auto* w = static_cast<WorkerState*>(log.context);
    if (!w) return;
    auto keep = shared_from_this();  // a `then` may drop the Runtime
    if (!durable) {
      spdlog::error("store commit for worker '{}' failed: {}", w->record.worker_id, durable.error().message);
      auto pending = std::move(w->pending);
      w->pending.clear();
      for (auto& pc : pending)
        if (pc.then) pc.then(tl::unexpected(durable.error()));
      return;
    }
    std::uint64_t seq = *durable;
    if (seq <= w->pub.seq && (w->pending.empty() || w->pending.front().seq > seq)) return;
    w->pub.seq = std::max(w->pub.seq, seq);
    // Apply the control commits now durable, in order, interleaved with the
    // deltas' text: a run's text is published up to each commit's seq.
    std::size_t n = 0;
    for (; n < w->pending.size() && w->pending[n].seq <= seq; ++n) {
      auto& pc = w->pending[n];
      if (w->pub.flight) w->pub.flight->publish_through(pc.seq);
      apply(*w, pc.publish);
    }
    if (w->pub.flight) w->pub.flight->publish_through(seq);
    // Subscribers first (they pull with read_after), then the callers.
    wake(*w);
    if (n == 0) return;
    std::vector<std::function<void(Result<void>)>> thens;
    for (std::size_t i = 0; i < n; ++i)
      if (w->pending[i].then) thens.push_back(std::move(w->pending[i].then));
    w->pending.erase(w->pending.begin(), w->pending.begin() + static_cast<std::ptrdiff_t>(n));
    for (auto& t : thens) t(Result<void>{});
  }

  void apply(WorkerState& w, Publish& p) {
    if (p.status) w.pub.status = *p.status;
    w.pub.transcript_total += p.transcript_added;
    switch (p.flight) {
      case Publish::Flight::start: w.pub.flight = std::move(p.text); break;
      case Publish::Flight::end: w.pub.flight.reset(); break;
      case Publish::Flight::none: break;
    }
  }

  void wake(WorkerState& w) {
    auto& list = *w.subscribers;
    if (list.empty()) return;
    if (list.size() == 1) {
      auto s = list.front();  // the callback may unsubscribe itself
      if (s->active) s->fn();
      return;
    }
    // Snapshot the list: a callback may unsubscribe (itself or another).
    std::vector<std::shared_ptr<SubscriberEntry>> subs(list.begin(), list.end());
    for (auto& s : subs)
      if (s->active) s->fn();
  }

  Result<std::unique_ptr<WorkerState>> make_state(WorkerRecord rec) {
    auto log = store->log(rec.worker_id);
    if (!log) return tl::unexpected(log.error());
    auto w = std::make_unique<WorkerState>();
    w->tag = worker_tag(rec.worker_id);
    w->history = worker_history(epoch, rec.incarnation);
    w->record = std::move(rec);
    w->pub.status = w->record.status;
    w->subscribers = std::make_shared<SubscriberList>();
    w->log = *log;
    w->log->context = w.get();
    return w;
  }

  // ---- runs ----

  void start_turn(WorkerState& w, const std::string& run_id, std::string content) {
    const auto& profile = profiles.find(w.record.profile)->second;
    auto engine = engines.find(w.record.profile)->second;
    // History: the transcript before this input, bounded by the profile.
    std::vector<engines::Message> conversation;
    std::uint64_t before = w.transcript_total - 1;  // the user item just added
    std::uint64_t readable = std::min(before, w.pub.transcript_total);
    std::uint64_t n = std::min<std::uint64_t>(readable, profile.history_messages);
    if (n > 0) {
      if (auto items = store->read_transcript(w.record.worker_id, readable - n, n)) {
        for (const auto& rec : *items) {
          auto v = yoi::json::parse(rec.json, rec.json.size() + 1);
          if (!v || !v->is_object()) continue;
          const auto& o = v->get_object();
          // A run cancelled or failed before any text leaves an empty reply
          // item; an engine is not shown an empty assistant message.
          if (yoi::json::str_or_empty(o, "role") == "assistant" && yoi::json::str_or_empty(o, "content").empty())
            continue;
          conversation.push_back(engines::Message{std::string(yoi::json::str_or_empty(o, "role")),
                                                  std::string(yoi::json::str_or_empty(o, "content"))});
        }
      }
    }
    conversation.push_back(engines::Message{"user", std::move(content)});

    // The pointer is good while the worker lives (`life`); the run serial
    // says whether this turn is still the current run.
    std::weak_ptr<Impl> weak = weak_from_this();
    WorkerState* ws = &w;
    std::weak_ptr<const bool> life = w.life;
    std::uint64_t serial = w.run->serial;
    auto current = [weak, ws, life, serial]() -> std::pair<std::shared_ptr<Impl>, WorkerState*> {
      auto self = weak.lock();
      if (!self || life.expired() || !ws->run || ws->run->serial != serial) return {nullptr, nullptr};
      return {std::move(self), ws};
    };
    engines::TurnHandlers h;
    h.on_delta = [current](std::string_view delta) {
      auto [self, w] = current();
      if (!w || delta.empty()) return;
      FlightText& f = *w->run->flight;
      f.text += delta;
      std::uint64_t seq = self->add_delta(*w, f.run_id, delta);
      f.marks.emplace_back(seq, f.text.size());
      self->commit(*w, std::nullopt, Publish{}, nullptr);
    };
    h.on_usage = [current, run_id](const engines::Usage& u) {
      auto [self, w] = current();
      if (!w) return;
      self->add_event(*w, wire::event::usage(run_id, u.input_tokens, u.output_tokens));
      self->commit(*w, std::nullopt, Publish{}, nullptr);
    };
    // Tool calls are not executed yet (issue 20): a turn's end ends the run.
    h.on_done = [current](Result<engines::TurnEnd> r) {
      auto [self, w] = current();
      if (!w) return;
      if (r)
        self->finish_run(*w, "completed", std::nullopt, std::nullopt, WorkerStatus::idle, nullptr);
      else
        self->finish_run(*w, "failed", r.error(), std::nullopt, WorkerStatus::idle, nullptr);
    };
    ++stats.runs_started;
    ++stats.runs_active;
    w.run->turn = engine->start(std::move(conversation), std::move(h));
  }

  // Closes the run in flight with `result`, keeping its partial reply, and
  // moves the worker to `next` (idle, or stopped when stopping). Appends
  // its events and commits.
  void finish_run(WorkerState& w, std::string_view result, std::optional<Error> error,
                  std::optional<std::string> reason, WorkerStatus next,
                  std::function<void(Result<void>)> then) {
    Publish p;
    std::shared_ptr<Run> run(std::move(w.run));
    if (run->turn) run->turn->cancel();
    // The turn may be our caller (on_done): destroy it on a later io turn.
    boost::asio::post(io, [run] {});
    const std::string& text = run->flight->text;
    add_event(w, wire::event::text_done(run->run_id, text));
    add_event(w, wire::event::run_finished(run->run_id, result, error, reason));
    // Every run that ends leaves its reply item, empty or not, so a reader of
    // the transcript sees each input answered or marked cancelled / failed.
    TranscriptItem item;
    item.seq = w.last_seq;
    item.role = "assistant";
    item.content = text;
    item.run_id = run->run_id;
    item.result = std::string(result);
    item.error = std::move(error);
    add_transcript(w, std::move(item));
    ++p.transcript_added;
    w.record.current_run_id.reset();
    set_status(w, p, next);
    p.flight = Publish::Flight::end;
    --stats.runs_active;
    if (result == "completed") ++stats.runs_completed;
    else if (result == "cancelled") ++stats.runs_cancelled;
    else ++stats.runs_failed;
    commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p), std::move(then));
  }

  std::string cursor(const WorkerState& w, std::uint64_t seq) const {
    return encode_cursor(w.history, w.tag, seq);
  }

  // Takes a stopped, fully published worker out of the catalog (its id is
  // free again at once), tells its subscribers (they pull and find it gone)
  // and has the store remove its files.
  void erase(std::map<std::string, std::unique_ptr<WorkerState>, std::less<>>::iterator it,
             Callback<void> done) {
    std::unique_ptr<WorkerState> gone = std::move(it->second);
    workers.erase(it);
    gone->log->context = nullptr;  // the store may still report it: ignored
    gone->life.reset();
    wake(*gone);
    store->remove(gone->record.worker_id, std::move(done));
  }

  // The seq a cursor names, validated against this worker's log.
  Result<std::uint64_t> cursor_seq(const WorkerState& w, std::string_view c) const {
    auto parts = parse_cursor(c);
    if (!parts) return fail(parts.error());
    if (parts->tag != w.tag) return fail(Code::cursor_invalid, "cursor belongs to another worker");
    if (parts->epoch != w.history)
      return fail(Code::cursor_unknown,
                  "cursor is from another history: another epoch of this runtime, or a deleted "
                  "worker of the same id");
    if (parts->seq > w.pub.seq) return fail(Code::cursor_unknown, "cursor is beyond the end of the log");
    return parts->seq;
  }
};

// ---- Runtime ----

Runtime::Runtime(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  // Turns hold handlers that check liveness through a weak pointer; cancel
  // them so no engine I/O outlives the runtime.
  for (auto& [id, w] : impl_->workers)
    if (w->run && w->run->turn) w->run->turn->cancel();
}

Result<std::unique_ptr<Runtime>> Runtime::open(boost::asio::io_context& io, RuntimeOptions options,
                                               std::unique_ptr<store::Store> store) {
  if (auto ok = validate_id(options.runtime_id, "runtime_id"); !ok) return fail(ok.error());
  bool has_default = false;
  for (const auto& p : options.profiles) has_default = has_default || p.name == "runtime_default";
  if (!has_default) {
    options.default_profile.name = "runtime_default";
    options.profiles.insert(options.profiles.begin(), options.default_profile);
  }

  auto impl = std::make_shared<Impl>(io, std::move(options), std::move(store));
  for (const auto& p : impl->opts.profiles) {
    if (impl->profiles.count(p.name))
      return fail(Code::config_invalid, fmt::format("profile '{}' is defined twice", p.name));
    auto engine = engines::make_engine(io, p);
    if (!engine) return fail(engine.error());
    impl->engines[p.name] = std::move(*engine);
    impl->profiles[p.name] = p;
  }

  auto restored = impl->store->open();
  if (!restored) return fail(restored.error());
  impl->store->set_durable_listener([raw = impl.get()](store::Log& log, const Result<std::uint64_t>& r) {
    raw->on_durable(log, r);
  });
  impl->epoch = restored->epoch;
  impl->diagnostics = restored->diagnostics;
  for (auto& rw : restored->workers) {
    auto doc = yoi::json::parse_object(rw.state, rw.state.size() + 1);
    if (!doc) return fail(Code::store_corrupt, fmt::format("worker '{}': state document: {}", rw.worker_id, doc.error().message));
    auto rec = wire::record_from_json(*doc);
    if (!rec) return fail(Code::store_corrupt, fmt::format("worker '{}': state document: {}", rw.worker_id, rec.error().message));
    if (rec->worker_id != rw.worker_id)
      return fail(Code::store_corrupt, fmt::format("worker '{}': state names another worker", rw.worker_id));
    if (!impl->profiles.count(rec->profile)) {
      impl->diagnostics.push_back(fmt::format(
          "worker '{}': profile '{}' is no longer configured; using runtime_default", rw.worker_id, rec->profile));
      rec->profile = "runtime_default";
    }
    auto made = impl->make_state(std::move(*rec));
    if (!made) return fail(made.error());
    auto w = std::move(*made);
    w->last_seq = w->pub.seq = rw.last_seq;
    w->transcript_total = w->pub.transcript_total = rw.transcript_total;
    auto& ws = *w;
    impl->workers.emplace(rw.worker_id, std::move(w));
    if (ws.record.status == WorkerStatus::running) {
      // The process died mid-run: close the run as interrupted.
      std::string run_id = ws.record.current_run_id.value_or("unknown");
      ws.run = std::make_unique<Run>();
      ws.run->run_id = run_id;
      ws.run->serial = ++ws.run_serial;
      ws.run->flight = std::make_shared<FlightText>();
      ws.run->flight->run_id = run_id;
      ++impl->stats.runs_active;
      impl->diagnostics.push_back(
          fmt::format("worker '{}': run '{}' was interrupted by a restart", ws.record.worker_id, run_id));
      impl->finish_run(ws, "failed", Error{Code::interrupted, "the runtime restarted during the run"},
                       std::nullopt, WorkerStatus::idle, nullptr);
    }
  }
  // Not logged here: whoever opens the runtime logs diagnostics() once, with
  // its own name (runtime_server::open_runtime).
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

const std::string& Runtime::runtime_id() const { return impl_->opts.runtime_id; }
const std::string& Runtime::epoch() const { return impl_->epoch; }
const std::vector<std::string>& Runtime::diagnostics() const { return impl_->diagnostics; }
const RuntimeStats& Runtime::stats() const { return impl_->stats; }

RuntimeSummary Runtime::summary() const {
  RuntimeSummary s;
  s.runtime_id = impl_->opts.runtime_id;
  s.display_name = impl_->opts.display_name;
  s.epoch = impl_->epoch;
  s.version = impl_->opts.version;
  s.store = std::string(impl_->store->kind());
  s.worker_counts = {{"total", 0}, {"idle", 0}, {"running", 0}, {"stopped", 0}};
  for (const auto& [id, w] : impl_->workers) {
    ++s.worker_counts["total"];
    ++s.worker_counts[std::string(status_name(w->record.status))];
  }
  s.limits = impl_->opts.limits;
  s.capabilities = all_capabilities();
  for (const auto& [name, p] : impl_->profiles) s.profiles.push_back(name);
  return s;
}

void Runtime::create(CreateWorker req, Callback<WorkerDetail> done) {
  auto& im = *impl_;
  if (req.worker_id) {
    if (auto ok = validate_id(*req.worker_id, "worker_id"); !ok)
      return im.post_result(std::move(done), Result<WorkerDetail>(fail(ok.error())));
    if (im.find(*req.worker_id))
      return im.post_result(std::move(done), Result<WorkerDetail>(fail(
          Code::worker_exists, fmt::format("worker '{}' already exists", *req.worker_id))));
  }
  if (!im.profiles.count(req.profile))
    return im.post_result(std::move(done), Result<WorkerDetail>(fail(
        Code::invalid_request, fmt::format("unknown profile '{}' (profiles: {})", req.profile, im.profile_list()))));
  if (im.workers.size() >= im.opts.limits.max_workers)
    return im.post_result(std::move(done), Result<WorkerDetail>(fail(
        Code::limit_exceeded, fmt::format("this runtime holds its maximum of {} workers", im.opts.limits.max_workers))));
  std::string id = req.worker_id.value_or("");
  while (id.empty() || im.find(id)) id = "w-" + im.opts.random->hex(6);

  WorkerRecord rec;
  rec.worker_id = id;
  rec.display_name = req.display_name.value_or(id);
  rec.intent = std::move(req.intent);
  rec.profile = std::move(req.profile);
  rec.config_bundle = std::move(req.config_bundle);
  rec.capabilities = std::move(req.capabilities);
  rec.workspace_refs = std::move(req.workspace_refs);
  rec.mount_refs = std::move(req.mount_refs);
  rec.created_at_ms = rec.updated_at_ms = im.opts.clock->now_ms();
  rec.incarnation = im.opts.random->hex(8);
  auto made = im.make_state(std::move(rec));
  if (!made) return im.post_result(std::move(done), Result<WorkerDetail>(fail(made.error())));
  auto& w = *im.workers.emplace(id, std::move(*made)).first->second;

  WorkerDetail d = im.detail_of(w);
  d.last_seq = 1;
  im.add_event(w, wire::event::worker_created(d));
  std::weak_ptr<Impl> weak = impl_;
  im.commit(w, bj::serialize(wire::record_to_json(w.record)), Publish{}, [weak, id, done = std::move(done)](Result<void> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return done(fail(r.error()));
    done(self->detail_of(*self->find(id)));
  });
}

Result<WorkerPage> Runtime::list(const ListWorkers& req) const {
  auto& im = *impl_;
  std::size_t limit = im.page_limit(req.limit);
  auto it = im.workers.begin();
  if (req.after) {
    if (auto ok = validate_id(*req.after, "page token"); !ok) return fail(ok.error());
    it = im.workers.upper_bound(*req.after);
  }
  WorkerPage page;
  for (; it != im.workers.end(); ++it) {
    const auto& w = *it->second;
    if (req.status && w.record.status != *req.status) continue;
    if (page.workers.size() == limit) {
      page.next = page.workers.back().record.worker_id;
      break;
    }
    page.workers.push_back(im.detail_of(w));
  }
  return page;
}

Result<WorkerDetail> Runtime::detail(std::string_view worker_id) const {
  auto w = impl_->lookup(worker_id);
  if (!w) return fail(w.error());
  return impl_->detail_of(**w);
}

void Runtime::input(std::string_view worker_id, Input req, Callback<InputAccepted> done) {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return im.post_result(std::move(done), Result<InputAccepted>(fail(found.error())));
  auto& w = **found;
  if (req.client_message_id) {
    for (const auto& a : w.recent_inputs)
      if (a.client_message_id == req.client_message_id) {
        InputAccepted dup = a;
        dup.duplicate = true;
        return im.post_result(std::move(done), Result<InputAccepted>(std::move(dup)));
      }
  }
  if (w.record.status == WorkerStatus::stopped)
    return im.post_result(std::move(done), Result<InputAccepted>(fail(
        Code::worker_stopped, fmt::format("worker '{}' is stopped", worker_id))));
  if (w.run)
    return im.post_result(std::move(done), Result<InputAccepted>(fail(
        Code::worker_busy, fmt::format("worker '{}' is running '{}'", worker_id, w.run->run_id))));
  if (req.content.empty())
    return im.post_result(std::move(done), Result<InputAccepted>(fail(Code::invalid_request, "content must not be empty")));
  if (req.content.size() > im.opts.limits.max_content_bytes)
    return im.post_result(std::move(done), Result<InputAccepted>(fail(
        Code::payload_too_large, fmt::format("content is larger than {} bytes", im.opts.limits.max_content_bytes))));

  std::string run_id = fmt::format("run-{}", ++w.record.run_count);
  w.run = std::make_unique<Run>();
  w.run->run_id = run_id;
  w.run->serial = ++w.run_serial;
  w.run->flight = std::make_shared<FlightText>();
  w.run->flight->run_id = run_id;
  w.record.current_run_id = run_id;

  Publish p;
  std::uint64_t seq = im.add_event(w, wire::event::input_accepted(run_id, req.content, req.client_message_id));
  TranscriptItem item;
  item.seq = seq;
  item.role = "user";
  item.content = req.content;
  item.run_id = run_id;
  im.add_transcript(w, std::move(item));
  p.transcript_added = 1;
  im.set_status(w, p, WorkerStatus::running);
  im.add_event(w, wire::event::run_started(run_id, w.record.profile));
  p.flight = Publish::Flight::start;
  p.text = w.run->flight;

  InputAccepted accepted{run_id, seq, req.client_message_id, false};
  if (req.client_message_id) {
    w.recent_inputs.push_back(accepted);
    if (w.recent_inputs.size() > im.opts.limits.dedupe_window) w.recent_inputs.pop_front();
  }
  im.commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p),
            [accepted, done = std::move(done)](Result<void> r) {
    if (!r) return done(fail(r.error()));
    done(accepted);
  });
  // Engine output is committed after the acceptance, in order, so observers
  // never see a delta before its input.
  im.start_turn(w, run_id, std::move(req.content));
}

void Runtime::cancel(std::string_view worker_id, std::optional<std::string> reason,
                     Callback<CancelResult> done) {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return im.post_result(std::move(done), Result<CancelResult>(fail(found.error())));
  auto& w = **found;
  if (!w.run) {
    CancelResult none{false, std::nullopt, w.record.status};
    return im.post_result(std::move(done), Result<CancelResult>(none));
  }
  CancelResult res{true, w.run->run_id, WorkerStatus::idle};
  im.finish_run(w, "cancelled", std::nullopt, std::move(reason), WorkerStatus::idle,
                [res, done = std::move(done)](Result<void> r) {
                  if (!r) return done(fail(r.error()));
                  done(res);
                });
}

void Runtime::stop(std::string_view worker_id, std::optional<std::string> reason,
                   Callback<WorkerDetail> done) {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return im.post_result(std::move(done), Result<WorkerDetail>(fail(found.error())));
  auto& w = **found;
  std::weak_ptr<Impl> weak = impl_;
  std::string id(worker_id);
  auto then = [weak, id, done = std::move(done)](Result<void> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return done(fail(r.error()));
    // A delete queued before this answer may have taken the worker.
    auto* w = self->find(id);
    if (!w) return done(fail(Code::worker_not_found, fmt::format("worker '{}' not found", id)));
    done(self->detail_of(*w));
  };
  if (w.record.status == WorkerStatus::stopped) {
    // Idempotent: answer once everything already committed is published.
    return im.when_published(w, std::move(then));
  }
  Publish p;
  if (w.run) {
    // finish_run commits the run's closing events and the status change;
    // the worker_stopped event follows in the next commit.
    im.finish_run(w, "cancelled", std::nullopt, reason.value_or("worker stopped"), WorkerStatus::stopped,
                  nullptr);
    im.add_event(w, wire::event::worker_stopped(reason));
  } else {
    im.set_status(w, p, WorkerStatus::stopped);
    im.add_event(w, wire::event::worker_stopped(reason));
  }
  im.commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p), std::move(then));
}

void Runtime::remove(std::string_view worker_id, Callback<void> done) {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return im.post_result(std::move(done), Result<void>(fail(found.error())));
  auto& w = **found;
  if (w.record.status != WorkerStatus::stopped)
    return im.post_result(std::move(done), Result<void>(fail(
        Code::worker_not_stopped,
        fmt::format("worker '{}' is {}; stop it before deleting it", worker_id, status_name(w.record.status)))));
  // Once the stop is published no commit of this worker is waiting on it
  // (a stopped worker commits nothing more), so it can leave the catalog.
  std::weak_ptr<Impl> weak = impl_;
  std::weak_ptr<const bool> life = w.life;
  std::string id(worker_id);
  im.when_published(w, [weak, life, id, done = std::move(done)](Result<void> r) mutable {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return done(fail(r.error()));
    auto it = self->workers.find(id);
    if (life.expired() || it == self->workers.end())  // a concurrent delete got there first
      return done(fail(Code::worker_not_found, fmt::format("worker '{}' not found", id)));
    self->erase(it, std::move(done));
  });
}

Result<TranscriptPage> Runtime::transcript(std::string_view worker_id, std::uint64_t start,
                                           std::size_t limit) const {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return fail(found.error());
  const auto& w = **found;
  limit = im.page_limit(limit);
  TranscriptPage page;
  page.total = w.pub.transcript_total;
  if (start >= page.total) return page;
  std::size_t n = std::min<std::uint64_t>(limit, page.total - start);
  auto records = im.store->read_transcript(w.record.worker_id, start, n);
  if (!records) return fail(records.error());
  for (const auto& r : *records) {
    auto v = yoi::json::parse(r.json, r.json.size() + 1);
    if (!v) return fail(Code::store_corrupt, fmt::format("worker '{}': transcript item {} does not parse", worker_id, r.index));
    auto item = wire::transcript_from_json(bj::value{{"items", bj::array{*v}}, {"total", 1}});
    if (!item || item->items.empty())
      return fail(Code::store_corrupt, fmt::format("worker '{}': transcript item {} is malformed", worker_id, r.index));
    page.items.push_back(std::move(item->items.front()));
  }
  if (start + page.items.size() < page.total) page.next = start + page.items.size();
  return page;
}

Result<std::uint64_t> Runtime::cursor_seq(std::string_view worker_id, std::string_view cursor) const {
  auto found = impl_->lookup(worker_id);
  if (!found) return fail(found.error());
  return impl_->cursor_seq(**found, cursor);
}

Result<EventPage> Runtime::read_after(std::string_view worker_id, std::string_view cursor,
                                      std::size_t limit) const {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return fail(found.error());
  const auto& w = **found;
  limit = im.page_limit(limit);
  std::optional<std::uint64_t> after;
  if (!cursor.empty()) {
    auto seq = im.cursor_seq(w, cursor);
    if (!seq) return fail(seq.error());
    after = *seq;
  }
  // Never read past what is published, even if the store has more.
  std::uint64_t from = after.value_or(0);
  EventPage page;
  page.epoch = w.history;
  page.last_seq = w.pub.seq;
  if (from >= w.pub.seq && after) {
    page.cursor = im.cursor(w, from);
    return page;
  }
  auto range = im.store->read_events(w.record.worker_id, from, limit);
  if (!range) return fail(range.error());
  if (after && range->first_seq > 0 && *after + 1 < range->first_seq)
    return fail(Code::cursor_expired,
                fmt::format("events after seq {} are no longer retained (oldest is {})", *after, range->first_seq));
  std::uint64_t last = from;
  for (auto& rec : range->events) {
    if (rec.seq > w.pub.seq) break;
    last = rec.seq;
    page.events.push_back(Event{rec.seq, std::move(rec.json), im.cursor(w, rec.seq)});
  }
  page.cursor = im.cursor(w, page.events.empty() ? (after ? *after : std::max<std::uint64_t>(range->first_seq, 1) - 1) : last);
  return page;
}

Result<Snapshot> Runtime::snapshot(std::string_view worker_id) const {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return fail(found.error());
  const auto& w = **found;
  Snapshot s;
  s.epoch = w.history;
  s.detail = im.detail_of(w);
  s.detail.record.status = w.pub.status;
  s.seq = w.pub.seq;
  s.cursor = im.cursor(w, s.seq);
  if (w.pub.flight) s.in_flight = InFlight{w.pub.flight->run_id, w.pub.flight->text.substr(0, w.pub.flight->published)};
  std::uint64_t total = w.pub.transcript_total;
  std::uint64_t n = std::min<std::uint64_t>(total, im.opts.limits.snapshot_transcript_tail);
  if (n > 0) {
    auto page = transcript(worker_id, total - n, n);
    if (!page) return fail(page.error());
    s.transcript_tail = std::move(page->items);
  }
  return s;
}

Result<Subscription> Runtime::subscribe(std::string_view worker_id, std::function<void()> on_append) {
  auto found = impl_->lookup(worker_id);
  if (!found) return fail(found.error());
  auto entry = std::make_shared<SubscriberEntry>();
  entry->fn = std::move(on_append);
  (*found)->subscribers->push_back(entry);
  auto impl = std::make_shared<Subscription::Impl>();
  impl->list = (*found)->subscribers;
  impl->entry = std::move(entry);
  return Subscription(std::move(impl));
}

void Runtime::flush(Callback<void> done) { impl_->store->flush(std::move(done)); }

std::string Runtime::cursor_for(std::string_view worker_id, std::uint64_t seq) const {
  auto* w = impl_->find(worker_id);
  return w ? impl_->cursor(*w, seq) : encode_cursor(impl_->epoch, worker_tag(worker_id), seq);
}

}  // namespace yoi::rt
