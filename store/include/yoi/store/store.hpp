#pragma once
// The store: durability of the runtime core's state (ARCHITECTURE §10). The
// core is the source of truth while running; the store keeps what it commits
// and gives it back on open().
//
// Records are opaque JSON documents to the store (the core owns their
// shape); the store only needs the numbers it indexes by: an event's `seq`
// and a transcript item's `index`, both of which are also inside the JSON.
//
// Threading: every method is called on the io thread. Completion callbacks
// are invoked on the io thread, never inline, in call order. Blocking file
// work (fsync) happens off the io thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/clock.hpp"
#include "yoi/error.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::store {

struct EventRecord {
  std::uint64_t seq = 0;
  std::string json;  // one event object; contains "seq"
};

struct TranscriptRecord {
  std::uint64_t index = 0;  // 0-based position in the worker's transcript
  std::string json;         // one transcript item; contains "index" and "seq"
};

// Everything one core operation writes for one worker, applied as a unit in
// call order. Events continue the worker's seq with no gap; transcript
// records continue its index.
struct Commit {
  std::string worker_id;
  std::optional<std::string> state;  // replaces the worker's state document atomically
  std::vector<EventRecord> events;
  std::vector<TranscriptRecord> transcript;
};

struct RestoredWorker {
  std::string worker_id;
  std::string state;               // the last committed state document
  std::uint64_t first_seq = 0;     // oldest retained event (0: none retained)
  std::uint64_t last_seq = 0;      // newest event (0: none ever)
  std::uint64_t transcript_total = 0;
};

// A config bundle as stored (ARCHITECTURE §16): opaque JSON by digest.
struct StoredBundle {
  std::string digest;
  std::string json;
};

struct Restored {
  std::string epoch;  // minted when the store was created; kept across restarts by fs
  std::vector<RestoredWorker> workers;
  std::vector<StoredBundle> bundles;  // fs only: every bundle put and not dropped
  std::vector<std::string> diagnostics;  // repairs made while opening (torn tails, ...)
};

struct EventRange {
  std::vector<EventRecord> events;  // seq > after, ascending, at most `limit`
  std::uint64_t first_seq = 0;      // oldest retained (0: none retained)
  std::uint64_t last_seq = 0;       // newest readable
};

struct RetentionLimits {
  std::size_t max_events = 100'000;  // per worker
  std::size_t max_bytes = 64u << 20;  // per worker, event JSON bytes
};

using Done = std::function<void(Result<void>)>;

// One worker's log, as the core appends to it (the hot path). Resolved once
// per worker with Store::log(); owned by the store and valid for its life.
//
// A commit is built by append()/append_transcript() calls and closed by
// commit(); it is applied as a unit (the fs store never acknowledges part of
// one). Appends copy the bytes into the store's per-worker buffer: no
// per-event allocation is needed by the caller.
//
// Durability is signalled by a watermark, not per commit: after commits
// become durable the store calls its DurableListener (on the io thread,
// never inline) once per log with the log's new durable seq, then runs any
// per-commit `done`s in call order. Readers never see past durable_seq().
class Log {
 public:
  virtual ~Log() = default;

  const std::string& worker_id() const { return worker_id_; }
  // Events with seq <= durable_seq() survive a crash (under the store's
  // policy) and are readable.
  std::uint64_t durable_seq() const { return durable_seq_; }
  // The newest seq appended (durable or not).
  std::uint64_t last_seq() const { return last_seq_; }

  // Adds one event to the open commit; `seq` must be last_seq() + 1 and
  // `event` one JSON object. A violation fails the whole commit at commit().
  virtual void append(std::uint64_t seq, std::string_view event) = 0;
  // Adds one transcript item (index continues the transcript).
  virtual void append_transcript(std::uint64_t index, std::string_view item) = 0;
  // Closes the open commit. `state` replaces the worker's state document
  // atomically with it. The first commit of a log creates the worker.
  // `done` (optional; the core passes none) runs once this commit is
  // durable or failed, after the listener has been told.
  virtual void commit(std::optional<std::string> state = std::nullopt, Done done = nullptr) = 0;

  // The core's own pointer, untouched by the store (the core keeps its
  // worker state here so a durability report needs no lookup by id).
  void* context = nullptr;

 protected:
  explicit Log(std::string worker_id) : worker_id_(std::move(worker_id)) {}
  std::string worker_id_;
  std::uint64_t durable_seq_ = 0;
  std::uint64_t last_seq_ = 0;
};

// Told, once per log per completion round, that the log's durable seq
// advanced to the given value, or that a commit of that log failed (then
// the error; the failed commit and everything after it in that log are not
// durable, and under the fs store every later commit fails as well).
using DurableListener = std::function<void(Log& log, const Result<std::uint64_t>& durable_seq)>;

class Store {
 public:
  virtual ~Store() = default;

  // The log of `worker_id`, created (empty, not yet on disk) when unknown;
  // restored workers have theirs after open(). invalid_id for a bad id.
  virtual Result<Log*> log(std::string_view worker_id) = 0;

  // The one listener for durability reports (replaces any earlier one).
  virtual void set_durable_listener(DurableListener listener) = 0;

  // Opens (or creates) the store and returns its epoch and every worker.
  // Called once, before anything else; synchronous (start-up, not serving).
  // Errors: store_corrupt (naming file and line), store_io.
  virtual Result<Restored> open() = 0;

  // Applies `commit` through its worker's Log (a convenience for tests and
  // tools; the core appends to Logs directly). `done` runs once it is
  // durable under the store's policy. Readers see a commit's events and
  // transcript only after it is durable, so nothing observable is ever lost
  // by a crash.
  void commit(Commit commit, Done done);

  // Events with seq > after_seq, oldest first, at most `limit`. Bounded: never
  // reads a whole log. Unknown worker: worker_not_found.
  virtual Result<EventRange> read_events(std::string_view worker_id, std::uint64_t after_seq,
                                         std::size_t limit) = 0;

  // Transcript records [start, start + limit). Bounded likewise.
  virtual Result<std::vector<TranscriptRecord>> read_transcript(std::string_view worker_id,
                                                                std::uint64_t start,
                                                                std::size_t limit) = 0;

  // Makes every commit so far durable (shutdown).
  virtual void flush(Done done) = 0;

  // Removes a worker: its log, state and transcript (ARCHITECTURE §17).
  // Ordered after every commit already made to it; its Log handle is dead
  // once this returns (reports already in flight may still name it: clear
  // Log::context first and ignore them). A later log(id) starts a new, empty
  // worker. `done` runs once the removal is durable; a crash leaves the
  // whole worker or nothing (fs: README, "Removing a worker").
  // Unknown worker: worker_not_found.
  virtual void remove(std::string_view worker_id, Done done) = 0;

  // Config bundles (ARCHITECTURE §16). The core holds them in memory; a
  // store keeps them across restarts (these defaults: nothing to keep, as
  // the memory store). `done` runs once the bundle is durable: fs writes
  // <dir>/bundles/<digest>.json atomically (tmp, fsync, rename, fsync dir),
  // so a crash leaves the whole bundle or none. `digest` is 64 hex digits
  // (the core checks it). drop_bundle removes one (garbage collection).
  virtual void put_bundle(const std::string& digest, std::string json, Done done) {
    (void)digest;
    (void)json;
    defer([done = std::move(done)] { done({}); });
  }
  virtual void drop_bundle(const std::string& digest, Done done) {
    (void)digest;
    defer([done = std::move(done)] { done({}); });
  }

  virtual std::string_view kind() const = 0;  // "memory" | "fs"

 protected:
  // Runs `fn` on the io thread, later (never inline).
  virtual void defer(std::function<void()> fn) = 0;
};

// Everything in memory; a new epoch on every start. Retention drops the
// oldest events beyond the limits.
std::unique_ptr<Store> make_memory_store(boost::asio::io_context& io, RetentionLimits limits,
                                         Random& random = Random::system());

}  // namespace yoi::store
