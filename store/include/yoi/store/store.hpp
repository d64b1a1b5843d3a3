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

struct Restored {
  std::string epoch;  // minted when the store was created; kept across restarts by fs
  std::vector<RestoredWorker> workers;
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

class Store {
 public:
  virtual ~Store() = default;

  // Opens (or creates) the store and returns its epoch and every worker.
  // Called once, before anything else; synchronous (start-up, not serving).
  // Errors: store_corrupt (naming file and line), store_io.
  virtual Result<Restored> open() = 0;

  // Applies `commit`. `done` runs once it is durable under the store's
  // policy. Readers see a commit's events and transcript only after its
  // `done` has run, so nothing observable is ever lost by a crash.
  virtual void commit(Commit commit, Done done) = 0;

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

  virtual std::string_view kind() const = 0;  // "memory" | "fs"
};

// Everything in memory; a new epoch on every start. Retention drops the
// oldest events beyond the limits.
std::unique_ptr<Store> make_memory_store(boost::asio::io_context& io, RetentionLimits limits,
                                         Random& random = Random::system());

}  // namespace yoi::store
