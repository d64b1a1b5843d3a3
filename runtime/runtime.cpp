#include "yoi/runtime/runtime.hpp"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include <filesystem>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/runtime/cursor.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/profiles/bundle.hpp"
#include "yoi/profiles/profile.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/sandbox/sandbox.hpp"
#include "yoi/tools/output.hpp"
#include "yoi/tools/specs.hpp"
#include "yoi/tools/tools.hpp"

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

  // The step and the tool calls, each with the seq from which observers
  // may see it (and, for a call, the seq of its result).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> steps;  // (seq, step)
  struct Call {
    ToolCallRef call;
    std::uint64_t called = 0;
    std::uint64_t resolved = UINT64_MAX;
    // Awaiting a person's decision from `asked` until `answered` (§15).
    std::uint64_t asked = UINT64_MAX;
    std::uint64_t answered = UINT64_MAX;
  };
  std::vector<Call> calls;

  // The in-flight view as of published seq `seq`.
  InFlight view(std::uint64_t seq) const {
    InFlight f{run_id, text.substr(0, published), 1, {}};
    for (const auto& [at, step] : steps)
      if (at <= seq) f.step = step;
    for (const auto& c : calls)
      if (c.called <= seq && seq < c.resolved)
        f.calls.push_back(InFlightCall{c.call, c.asked <= seq && seq < c.answered ? "awaiting_approval" : "running"});
    return f;
  }

  void publish_through(std::uint64_t seq) {
    while (head < marks.size() && marks[head].first <= seq) published = marks[head++].second;
    if (head == marks.size()) {
      marks.clear();
      head = 0;
    }
  }
};

// A running bash call's output on its way to tool_output events
// (ARCHITECTURE §12): bytes gather here and leave as one event per stream
// run at kFlushBytes or kFlushDelay after the first byte, so a chatty
// command costs few events, as a model's many small deltas cost few reads.
// At most Limits::max_tool_stream_bytes per call are streamed (then one
// marker); the rest is only counted (the result keeps head and tail).
struct OutputStream {
  static constexpr std::size_t kFlushBytes = 4096;
  static constexpr std::size_t kMaxDelta = 16 * 1024;  // one event's delta, at most
  static constexpr std::chrono::milliseconds kFlushDelay{25};
  std::string call_id;
  sandbox::Stream stream = sandbox::Stream::stdout_;
  std::string pending;
  std::uint64_t streamed = 0;
  bool capped = false;
};

struct Run {
  std::string run_id;
  std::uint64_t serial = 0;  // the worker's run_serial when it started
  std::unique_ptr<engines::Turn> turn;
  std::shared_ptr<FlightText> flight;
  // The loop (ARCHITECTURE §12): step N is the N-th engine turn.
  std::uint64_t step = 0;
  std::size_t step_start = 0;   // where this step's text begins in flight->text
  bool step_recorded = false;   // its text_done and assistant item are appended
  std::vector<engines::Message> conversation;
  std::vector<engines::ToolSpec> offered;
  std::shared_ptr<const tools::Scope> scope;  // null: the view could not be opened
  std::optional<tools::ToolError> scope_error;
  std::vector<engines::ToolCall> calls;  // this step's, in order
  std::size_t next_call = 0;             // the first without a result
  std::uint64_t tool_token = 0;          // names the call on the pool
  engines::Usage usage;                  // summed over the run's steps
  // When calls[next_call] was handed to the pool (a cancel's result for it
  // reports how long it ran); unset while no call executes.
  std::optional<std::chrono::steady_clock::time_point> executing_since;
  // bash in flight (sandbox/): destroying the handle kills its process
  // group, so a Run never outlives its command.
  std::unique_ptr<sandbox::Handle> bash;
  std::optional<OutputStream> output;
  std::unique_ptr<boost::asio::steady_timer> flush_timer;  // armed while output waits
  bool flush_armed = false;
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

// The client_message_ids of a worker's latest inputs (at most `limit`),
// each with its acceptance: one hash lookup per input, where a scan of the
// window cost a comparison per remembered id (256 by default, and yoi-server
// gives every input an id: issue 22).
class DedupeWindow {
 public:
  const InputAccepted* find(const std::string& id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
  }
  // `a` carries an id not in the window (find() said so).
  void add(const InputAccepted& a, std::size_t limit) {
    order_.push_back(*a.client_message_id);
    by_id_.emplace(*a.client_message_id, a);
    while (order_.size() > limit) {
      by_id_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  std::unordered_map<std::string, InputAccepted> by_id_;
  std::deque<std::string> order_;  // oldest first
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
  DedupeWindow recent_inputs;  // client_message_id dedupe window
  std::filesystem::path home;  // host path of /work (never shown)
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
  // By name for the runtime's own profiles; by "DIGEST/NAME" for a config
  // bundle's (a '/' is never in a profile name), built at first use.
  std::map<std::string, engines::ProfileConfig, std::less<>> profiles;
  // Config bundles held (ARCHITECTURE §16), with their put order for GC,
  // and the puts in flight (a second put of the same digest waits for the
  // first: stored once).
  struct HeldBundle {
    profiles::Bundle bundle;
    std::uint64_t order = 0;
  };
  std::map<std::string, HeldBundle, std::less<>> bundles;
  std::map<std::string, std::vector<Callback<BundlePut>>, std::less<>> bundle_puts;
  std::uint64_t bundle_order = 0;
  std::vector<std::string> diagnostics;
  RuntimeStats stats;
  std::string scratch;  // add_delta's serialisation buffer (keeps its capacity)
  std::filesystem::path home_root;
  bool home_root_owned = false;  // a temporary root, removed with the runtime
  // Tool calls run here, never on the io thread; results are posted back.
  // Declared last: destroyed (stopped and joined) first.
  boost::asio::thread_pool pool{2};

  Impl(boost::asio::io_context& io, RuntimeOptions o, std::unique_ptr<store::Store> s)
      : io(io), opts(std::move(o)), store(std::move(s)) {}

  ~Impl() {
    pool.stop();  // calls not started are dropped; one running finishes
    pool.join();  // before the homes below are removed
    std::error_code ec;
    if (home_root_owned) std::filesystem::remove_all(home_root, ec);
  }

  // ---- config bundles (ARCHITECTURE §16) ----

  static std::string_view bundle_digest_of(const WorkerRecord& rec) {
    const auto* o = rec.config_bundle.if_object();
    const auto* d = o ? o->if_contains("digest") : nullptr;
    return d && d->is_string() ? std::string_view(d->get_string()) : std::string_view();
  }

  // The key of a worker's profile (and engine) in `profiles` / `engines`.
  static std::string profile_key(const WorkerRecord& rec) {
    auto digest = bundle_digest_of(rec);
    return digest.empty() ? rec.profile : fmt::format("{}/{}", digest, rec.profile);
  }

  // Makes profile `name` of held bundle `digest` usable: resolves the
  // variables it names on this host and builds its engine, once.
  // bundle_missing, invalid_request (no such profile, an unset variable).
  Result<void> use_bundle_profile(std::string_view digest, std::string_view name) {
    auto key = fmt::format("{}/{}", digest, name);
    if (profiles.count(key)) return {};
    auto held = bundles.find(digest);
    if (held == bundles.end())
      return fail(Code::bundle_missing, fmt::format("this runtime does not hold config bundle {}", digest));
    auto p = held->second.bundle.parsed.find(name);
    if (p == held->second.bundle.parsed.end())
      return fail(Code::invalid_request, fmt::format("config bundle {}… has no profile '{}'", digest.substr(0, 12), name));
    auto profile = p->second;
    if (auto r = profiles::resolve_env(profile, opts.getenv, false); !r) return fail(Code::invalid_request, r.error().message);
    auto engine = opts.engine_factory ? opts.engine_factory(io, profile) : engines::make_engine(io, profile);
    if (!engine) return fail(Code::invalid_request, fmt::format("profile '{}' cannot run here: {}", name, engine.error().message));
    engines[key] = std::move(*engine);
    profiles[key] = std::move(profile);
    return {};
  }

  BundleInfo bundle_info(const HeldBundle& h) const {
    BundleInfo info{h.bundle.digest, {}, 0};
    for (const auto& [name, p] : h.bundle.parsed) info.profiles.push_back(name);
    for (const auto& [id, w] : workers) info.workers += bundle_digest_of(w->record) == h.bundle.digest;
    return info;
  }

  // Garbage collection (RuntimeOptions::max_bundles): drops unused bundles,
  // oldest put first, until one more fits. False when every one is in use.
  bool make_room_for_bundle() {
    while (bundles.size() + bundle_puts.size() > opts.max_bundles) {
      const HeldBundle* oldest = nullptr;
      for (const auto& [d, h] : bundles)
        if (bundle_info(h).workers == 0 && (!oldest || h.order < oldest->order)) oldest = &h;
      if (!oldest) return false;
      std::string digest = oldest->bundle.digest;
      std::erase_if(profiles, [&](const auto& kv) { return kv.first.starts_with(digest + "/"); });
      std::erase_if(engines, [&](const auto& kv) { return kv.first.starts_with(digest + "/"); });
      bundles.erase(digest);
      store->drop_bundle(digest, [digest](Result<void> r) {
        if (!r) spdlog::warn("config bundle {}: dropping its file failed: {}", digest, r.error().message);
      });
    }
    return true;
  }

  // ---- homes (ARCHITECTURE §13) ----

  // Named by the incarnation (random, minted at create), never by the id.
  std::filesystem::path home_of(const WorkerRecord& rec) const {
    return home_root / ("h-" + (rec.incarnation.empty() ? worker_tag(rec.worker_id) : rec.incarnation));
  }

  Result<void> open_home_root() {
    std::error_code ec;
    if (opts.home_root.empty()) {
      auto base = std::filesystem::temp_directory_path(ec);
      if (ec) return fail(Code::store_io, "no temporary directory for worker homes: " + ec.message());
      std::string tmpl = (base / "yoi-homes-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) return fail(Code::store_io, "cannot create a directory for worker homes");
      home_root = tmpl;
      home_root_owned = true;
      return {};
    }
    home_root = opts.home_root;
    std::filesystem::create_directories(home_root, ec);
    if (ec) return fail(Code::store_io, "cannot create the homes directory: " + ec.message());
    return {};
  }

  // At open: a home whose worker is gone (deleted, or never committed,
  // when the process died in between) is removed; a live worker's missing
  // home is made again.
  void sweep_homes() {
    std::set<std::string> live;
    for (const auto& [id, w] : workers) live.insert(w->home.filename().string());
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(home_root, ec)) {
      if (live.count(e.path().filename().string())) continue;
      std::error_code rm;
      std::filesystem::remove_all(e.path(), rm);
      diagnostics.push_back("removed the home of a deleted worker");
    }
    for (const auto& [id, w] : workers) std::filesystem::create_directories(w->home, ec);
  }

  // Validates a create's workspace_refs against the configured workspaces
  // (ARCHITECTURE §13): invalid_request naming the first bad one.
  Result<void> check_workspace_refs(const bj::array& refs) const {
    std::set<std::string, std::less<>> seen;
    for (const auto& ref : refs) {
      if (!ref.is_object()) return fail(Code::invalid_request, "workspace_refs: each entry must be an object {name, access}");
      const auto& o = ref.get_object();
      for (const auto& kv : o)
        if (kv.key() != "name" && kv.key() != "access")
          return fail(Code::invalid_request, fmt::format("workspace_refs: unknown field '{}'", tools::utf8_prefix(kv.key(), 64)));
      auto name = yoi::json::str_or_empty(o, "name");
      auto access = yoi::json::str_or_empty(o, "access");
      auto ws = opts.workspaces.find(name);
      if (ws == opts.workspaces.end())
        return fail(Code::invalid_request, fmt::format("workspace_refs: unknown workspace '{}'", tools::utf8_prefix(name, 64)));
      if (access != "read" && access != "write")
        return fail(Code::invalid_request, fmt::format("workspace_refs: workspace '{}': access must be \"read\" or \"write\"", name));
      if (access == "write" && ws->second.access != "write")
        return fail(Code::invalid_request, fmt::format("workspace_refs: workspace '{}' is granted read-only", name));
      if (!seen.insert(std::string(name)).second)
        return fail(Code::invalid_request, fmt::format("workspace_refs: workspace '{}' is named twice", name));
    }
    return {};
  }

  // The configured profile names for an "unknown profile" error, in order,
  // bounded (at most 20 names and about 200 characters, then "…") so the
  // message passes through yoi-server whole.
  std::string profile_list() const {
    constexpr std::size_t kMaxNames = 20, kMaxChars = 200;
    std::string out;
    std::size_t n = 0;
    for (const auto& [name, p] : profiles) {
      if (name.find('/') != std::string::npos) continue;  // a bundle's
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
    w->home = home_of(rec);
    w->history = worker_history(epoch, rec.incarnation);
    w->record = std::move(rec);
    w->pub.status = w->record.status;
    w->subscribers = std::make_shared<SubscriberList>();
    w->log = *log;
    w->log->context = w.get();
    return w;
  }

  // ---- runs (ARCHITECTURE §12: a loop of steps) ----

  // The conversation before a new input: the last history_messages
  // transcript items, the window's start moved forward past tool items
  // whose assistant call fell outside it, and each assistant message
  // keeping only the calls answered in the window — a call is never sent
  // without its result.
  std::vector<engines::Message> history(const WorkerState& w, const engines::ProfileConfig& profile) {
    std::uint64_t before = w.transcript_total - 1;  // the user item just added
    return history_before(w, profile, std::min(before, w.pub.transcript_total));
  }

  // Transcript items [start, start + n) as stored (unreadable ones skipped).
  std::vector<TranscriptItem> read_items(const WorkerState& w, std::uint64_t start, std::uint64_t n) const {
    std::vector<TranscriptItem> out;
    auto items = store->read_transcript(w.record.worker_id, start, n);
    if (!items) return out;
    out.reserve(items->size());
    // One parser for the page, every item's DOM in one arena dropped at the
    // end: a history window (read on every input) costs a few allocations,
    // not several per item.
    unsigned char first_block[8192];
    bj::monotonic_resource arena(first_block, sizeof first_block);
    bj::parse_options opts;
    opts.max_depth = 32;
    bj::parser parser(bj::storage_ptr(), opts);
    for (const auto& rec : *items) {
      parser.reset(&arena);
      boost::system::error_code ec;
      parser.write(rec.json, ec);
      if (ec) continue;
      if (auto item = wire::transcript_item_from_json(parser.release())) out.push_back(std::move(*item));
    }
    return out;
  }

  // The history window that ends before transcript item `end`.
  std::vector<engines::Message> history_before(const WorkerState& w, const engines::ProfileConfig& profile,
                                               std::uint64_t end) {
    std::vector<engines::Message> out;
    std::uint64_t n = std::min<std::uint64_t>(end, profile.history_messages);
    if (n == 0) return out;
    std::vector<TranscriptItem> window = read_items(w, end - n, n);
    std::size_t first = 0;
    while (first < window.size() && window[first].role == "tool") ++first;
    for (std::size_t i = first; i < window.size(); ++i) {
      const auto& it = window[i];
      if (it.role == "tool") {
        out.push_back(tool_message(it.call_id, it.name, it.content));
        continue;
      }
      engines::Message m{it.role, it.content};
      for (const auto& c : it.tool_calls) {
        bool answered = false;
        for (std::size_t j = i + 1; j < window.size() && window[j].role == "tool" && !answered; ++j)
          answered = window[j].call_id == c.call_id;
        if (answered) m.tool_calls.push_back(engines::ToolCall{c.call_id, c.name, c.arguments});
      }
      // A run cancelled or failed before any text leaves an empty reply
      // item; an engine is not shown an empty assistant message.
      if (m.role == "assistant" && m.content.empty() && m.tool_calls.empty()) continue;
      out.push_back(std::move(m));
    }
    return out;
  }

  static engines::Message tool_message(std::string call_id, std::string name, std::string content) {
    engines::Message m{"tool", std::move(content)};
    m.tool_call_id = std::move(call_id);
    m.name = std::move(name);
    return m;
  }

  // What the model reads of a result: the output, or "error: <code>: <message>".
  static std::string model_text(const wire::ToolOutcome& r) {
    if (r.exit_code) {  // bash: the model reads the status after the output
      std::string s = r.output;
      if (!s.empty() && s.back() != '\n') s += '\n';
      return s + fmt::format("[exit code: {}]", *r.exit_code);
    }
    if (r.ok) return r.output;
    std::string s = "error: " + (r.error ? r.error->first + ": " + r.error->second : std::string("tool_failed"));
    return r.output.empty() ? s : s + "\n" + r.output;
  }

  // The worker's view (ARCHITECTURE §13): its home at /work and its
  // workspace_refs at /workspaces/NAME.
  tools::ViewSpec view_of(const WorkerState& w) const {
    tools::ViewSpec v;
    v.home_host_path = w.home.string();
    for (const auto& ref : w.record.workspace_refs) {
      if (!ref.is_object()) continue;
      std::string name(yoi::json::str_or_empty(ref.get_object(), "name"));
      auto ws = opts.workspaces.find(name);
      if (ws == opts.workspaces.end()) continue;
      bool write = yoi::json::str_or_empty(ref.get_object(), "access") == "write" && ws->second.access == "write";
      v.mounts.push_back(tools::MountSpec{name, ws->second.path, write ? tools::Access::write : tools::Access::read});
    }
    return v;
  }

  // Starts run `run_id` of `w` (its input is accepted): the first step.
  void start_run(WorkerState& w, std::string content) {
    const auto& profile = profiles.find(profile_key(w.record))->second;
    Run& run = *w.run;
    run.conversation = history(w, profile);
    run.conversation.push_back(engines::Message{"user", std::move(content)});
    offer_tools(w, profile);
    ++stats.runs_started;
    ++stats.runs_active;
    next_step(w);
  }

  // The profile's tools and the worker's view for the run in flight.
  void offer_tools(WorkerState& w, const engines::ProfileConfig& profile) {
    Run& run = *w.run;
    for (const auto& name : profile.tools)
      if (const auto* s = tools::find_spec(name))
        run.offered.push_back(engines::ToolSpec{std::string(s->name), std::string(s->description),
                                                std::string(s->parameters)});
    if (!run.offered.empty()) {
      auto scope = tools::Scope::open(view_of(w));
      if (scope) run.scope = std::make_shared<const tools::Scope>(std::move(*scope));
      else run.scope_error = scope.error();
    }
  }

  // ---- approvals (ARCHITECTURE §15) ----

  // `ask`: the run waits for a person, holding no thread and no engine turn
  // (the step's turn is over): the worker is awaiting_approval until the
  // approval route answers, or a cancel or stop denies the call.
  void park(WorkerState& w, const tools::Decision& d) {
    Run& run = *w.run;
    const auto& call = run.calls[run.next_call];
    PendingApproval a;
    a.run_id = run.run_id;
    a.call_id = call.call_id;
    a.name = call.name;
    a.arguments = call.arguments;
    a.requested_at_ms = opts.clock->now_ms();
    a.rule = tools::rule_to_json(d.rule);
    a.rule["source"] = tools::source_name(d.source);
    Publish p;
    std::uint64_t seq = add_event(w, wire::event::approval_requested(a));
    for (auto& c : run.flight->calls)
      if (c.call.call_id == call.call_id && c.resolved == UINT64_MAX) c.asked = seq;
    w.record.pending_approvals.push_back(std::move(a));
    set_status(w, p, WorkerStatus::awaiting_approval);
    ++stats.approvals_requested;
    commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p), nullptr);
  }

  // Takes pending approval `index` out with outcome `out`: its
  // approval_resolved event, the record of the answer, and the rule a
  // "remember" adds. The caller commits.
  void resolve(WorkerState& w, std::size_t index, const ApprovalOutcome& out) {
    auto& pending = w.record.pending_approvals;
    PendingApproval a = std::move(pending[index]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(index));
    std::uint64_t seq = add_event(w, wire::event::approval_resolved(out));
    if (w.run)
      for (auto& c : w.run->flight->calls)
        if (c.call.call_id == out.call_id && c.answered == UINT64_MAX) c.answered = seq;
    auto& resolved = w.record.resolved_approvals;
    resolved.push_back(out);
    if (resolved.size() > opts.limits.max_resolved_approvals) resolved.erase(resolved.begin());
    if (out.remember) {
      auto args = yoi::json::parse_object(a.arguments, 1u << 20);
      std::string arg = args ? tools::main_argument(a.name, *args) : std::string();
      tools::Rule rule{a.name, tools::exact_pattern(a.name, arg), tools::Action::allow};
      auto& rules = w.record.remembered_rules;
      if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
        rules.push_back(std::move(rule));
        if (rules.size() > opts.limits.max_remembered_rules) rules.erase(rules.begin());
      }
    }
    if (out.decision == "approved") ++stats.approvals_approved;
    else ++stats.approvals_denied;
    stats.approval_wait_ms += static_cast<std::uint64_t>(std::max<std::int64_t>(0, opts.clock->now_ms() - a.requested_at_ms));
  }

  static wire::ToolOutcome denied_outcome(const std::optional<std::string>& reason) {
    wire::ToolOutcome r;
    r.error = std::pair{std::string(tools::code_name(tools::ToolCode::denied)),
                        reason ? "a person denied this call: " + *reason : std::string("a person denied this call")};
    return r;
  }

  // After a restart: the run parked on an approval is rebuilt — its step's
  // calls without a result, the conversation from the transcript (the
  // history before its input, then its own items) — and waits again.
  void resume_parked(WorkerState& w) {
    const auto& profile = profiles.find(profile_key(w.record))->second;
    std::string run_id = w.record.current_run_id.value_or("unknown");
    w.run = std::make_unique<Run>();
    Run& run = *w.run;
    run.run_id = run_id;
    run.serial = ++w.run_serial;
    run.flight = std::make_shared<FlightText>();
    run.flight->run_id = run_id;
    run.step = std::max<std::uint64_t>(w.record.run_step, 1);
    run.step_recorded = true;
    run.flight->steps.emplace_back(0, run.step);
    for (const auto& c : w.record.pending_calls) {
      run.calls.push_back(engines::ToolCall{c.call_id, c.name, c.arguments});
      FlightText::Call fc{ToolCallRef{c.call_id, c.name, c.arguments}, 0};
      for (const auto& a : w.record.pending_approvals)
        if (a.call_id == c.call_id) fc.asked = 0;
      run.flight->calls.push_back(std::move(fc));
    }
    w.pub.flight = run.flight;
    run.conversation = run_conversation(w, profile, run_id);
    offer_tools(w, profile);
    ++stats.runs_active;
  }

  // The conversation of run `run_id` so far, from the transcript: the
  // history before its user item, then every item of the run (the calls of
  // its last step without their results: those come next).
  std::vector<engines::Message> run_conversation(const WorkerState& w, const engines::ProfileConfig& profile,
                                                 std::string_view run_id) {
    // The run's items are the last ones: read back in pages until its user
    // item (or another run's item: then the history starts there).
    constexpr std::uint64_t kPage = 64;
    std::uint64_t end = w.transcript_total, start = w.transcript_total;
    std::vector<TranscriptItem> run_items;
    for (bool found = false; end > 0 && !found; end = end > kPage ? end - kPage : 0) {
      std::uint64_t from = end > kPage ? end - kPage : 0;
      auto items = read_items(w, from, end - from);
      for (std::size_t i = items.size(); i-- > 0 && !found;) {
        if (items[i].run_id != run_id) {
          found = true;
          break;
        }
        start = items[i].index;
        found = items[i].role == "user";
        run_items.insert(run_items.begin(), std::move(items[i]));
      }
    }
    std::vector<engines::Message> out = history_before(w, profile, start);
    for (const auto& it : run_items) {
      if (it.role == "tool") {
        out.push_back(tool_message(it.call_id, it.name, it.content));
        continue;
      }
      engines::Message m{it.role, it.content};
      for (const auto& c : it.tool_calls) m.tool_calls.push_back(engines::ToolCall{c.call_id, c.name, c.arguments});
      out.push_back(std::move(m));
    }
    return out;
  }

  // A handle that finds the run again from a completion: empty once the
  // runtime, the worker or this run is gone.
  auto current_of(WorkerState& w) {
    std::weak_ptr<Impl> weak = weak_from_this();
    WorkerState* ws = &w;
    std::weak_ptr<const bool> life = w.life;
    std::uint64_t serial = w.run->serial;
    return [weak, ws, life, serial]() -> std::pair<std::shared_ptr<Impl>, WorkerState*> {
      auto self = weak.lock();
      if (!self || life.expired() || !ws->run || ws->run->serial != serial) return {nullptr, nullptr};
      return {std::move(self), ws};
    };
  }

  void next_step(WorkerState& w) {
    Run& run = *w.run;
    ++run.step;
    w.record.run_step = run.step;
    run.step_start = run.flight->text.size();
    run.step_recorded = false;
    run.calls.clear();
    run.next_call = 0;
    run.flight->steps.emplace_back(w.last_seq, run.step);
    std::erase_if(run.flight->calls, [&](const FlightText::Call& c) { return c.resolved <= w.pub.seq; });
    auto engine = engines.find(profile_key(w.record))->second;
    auto current = current_of(w);
    engines::TurnHandlers h;
    h.on_delta = [current](std::string_view delta) {
      auto [self, w] = current();
      if (!w || delta.empty()) return;
      FlightText& f = *w->run->flight;
      // The reply stops at max_reply_bytes, on a character's boundary.
      const auto limit = self->opts.limits.max_reply_bytes;
      const bool over = f.text.size() + delta.size() > limit;
      if (over) delta = tools::utf8_prefix(delta, limit - std::min(limit, f.text.size()));
      if (!delta.empty()) {
        f.text += delta;
        std::uint64_t seq = self->add_delta(*w, f.run_id, delta);
        f.marks.emplace_back(seq, f.text.size());
        self->commit(*w, std::nullopt, Publish{}, nullptr);
      }
      if (over)
        self->finish_run(*w, "failed",
                         Error{Code::payload_too_large,
                               fmt::format("the model's reply exceeds max_reply_bytes ({} bytes)", limit)},
                         std::nullopt, WorkerStatus::idle, nullptr);
    };
    h.on_usage = [current](const engines::Usage& u) {
      auto [self, w] = current();
      if (!w) return;
      // Engines report a turn's usage; a run's is the sum over its steps.
      Run& run = *w->run;
      run.usage.input_tokens += u.input_tokens;
      run.usage.output_tokens += u.output_tokens;
      self->add_event(*w, wire::event::usage(run.run_id, run.step, run.usage.input_tokens, run.usage.output_tokens));
      self->commit(*w, std::nullopt, Publish{}, nullptr);
    };
    h.on_done = [current](Result<engines::TurnEnd> r) {
      auto [self, w] = current();
      if (!w) return;
      if (!r) return self->finish_run(*w, "failed", r.error(), std::nullopt, WorkerStatus::idle, nullptr);
      if (r->tool_calls.empty())
        return self->finish_run(*w, "completed", std::nullopt, std::nullopt, WorkerStatus::idle, nullptr);
      self->end_step_with_calls(*w, std::move(r->tool_calls));
    };
    run.turn = engine->start(run.conversation, run.offered, std::move(h));
  }

  // The step's text_done and, when it called tools, its assistant item.
  void record_step(WorkerState& w, std::vector<ToolCallRef> calls, Publish& p) {
    Run& run = *w.run;
    if (run.step_recorded) return;
    run.step_recorded = true;
    std::string text = run.flight->text.substr(run.step_start);
    add_event(w, wire::event::text_done(run.run_id, run.step, text));
    if (calls.empty()) return;
    TranscriptItem item;
    item.seq = w.last_seq;
    item.role = "assistant";
    item.content = std::move(text);
    item.run_id = run.run_id;
    item.tool_calls = std::move(calls);
    add_transcript(w, std::move(item));
    ++p.transcript_added;
  }

  void end_step_with_calls(WorkerState& w, std::vector<engines::ToolCall> calls) {
    Run& run = *w.run;
    std::shared_ptr<engines::Turn> turn(std::move(run.turn));
    boost::asio::post(io, [turn] {});  // our caller: destroy it on a later io turn
    std::vector<ToolCallRef> refs;
    for (const auto& c : calls) refs.push_back(ToolCallRef{c.call_id, c.name, c.arguments});
    Publish p;
    record_step(w, refs, p);
    engines::Message said{"assistant", run.flight->text.substr(run.step_start)};
    said.tool_calls = calls;
    run.conversation.push_back(std::move(said));
    w.record.pending_calls.clear();
    for (const auto& c : refs) {
      std::uint64_t seq = add_event(w, wire::event::tool_call(run.run_id, run.step, c));
      run.flight->calls.push_back(FlightText::Call{c, seq});
      w.record.pending_calls.push_back(PendingCall{c.call_id, c.name, c.arguments});
    }
    run.calls = std::move(calls);
    run.next_call = 0;
    commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p), nullptr);
    run_next_call(w);
  }

  // A new token for calls[next_call] and the function that hands its
  // result to on_tool_result — unless the run ended or moved on first.
  auto deliverer(WorkerState& w) {
    std::uint64_t token = ++w.run->tool_token;
    auto deliver = [current = current_of(w), token](wire::ToolOutcome outcome) {
      auto [self, w] = current();
      if (!w || w->run->tool_token != token) return;  // the run ended: dropped
      self->on_tool_result(*w, std::move(outcome));
    };
    return std::pair{token, std::move(deliver)};
  }

  // A call's result known before anything runs: delivered on a later io turn
  // (never from inside the caller).
  template <class Deliver>
  void refuse_later(Deliver deliver, tools::ToolError e) {
    wire::ToolOutcome r;
    r.error = std::pair{std::string(tools::code_name(e.code)), std::move(e.message)};
    boost::asio::post(io, [deliver = std::move(deliver), r = std::move(r)]() mutable { deliver(std::move(r)); });
  }

  // Executes the next call of the step on the pool (never on the io
  // thread), or, when every call has its result, starts the next step.
  void run_next_call(WorkerState& w) {
    Run& run = *w.run;
    const auto& profile = profiles.find(profile_key(w.record))->second;
    if (run.next_call == run.calls.size()) {
      if (run.step >= profile.max_steps)
        return finish_run(w, "failed",
                          Error{Code::max_steps_exceeded,
                                fmt::format("the run reached its profile's max_steps ({})", profile.max_steps)},
                          std::nullopt, WorkerStatus::idle, nullptr);
      return next_step(w);
    }
    const auto& call = run.calls[run.next_call];
    auto deliver = deliverer(w).second;
    auto refuse = [&](tools::ToolError e) { refuse_later(deliver, std::move(e)); };
    bool offered = false;
    for (const auto& t : run.offered) offered = offered || t.name == call.name;
    if (!offered)
      return refuse({tools::ToolCode::unknown_tool,
                     fmt::format("no tool '{}' is offered to this worker", tools::utf8_prefix(call.name, 64))});
    if (!run.scope) return refuse(*run.scope_error);
    // The policy (ARCHITECTURE §15). Arguments that are not an object are
    // left to the tool, which refuses them without acting.
    auto args = yoi::json::parse_object(call.arguments, 1u << 20);
    if (args) {
      auto d = tools::decide(w.record.remembered_rules, profile.permissions, call.name,
                             tools::main_argument(call.name, *args));
      if (d.action == tools::Action::deny)
        return refuse({tools::ToolCode::denied, fmt::format("the worker's permissions deny this call ({} rule: {})",
                                                            tools::source_name(d.source), describe(d.rule))});
      if (d.action == tools::Action::ask) return park(w, d);
    }
    execute(w);
  }

  static std::string describe(const tools::Rule& r) {
    return fmt::format("{}{}{} {}", r.tool, r.pattern ? " " : "", r.pattern ? tools::utf8_prefix(*r.pattern, 200) : "",
                       tools::action_name(r.action));
  }

  // Hands calls[next_call] to the pool (never run on the io thread); its
  // result comes back through on_tool_result.
  void execute(WorkerState& w) {
    Run& run = *w.run;
    const auto& call = run.calls[run.next_call];
    auto handle = deliverer(w);  // no structured binding: lambdas below capture it
    auto deliver = std::move(handle.second);
    if (call.name == "bash") return run_bash(w, call, handle.first, deliver);
    tools::Limits limits;
    limits.max_output_bytes = opts.limits.max_tool_output_bytes;
    run.executing_since = std::chrono::steady_clock::now();
    boost::asio::post(pool, [this_io = &io, scope = run.scope, name = call.name, args = call.arguments, limits,
                             deliver]() mutable {
      auto started = std::chrono::steady_clock::now();
      tools::ToolResult r;
      // Arguments are the model's text: bounded, parsed here, an object.
      auto parsed = yoi::json::parse(args, limits.max_file_bytes + 64 * 1024);
      if (!parsed || !parsed->is_object()) {
        r.error = tools::ToolError{tools::ToolCode::invalid_arguments,
                                   parsed ? "arguments must be a JSON object"
                                          : "arguments are not valid JSON: " + parsed.error().message};
      } else {
        r = tools::run(name, *scope, parsed->get_object(), limits);
      }
      wire::ToolOutcome out{r.ok, std::move(r.output), r.truncated, std::nullopt, 0, std::nullopt};
      if (r.error) out.error = std::pair{std::string(tools::code_name(r.error->code)), std::move(r.error->message)};
      out.duration_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started).count());
      boost::asio::post(*this_io, [deliver, out = std::move(out)]() mutable { deliver(std::move(out)); });
    });
  }

  // bash (ARCHITECTURE §14): started on io by the sandbox runner (not the
  // pool: nothing blocks); output becomes tool_output events, the outcome
  // the call's result. A call that ends the run first (cancel, stop,
  // shutdown) drops the handle, which kills the command.
  template <class Deliver>
  void run_bash(WorkerState& w, const engines::ToolCall& call, std::uint64_t token, Deliver deliver) {
    Run& run = *w.run;
    const auto& profile = profiles.find(profile_key(w.record))->second;
    auto refuse = [&](tools::ToolError e) { refuse_later(deliver, std::move(e)); };
    auto parsed = yoi::json::parse(call.arguments, tools::kMaxBashCommandBytes + 64 * 1024);
    if (!parsed || !parsed->is_object())
      return refuse({tools::ToolCode::invalid_arguments,
                     parsed ? "arguments must be a JSON object" : "arguments are not valid JSON: " + parsed.error().message});
    auto args = tools::bash_arguments(parsed->get_object());
    if (!args) return refuse(args.error());
    sandbox::Command cmd;
    cmd.command = std::move(args->command);
    cmd.view = view_of(w);
    cmd.timeout = std::min(std::chrono::milliseconds(args->timeout_ms.value_or(120'000)), profile.max_bash_timeout);
    cmd.max_output_bytes = opts.limits.max_tool_output_bytes;
    sandbox::Policy policy{profile.sandbox == "none" ? sandbox::Mode::none : sandbox::Mode::bwrap, profile.network,
                           opts.bwrap_path, opts.sandbox_hidden};
    run.output.emplace();
    run.output->call_id = call.call_id;
    run.executing_since = std::chrono::steady_clock::now();
    auto current = current_of(w);
    auto started = *run.executing_since;
    run.bash = sandbox::run(
        io, policy, std::move(cmd),
        [current, token](sandbox::Stream s, std::string_view bytes) {
          auto [self, w] = current();
          if (!w || w->run->tool_token != token) return;
          self->on_bash_output(*w, s, bytes);
        },
        [current, token, started, deliver](sandbox::Outcome o) {
          auto [self, w] = current();
          if (!w || w->run->tool_token != token) return;
          self->flush_output(*w, true);
          // Our caller is the handle's runner: drop it on a later io turn.
          boost::asio::post(self->io, [h = std::shared_ptr<sandbox::Handle>(std::move(w->run->bash))] {});
          w->run->output.reset();
          wire::ToolOutcome r{!o.error, std::move(o.output), o.truncated, std::nullopt, 0, o.exit_code};
          if (o.error) r.error = std::pair{std::string(tools::code_name(o.error->code)), std::move(o.error->message)};
          r.duration_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started).count());
          deliver(std::move(r));
        });
  }

  void on_bash_output(WorkerState& w, sandbox::Stream s, std::string_view bytes) {
    Run& run = *w.run;
    auto& out = *run.output;
    if (out.capped) return;
    if (!out.pending.empty() && s != out.stream) flush_output(w, true);
    out.stream = s;
    std::size_t cap = opts.limits.max_tool_stream_bytes;
    std::size_t room = cap - std::min<std::size_t>(cap, out.streamed + out.pending.size());
    out.pending.append(bytes.substr(0, room));
    if (bytes.size() > room) {
      flush_output(w, true);
      out.capped = true;
      add_event(w, wire::event::tool_output(run.run_id, out.call_id, sandbox::stream_name(s),
                                            fmt::format("\n… [output past {} bytes is not streamed; the result keeps "
                                                        "its head and tail] …\n", cap)));
      commit(w, std::nullopt, Publish{}, nullptr);
      return;
    }
    if (out.pending.size() >= OutputStream::kFlushBytes) return flush_output(w, false);
    if (run.flush_armed) return;
    if (!run.flush_timer) run.flush_timer = std::make_unique<boost::asio::steady_timer>(io);
    run.flush_armed = true;
    run.flush_timer->expires_after(OutputStream::kFlushDelay);
    run.flush_timer->async_wait([current = current_of(w)](boost::system::error_code ec) {
      if (ec) return;
      auto [self, w] = current();
      if (!w || !w->run->output) return;
      w->run->flush_armed = false;
      self->flush_output(*w, true);
    });
  }

  // Appends the pending output as tool_output events (each valid UTF-8;
  // unless `all`, an incomplete sequence at the end waits for its rest).
  void flush_output(WorkerState& w, bool all) {
    Run& run = *w.run;
    if (!run.output || run.output->pending.empty()) return;
    auto& out = *run.output;
    std::string_view pending = out.pending;
    std::size_t take = all ? pending.size() : tools::utf8_complete_prefix(pending);
    std::string_view rest = pending.substr(0, take);
    while (!rest.empty()) {
      auto piece = tools::utf8_prefix(rest, OutputStream::kMaxDelta);
      if (piece.empty()) piece = rest.substr(0, std::min(rest.size(), OutputStream::kMaxDelta));
      add_event(w, wire::event::tool_output(run.run_id, out.call_id, sandbox::stream_name(out.stream),
                                            tools::valid_utf8_copy(piece)));
      rest.remove_prefix(piece.size());
    }
    out.streamed += take;
    out.pending.erase(0, take);
    commit(w, std::nullopt, Publish{}, nullptr);
  }

  // Appends the result of the call being executed (or, closing a run, of an
  // unresolved one): its tool_result event and its tool item.
  void add_tool_result(WorkerState& w, const engines::ToolCall& call, const wire::ToolOutcome& r, Publish& p) {
    Run& run = *w.run;
    std::uint64_t seq = add_event(w, wire::event::tool_result(run.run_id, call.call_id, call.name, r));
    for (auto& c : run.flight->calls)
      if (c.call.call_id == call.call_id && c.resolved == UINT64_MAX) c.resolved = seq;
    TranscriptItem item;
    item.seq = seq;
    item.role = "tool";
    item.content = model_text(r);
    item.run_id = run.run_id;
    item.call_id = call.call_id;
    item.name = call.name;
    item.ok = r.ok;
    item.tool_error = r.error;
    item.duration_ms = r.duration_ms;
    run.conversation.push_back(tool_message(call.call_id, call.name, item.content));
    add_transcript(w, std::move(item));
    ++p.transcript_added;
    if (!w.record.pending_calls.empty()) w.record.pending_calls.erase(w.record.pending_calls.begin());
  }

  void on_tool_result(WorkerState& w, wire::ToolOutcome r) {
    Run& run = *w.run;
    Publish p;
    run.executing_since.reset();
    add_tool_result(w, run.calls[run.next_call++], r, p);
    commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p), nullptr);
    run_next_call(w);
  }

  // Closes the run in flight with `result`, keeping its partial reply and
  // the results already in, and moves the worker to `next` (idle, or
  // stopped when stopping). A call without a result gets one (`cancelled`,
  // or `interrupted` after a restart) so no call is left half-recorded; a
  // tool still running on the pool finishes there and its result is
  // dropped. Appends its events and commits.
  void finish_run(WorkerState& w, std::string_view result, std::optional<Error> error,
                  std::optional<std::string> reason, WorkerStatus next,
                  std::function<void(Result<void>)> then) {
    Publish p;
    Run& live = *w.run;
    if (live.turn) live.turn->cancel();
    if (live.bash) {  // the command dies with the run (its process group)
      flush_output(w, true);
      live.bash.reset();
      live.output.reset();
    }
    // Cancel and stop deny every call waiting for a person (§15).
    std::set<std::string> denied;
    std::optional<std::string> why = reason ? reason : std::optional<std::string>(fmt::format("the run was {}", result));
    while (!w.record.pending_approvals.empty()) {
      const auto& a = w.record.pending_approvals.front();
      denied.insert(a.call_id);
      resolve(w, 0, ApprovalOutcome{a.run_id, a.call_id, "denied", why, false});
    }
    for (; live.next_call < live.calls.size(); ++live.next_call) {
      bool restart = error && error->code == Code::interrupted;
      auto code = restart ? tools::ToolCode::interrupted : tools::ToolCode::cancelled;
      wire::ToolOutcome r;
      r.error = std::pair{std::string(tools::code_name(code)),
                          restart ? "the runtime restarted while the call was executing"
                                  : fmt::format("the run was {} before the call finished", result)};
      if (denied.count(live.calls[live.next_call].call_id)) r = denied_outcome(why);
      if (live.executing_since) {  // the call on the pool: how long it ran until now
        r.duration_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - *live.executing_since).count());
        live.executing_since.reset();
      }
      add_tool_result(w, live.calls[live.next_call], r, p);
    }
    ++live.tool_token;  // a result still on its way is dropped
    w.record.pending_calls.clear();
    w.record.run_step = 0;
    bool had_text = !live.step_recorded;
    std::string text = had_text ? live.flight->text.substr(live.step_start) : std::string();
    record_step(w, {}, p);
    std::uint64_t steps = live.step;
    std::shared_ptr<Run> run(std::move(w.run));
    // The turn may be our caller (on_done): destroy it on a later io turn.
    boost::asio::post(io, [run] {});
    add_event(w, wire::event::run_finished(run->run_id, result, error, reason, steps));
    // Every run that ends leaves its reply item, empty or not, so a reader of
    // the transcript sees each input answered or marked cancelled / failed.
    TranscriptItem item;
    item.seq = w.last_seq;
    item.role = "assistant";
    item.content = std::move(text);
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
    // The home goes after the store's delete: a crash in between leaves an
    // orphan home, removed at the next open (sweep_homes).
    store->remove(gone->record.worker_id, [home = gone->home, done = std::move(done)](Result<void> r) {
      if (r) {
        std::error_code ec;
        std::filesystem::remove_all(home, ec);
      }
      done(std::move(r));
    });
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
  // A bash command in flight is killed with its process group (and pid
  // namespace): no command outlives the runtime.
  for (auto& [id, w] : impl_->workers) {
    if (w->run && w->run->turn) w->run->turn->cancel();
    if (w->run) w->run->bash.reset();
  }
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
    auto engine = impl->opts.engine_factory ? impl->opts.engine_factory(io, p) : engines::make_engine(io, p);
    if (!engine) return fail(engine.error());
    impl->engines[p.name] = std::move(*engine);
    impl->profiles[p.name] = p;
  }

  if (auto ok = impl->open_home_root(); !ok) return fail(ok.error());
  auto restored = impl->store->open();
  if (!restored) return fail(restored.error());
  impl->store->set_durable_listener([raw = impl.get()](store::Log& log, const Result<std::uint64_t>& r) {
    raw->on_durable(log, r);
  });
  impl->epoch = restored->epoch;
  impl->diagnostics = restored->diagnostics;
  for (auto& sb : restored->bundles) {
    auto body = yoi::json::parse(sb.json, sb.json.size() + 1);
    auto b = body ? profiles::parse_bundle(sb.digest, *body) : Result<profiles::Bundle>(fail(body.error()));
    if (!b) {
      impl->diagnostics.push_back(fmt::format("config bundle {}: not loaded: {}", sb.digest, b.error().message));
      continue;
    }
    impl->bundles[sb.digest] = Impl::HeldBundle{std::move(*b), ++impl->bundle_order};
  }
  for (const auto& p : impl->opts.profiles)
    if (p.sandbox == "none" && std::find(p.tools.begin(), p.tools.end(), "bash") != p.tools.end())
      impl->diagnostics.push_back(fmt::format(
          "WARNING: profile '{}' has sandbox = \"none\": its bash commands run UNSANDBOXED, with this runtime's "
          "user, files and network (ARCHITECTURE §14)", p.name));
  for (auto& rw : restored->workers) {
    auto doc = yoi::json::parse_object(rw.state, rw.state.size() + 1);
    if (!doc) return fail(Code::store_corrupt, fmt::format("worker '{}': state document: {}", rw.worker_id, doc.error().message));
    auto rec = wire::record_from_json(*doc);
    if (!rec) return fail(Code::store_corrupt, fmt::format("worker '{}': state document: {}", rw.worker_id, rec.error().message));
    if (rec->worker_id != rw.worker_id)
      return fail(Code::store_corrupt, fmt::format("worker '{}': state names another worker", rw.worker_id));
    if (auto digest = Impl::bundle_digest_of(*rec); !digest.empty()) {
      // Pinned to a bundle's profile: the same one after a restart.
      if (auto r = impl->use_bundle_profile(digest, rec->profile); !r) {
        impl->diagnostics.push_back(fmt::format("worker '{}': {}; using runtime_default", rw.worker_id, r.error().message));
        rec->config_bundle = nullptr;
        rec->profile = "runtime_default";
      }
    } else if (!impl->profiles.count(rec->profile)) {
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
      // Calls of the step in flight that have no result: each gets an
      // `interrupted` one (the step's text and calls are already recorded).
      for (const auto& c : ws.record.pending_calls) ws.run->calls.push_back(engines::ToolCall{c.call_id, c.name, {}});
      ws.run->step_recorded = !ws.run->calls.empty();
      ++impl->stats.runs_active;
      impl->diagnostics.push_back(
          fmt::format("worker '{}': run '{}' was interrupted by a restart", ws.record.worker_id, run_id));
      impl->finish_run(ws, "failed", Error{Code::interrupted, "the runtime restarted during the run"},
                       std::nullopt, WorkerStatus::idle, nullptr);
    } else if (ws.record.status == WorkerStatus::awaiting_approval) {
      // A parked run survives: it waits for its approval again (§15).
      impl->resume_parked(ws);
    }
  }
  impl->sweep_homes();
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
  s.worker_counts = {{"total", 0}, {"idle", 0}, {"running", 0}, {"awaiting_approval", 0}, {"stopped", 0}};
  for (const auto& [id, w] : impl_->workers) {
    ++s.worker_counts["total"];
    ++s.worker_counts[std::string(status_name(w->record.status))];
  }
  s.limits = impl_->opts.limits;
  s.capabilities = all_capabilities();
  for (const auto& [name, p] : impl_->profiles)
    if (name.find('/') == std::string::npos) s.profiles.push_back(name);  // not a bundle's
  for (const auto& [digest, held] : impl_->bundles) s.bundles.push_back(digest);
  for (const auto& [name, ws] : impl_->opts.workspaces) s.workspaces[name] = ws.access;
  return s;
}

void Runtime::put_bundle(std::string_view digest, const boost::json::value& body, Callback<BundlePut> done) {
  auto& im = *impl_;
  auto b = profiles::parse_bundle(digest, body);
  if (!b) return im.post_result(std::move(done), Result<BundlePut>(fail(b.error())));
  if (auto held = im.bundles.find(digest); held != im.bundles.end())
    return im.post_result(std::move(done), Result<BundlePut>(BundlePut{false, im.bundle_info(held->second)}));
  if (auto flight = im.bundle_puts.find(digest); flight != im.bundle_puts.end()) {
    flight->second.push_back(std::move(done));
    return;
  }
  auto text = boost::json::serialize(profiles::to_json(*b));
  if (text.size() > im.opts.max_bundle_bytes)
    return im.post_result(std::move(done), Result<BundlePut>(fail(
        Code::payload_too_large, fmt::format("a config bundle is limited to {} bytes", im.opts.max_bundle_bytes))));
  im.bundle_puts[std::string(digest)];  // counts toward max_bundles while in flight
  if (!im.make_room_for_bundle()) {
    im.bundle_puts.erase(std::string(digest));
    return im.post_result(std::move(done), Result<BundlePut>(fail(
        Code::limit_exceeded,
        fmt::format("this runtime holds its maximum of {} config bundles, all in use", im.opts.max_bundles))));
  }
  im.bundle_puts[std::string(digest)].push_back(std::move(done));
  std::weak_ptr<Impl> weak = impl_;
  im.store->put_bundle(std::string(digest), std::move(text),
                       [weak, digest = std::string(digest), b = std::make_shared<profiles::Bundle>(std::move(*b))](
                           Result<void> r) mutable {
                         auto self = weak.lock();
                         if (!self) return;
                         auto waiting = std::move(self->bundle_puts[digest]);
                         self->bundle_puts.erase(digest);
                         Result<BundlePut> out = fail(Code::store_io, "the bundle could not be stored");
                         if (r) {
                           auto& held = self->bundles[digest] = Impl::HeldBundle{std::move(*b), ++self->bundle_order};
                           out = BundlePut{true, self->bundle_info(held)};
                         } else {
                           spdlog::error("config bundle {}: {}", digest, r.error().message);
                         }
                         for (std::size_t i = 0; i < waiting.size(); ++i) {
                           auto each = out;
                           if (each && i > 0) each->created = false;  // stored once, by the first
                           waiting[i](std::move(each));
                         }
                       });
}

std::vector<BundleInfo> Runtime::bundles() const {
  std::vector<BundleInfo> out;
  for (const auto& [d, h] : impl_->bundles) out.push_back(impl_->bundle_info(h));
  return out;
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
  if (!req.config_bundle.is_null()) {
    const auto& digest = req.config_bundle.as_object().at("digest").as_string();
    if (auto r = im.use_bundle_profile(digest, req.profile); !r)
      return im.post_result(std::move(done), Result<WorkerDetail>(fail(r.error())));
  } else if (!im.profiles.count(req.profile))
    return im.post_result(std::move(done), Result<WorkerDetail>(fail(
        Code::invalid_request, fmt::format("unknown profile '{}' (profiles: {})", req.profile, im.profile_list()))));
  if (auto ok = im.check_workspace_refs(req.workspace_refs); !ok)
    return im.post_result(std::move(done), Result<WorkerDetail>(fail(ok.error())));
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
  {
    std::error_code ec;
    std::filesystem::create_directories(im.home_of(rec), ec);
    if (ec)
      return im.post_result(std::move(done), Result<WorkerDetail>(fail(Code::store_io, "cannot create the worker's home: " + ec.message())));
  }
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
    if (const auto* a = w.recent_inputs.find(*req.client_message_id)) {
      InputAccepted dup = *a;
      dup.duplicate = true;
      return im.post_result(std::move(done), Result<InputAccepted>(std::move(dup)));
    }
  }
  if (w.record.status == WorkerStatus::stopped)
    return im.post_result(std::move(done), Result<InputAccepted>(fail(
        Code::worker_stopped, fmt::format("worker '{}' is stopped", worker_id))));
  // New input is never consent: a parked run waits for the approval route.
  if (w.run)
    return im.post_result(std::move(done), Result<InputAccepted>(fail(
        Code::worker_busy,
        w.record.status == WorkerStatus::awaiting_approval
            ? fmt::format("worker '{}' is awaiting approval in '{}'; answer it or cancel the run", worker_id,
                          w.run->run_id)
            : fmt::format("worker '{}' is running '{}'", worker_id, w.run->run_id))));
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
  w.record.resolved_approvals.clear();  // answers are remembered for the current run only

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
  if (req.client_message_id) w.recent_inputs.add(accepted, im.opts.limits.dedupe_window);
  im.commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p),
            [accepted, done = std::move(done)](Result<void> r) {
    if (!r) return done(fail(r.error()));
    done(accepted);
  });
  // Engine output is committed after the acceptance, in order, so observers
  // never see a delta before its input.
  im.start_run(w, std::move(req.content));
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

void Runtime::approve(std::string_view worker_id, std::string_view call_id, ApprovalDecision d,
                      Callback<ApprovalOutcome> done) {
  auto& im = *impl_;
  auto found = im.lookup(worker_id);
  if (!found) return im.post_result(std::move(done), Result<ApprovalOutcome>(fail(found.error())));
  auto& w = **found;
  std::string decision = d.approve ? "approved" : "denied";
  auto& pending = w.record.pending_approvals;
  auto it = std::find_if(pending.begin(), pending.end(), [&](const PendingApproval& a) { return a.call_id == call_id; });
  if (it == pending.end()) {
    for (const auto& o : w.record.resolved_approvals) {
      if (o.call_id != call_id) continue;
      if (o.decision != decision)
        return im.post_result(std::move(done), Result<ApprovalOutcome>(fail(
            Code::approval_resolved, fmt::format("call '{}' was already {}", tools::utf8_prefix(call_id, 120), o.decision))));
      // The same answer again: the first one's outcome, once it is durable.
      return im.when_published(w, [o, done = std::move(done)](Result<void> r) {
        if (!r) return done(fail(r.error()));
        done(o);
      });
    }
    return im.post_result(std::move(done), Result<ApprovalOutcome>(fail(
        Code::approval_not_found,
        fmt::format("worker '{}' has no call '{}' awaiting approval", worker_id, tools::utf8_prefix(call_id, 120)))));
  }
  ApprovalOutcome out{it->run_id, it->call_id, decision, d.reason, d.approve && d.remember};
  Publish p;
  im.resolve(w, static_cast<std::size_t>(it - pending.begin()), out);
  im.set_status(w, p, WorkerStatus::running);
  im.commit(w, bj::serialize(wire::record_to_json(w.record)), std::move(p),
            [out, done = std::move(done)](Result<void> r) {
              if (!r) return done(fail(r.error()));
              done(out);
            });
  // The parked call is the next of its step: it runs, or the model reads
  // that it was denied (with the reason), and the run goes on.
  if (d.approve) im.execute(w);
  else im.on_tool_result(w, Impl::denied_outcome(d.reason));
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
  if (w.pub.flight) s.in_flight = w.pub.flight->view(w.pub.seq);
  std::uint64_t total = w.pub.transcript_total;
  std::uint64_t n = std::min<std::uint64_t>(total, im.opts.limits.snapshot_transcript_tail);
  if (n > 0) {
    auto page = transcript(worker_id, total - n, n);
    if (!page) return fail(page.error());
    // The newest items that fit the byte budget; older ones (and any item
    // bigger than the budget, with all before it) through the transcript
    // route.
    auto& items = page->items;
    std::size_t bytes = 0, keep = 0;
    for (auto it = items.rbegin(); it != items.rend(); ++it, ++keep) {
      bytes += it->content.size();
      for (const auto& call : it->tool_calls) bytes += call.arguments.size();
      if (bytes > im.opts.limits.snapshot_transcript_bytes) break;
    }
    items.erase(items.begin(), items.end() - static_cast<std::ptrdiff_t>(keep));
    s.transcript_tail = std::move(items);
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
