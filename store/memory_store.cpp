// The memory store: the reference implementation of the Store contract,
// with nothing durable. Appends are copied into a per-worker chunked byte
// buffer (no allocation per event); a commit is durable as soon as the io
// thread gets back to its queue: one posted drain per io turn advances the
// watermark of every log committed to and tells the listener.

#include <algorithm>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "yoi/ids.hpp"
#include "yoi/store/store.hpp"

namespace yoi::store {

void Store::commit(Commit c, Done done) {
  auto l = log(c.worker_id);
  if (!l) {
    defer([done = std::move(done), e = l.error()] { done(tl::unexpected(e)); });
    return;
  }
  Log& log = **l;
  for (const auto& e : c.events) log.append(e.seq, e.json);
  for (const auto& t : c.transcript) log.append_transcript(t.index, t.json);
  log.commit(std::move(c.state), std::move(done));
}

namespace {

// Events live in chunks of up to kChunkBytes (one event never straddles
// two), so retention frees whole chunks and nothing is ever moved. A
// chunk's string grows by doubling, so an idle worker's one event costs
// about its own size.
constexpr std::size_t kChunkBytes = 64u << 10;

struct Chunk {
  std::uint64_t first_seq = 1;    // seq of ends[0]
  std::size_t skip = 0;           // events dropped from the front by retention
  std::string bytes;
  std::vector<std::uint32_t> ends;  // end offset of each event in `bytes`

  std::size_t begin_of(std::size_t i) const { return i == 0 ? 0 : ends[i - 1]; }
  std::string_view at(std::size_t i) const {
    std::size_t b = begin_of(i);
    return {bytes.data() + b, ends[i] - b};
  }
};

class MemoryStore;

class MemLog final : public Log {
 public:
  MemLog(MemoryStore& store, std::string id, RetentionLimits limits)
      : Log(std::move(id)), store_(store), limits_(limits) {}

  // The hot path: a bounds check, a memcpy and an offset.
  void append(std::uint64_t seq, std::string_view event) override {
    if (seq != last_seq_ + 1 || error_) [[unlikely]] {
      if (!error_)
        error_ = Error{Code::internal, fmt::format("worker {}: event seq {} does not follow {}",
                                                    worker_id_, seq, last_seq_)};
      return;
    }
    if (chunks_.empty() || chunks_.back().bytes.size() + event.size() > kChunkBytes) [[unlikely]]
      roll(seq);
    Chunk& c = chunks_.back();
    c.bytes.append(event);
    c.ends.push_back(static_cast<std::uint32_t>(c.bytes.size()));
    last_seq_ = seq;
    ++events_;
    bytes_ += event.size();
    if (events_ > limits_.max_events || bytes_ > limits_.max_bytes) [[unlikely]]
      retain();
  }

  void append_transcript(std::uint64_t index, std::string_view item) override {
    if (error_) return;
    if (index != transcript_.size() + open_transcript_.size()) {
      error_ = Error{Code::internal, fmt::format("worker {}: transcript index {} does not continue",
                                                  worker_id_, index)};
      return;
    }
    open_transcript_.push_back(TranscriptRecord{index, std::string(item)});
  }

  void commit(std::optional<std::string> state, Done done) override;

  // --- reads (durable only) ---
  std::uint64_t first_seq() const {
    return chunks_.empty() ? 0 : chunks_.front().first_seq + chunks_.front().skip;
  }

  EventRange read(std::uint64_t after_seq, std::size_t limit) const {
    EventRange range;
    range.last_seq = durable_seq_;
    range.first_seq = first_seq() <= durable_seq_ ? first_seq() : 0;
    if (range.first_seq == 0 || after_seq >= durable_seq_) return range;
    std::uint64_t seq = std::max(after_seq + 1, range.first_seq);
    // The chunk holding `seq`: the last whose first_seq <= seq.
    auto it = std::upper_bound(chunks_.begin(), chunks_.end(), seq,
                               [](std::uint64_t s, const Chunk& c) { return s < c.first_seq; });
    --it;
    for (; it != chunks_.end() && range.events.size() < limit && seq <= durable_seq_; ++it) {
      for (std::size_t i = seq - it->first_seq; i < it->ends.size(); ++i, ++seq) {
        if (range.events.size() >= limit || seq > durable_seq_) break;
        range.events.push_back(EventRecord{seq, std::string(it->at(i))});
      }
    }
    return range;
  }

  const std::vector<TranscriptRecord>& transcript() const { return transcript_; }
  bool exists() const { return created_; }
  void mark_durable() {
    durable_seq_ = committed_seq_;
    created_ = created_ || committed_;
  }
  bool dirty = false;  // queued for the next drain
  std::string state;

 private:
  // Drops the oldest events beyond the limits, always keeping the newest so
  // that first_seq/last_seq stay meaningful.
  void retain();
  void rollback();
  // Starts a chunk at `seq` (unless the last one is still empty). A
  // worker's first chunk grows from nothing (idle workers stay small);
  // later ones are full-size at once, reusing the one retention freed last.
  void roll(std::uint64_t seq) {
    if (!chunks_.empty() && chunks_.back().ends.empty()) return;
    bool first = chunks_.empty();
    chunks_.push_back(std::move(spare_));
    spare_ = Chunk{};
    Chunk& c = chunks_.back();
    c.first_seq = seq;
    c.skip = 0;
    c.bytes.clear();
    c.ends.clear();
    if (!first) {
      c.bytes.reserve(kChunkBytes);
      c.ends.reserve(chunks_[chunks_.size() - 2].ends.size());
    }
  }

  MemoryStore& store_;
  RetentionLimits limits_;
  std::vector<Chunk> chunks_;
  Chunk spare_;  // the last chunk retention dropped, kept for its capacity
  std::size_t events_ = 0;  // retained
  std::size_t bytes_ = 0;   // retained event bytes
  std::vector<TranscriptRecord> transcript_;
  std::vector<TranscriptRecord> open_transcript_;
  std::optional<Error> error_;  // the open commit is refused
  bool committed_ = false;      // a commit was accepted (the worker exists once durable)
  bool created_ = false;
  // Open-commit start, for a refused commit to change nothing.
  std::uint64_t open_start_ = 0;
  std::uint64_t committed_seq_ = 0;  // last seq of the last accepted commit
  friend class MemoryStore;
};

class MemoryStore final : public Store {
 public:
  MemoryStore(boost::asio::io_context& io, RetentionLimits limits, Random& random)
      : io_(io), limits_(limits), epoch_(random.hex(8)) {}

  ~MemoryStore() override { pending_->alive = false; }

  Result<Restored> open() override {
    Restored r;
    r.epoch = epoch_;
    return r;
  }

  Result<Log*> log(std::string_view worker_id) override {
    auto it = logs_.find(worker_id);
    if (it != logs_.end()) return it->second.get();
    if (auto ok = validate_id(worker_id, "worker_id"); !ok) return tl::unexpected(ok.error());
    auto l = std::make_unique<MemLog>(*this, std::string(worker_id), limits_);
    Log* p = l.get();
    logs_.emplace(std::string(worker_id), std::move(l));
    return p;
  }

  void set_durable_listener(DurableListener listener) override { listener_ = std::move(listener); }

  Result<EventRange> read_events(std::string_view worker_id, std::uint64_t after_seq,
                                 std::size_t limit) override {
    auto* l = find(worker_id);
    if (!l) return fail(Code::worker_not_found, "no such worker");
    return l->read(after_seq, limit);
  }

  Result<std::vector<TranscriptRecord>> read_transcript(std::string_view worker_id,
                                                        std::uint64_t start,
                                                        std::size_t limit) override {
    auto* l = find(worker_id);
    if (!l) return fail(Code::worker_not_found, "no such worker");
    const auto& t = l->transcript();
    std::vector<TranscriptRecord> out;
    for (std::uint64_t i = start; i < t.size() && out.size() < limit; ++i) out.push_back(t[i]);
    return out;
  }

  void flush(Done done) override {
    if (done) pending_->dones.emplace_back(std::move(done), Result<void>{});
    schedule();
  }

  std::string_view kind() const override { return "memory"; }

  // The log leaves the catalog now; it is freed after the next drain, which
  // may still report it (the core has cleared its context by then).
  void remove(std::string_view worker_id, Done done) override {
    auto it = logs_.find(worker_id);
    Result<void> r;
    if (it == logs_.end() || !it->second->committed_) {
      r = fail(Code::worker_not_found, fmt::format("worker '{}' not found", worker_id));
      if (it != logs_.end()) logs_.erase(it);  // never committed: nothing can name it
    } else {
      pending_->retired.push_back(std::move(it->second));
      logs_.erase(it);
    }
    if (done) pending_->dones.emplace_back(std::move(done), std::move(r));
    schedule();
  }

  // --- from MemLog ---

  void committed(MemLog& l) {
    if (!l.dirty) {
      l.dirty = true;
      pending_->dirty.push_back(&l);
    }
    if (!pending_->posted) schedule();
  }

  void committed(MemLog& l, Done done, std::optional<Error> error) {
    if (error) {
      pending_->failed.emplace_back(&l, *error);
    } else if (!l.dirty) {
      l.dirty = true;
      pending_->dirty.push_back(&l);
    }
    if (done) {
      Result<void> r;
      if (error) r = tl::unexpected(*error);
      pending_->dones.emplace_back(std::move(done), std::move(r));
    }
    schedule();
  }

 protected:
  void defer(std::function<void()> fn) override { boost::asio::post(io_, std::move(fn)); }

 private:
  MemLog* find(std::string_view worker_id) const {
    auto it = logs_.find(worker_id);
    if (it == logs_.end() || !it->second->exists()) return nullptr;
    return it->second.get();
  }

  // One posted drain per io turn, however many commits it covers. Its
  // vectors are swapped, so they keep their capacity between turns. The
  // drain holds the shared queue, so a store destroyed with a drain pending
  // leaves it harmless.
  struct Pending {
    bool alive = true;
    bool posted = false;
    std::vector<MemLog*> dirty, dirty_running;
    std::vector<std::pair<MemLog*, Error>> failed, failed_running;
    std::vector<std::pair<Done, Result<void>>> dones, dones_running;
    std::vector<std::unique_ptr<MemLog>> retired;  // removed logs, freed after the drain
  };

  void schedule() {
    if (pending_->posted) return;
    pending_->posted = true;
    boost::asio::post(io_, [this, q = pending_] {
      q->posted = false;
      if (!q->alive) return;
      std::swap(q->dirty, q->dirty_running);
      std::swap(q->failed, q->failed_running);
      std::swap(q->dones, q->dones_running);
      auto retired = std::move(q->retired);
      q->retired.clear();
      for (MemLog* l : q->dirty_running) {
        l->dirty = false;
        l->mark_durable();
      }
      // The listener or a done may destroy the store: stop once it is gone.
      for (MemLog* l : q->dirty_running)
        if (q->alive && listener_) listener_(*l, Result<std::uint64_t>(l->durable_seq()));
      for (auto& [l, e] : q->failed_running)
        if (q->alive && listener_) listener_(*l, Result<std::uint64_t>(tl::unexpected(e)));
      for (auto& [d, r] : q->dones_running)
        if (q->alive) d(std::move(r));
      q->dirty_running.clear();
      q->failed_running.clear();
      q->dones_running.clear();
    });
  }

  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();
  boost::asio::io_context& io_;
  RetentionLimits limits_;
  std::string epoch_;
  DurableListener listener_;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<MemLog>, Hash, std::equal_to<>> logs_;
};

void MemLog::retain() {
  while (events_ > 1 && (events_ > limits_.max_events || bytes_ > limits_.max_bytes)) {
    Chunk& c = chunks_.front();
    std::size_t i = c.skip;
    bytes_ -= c.ends[i] - c.begin_of(i);
    --events_;
    if (++c.skip == c.ends.size()) {
      spare_ = std::move(c);
      chunks_.erase(chunks_.begin());
    }
  }
}

void MemLog::commit(std::optional<std::string> state, Done done) {
  if (!error_ && !state && !done && open_transcript_.empty()) [[likely]] {
    // A delta's commit: nothing to apply but the watermark.
    committed_ = true;
    committed_seq_ = open_start_ = last_seq_;
    store_.committed(*this);
    return;
  }
  std::optional<Error> error = std::move(error_);
  error_.reset();
  if (error) {
    rollback();
  } else {
    if (state) this->state = std::move(*state);
    for (auto& t : open_transcript_) transcript_.push_back(std::move(t));
    committed_ = true;
    committed_seq_ = last_seq_;
  }
  open_transcript_.clear();
  open_start_ = last_seq_;
  store_.committed(*this, std::move(done), std::move(error));
}

// A refused commit changes nothing: its events come off the end. (Events
// retention dropped because of them do not come back; the memory store
// keeps nothing durable anyway.)
void MemLog::rollback() {
  while (last_seq_ > open_start_ && !chunks_.empty()) {
    Chunk& c = chunks_.back();
    std::size_t i = c.ends.size() - 1;
    std::size_t b = c.begin_of(i);
    bytes_ -= c.ends[i] - b;
    --events_;
    c.bytes.resize(b);
    c.ends.pop_back();
    --last_seq_;
    if (c.ends.size() == c.skip) chunks_.pop_back();
  }
  last_seq_ = open_start_;
}

}  // namespace

std::unique_ptr<Store> make_memory_store(boost::asio::io_context& io, RetentionLimits limits,
                                         Random& random) {
  return std::make_unique<MemoryStore>(io, limits, random);
}

}  // namespace yoi::store
