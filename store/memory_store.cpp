// The memory store: the reference implementation of the Store contract,
// with nothing durable. Commits apply at once; `done` is posted so callers
// never see a completion inline.

#include <deque>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "yoi/store/store.hpp"

namespace yoi::store {
namespace {

struct WorkerData {
  std::string state;
  std::deque<EventRecord> events;
  std::size_t event_bytes = 0;
  std::uint64_t first_seq = 0;  // seq of events.front() (0 when empty and none ever)
  std::uint64_t last_seq = 0;
  std::vector<TranscriptRecord> transcript;
};

class MemoryStore final : public Store {
 public:
  MemoryStore(boost::asio::io_context& io, RetentionLimits limits, Random& random)
      : io_(io), limits_(limits), epoch_(random.hex(8)) {}

  Result<Restored> open() override {
    Restored r;
    r.epoch = epoch_;
    return r;
  }

  void commit(Commit c, Done done) override {
    auto it = workers_.find(c.worker_id);
    if (it == workers_.end()) it = workers_.emplace(std::move(c.worker_id), WorkerData{}).first;
    auto& w = it->second;
    if (c.state) w.state = std::move(*c.state);
    for (auto& e : c.events) {
      if (e.seq != w.last_seq + 1) {
        post(std::move(done), fail(Code::internal, fmt::format("event seq {} does not follow {}",
                                                               e.seq, w.last_seq)));
        return;
      }
      w.last_seq = e.seq;
      if (w.events.empty()) w.first_seq = e.seq;
      w.event_bytes += e.json.size();
      w.events.push_back(std::move(e));
    }
    for (auto& t : c.transcript) w.transcript.push_back(std::move(t));
    // Retention: drop the oldest events, but always keep the newest one so
    // first_seq/last_seq stay meaningful.
    while (w.events.size() > 1 &&
           (w.events.size() > limits_.max_events || w.event_bytes > limits_.max_bytes)) {
      w.event_bytes -= w.events.front().json.size();
      w.events.pop_front();
      w.first_seq = w.events.front().seq;
    }
    post(std::move(done), Result<void>{});
  }

  Result<EventRange> read_events(std::string_view worker_id, std::uint64_t after_seq,
                                 std::size_t limit) override {
    auto it = workers_.find(std::string(worker_id));
    if (it == workers_.end()) return fail(Code::worker_not_found, "no such worker");
    const auto& w = it->second;
    EventRange range;
    range.first_seq = w.events.empty() ? 0 : w.first_seq;
    range.last_seq = w.last_seq;
    if (w.events.empty() || after_seq >= w.last_seq) return range;
    std::size_t start = after_seq < w.first_seq ? 0 : after_seq - w.first_seq + 1;
    for (std::size_t i = start; i < w.events.size() && range.events.size() < limit; ++i)
      range.events.push_back(w.events[i]);
    return range;
  }

  Result<std::vector<TranscriptRecord>> read_transcript(std::string_view worker_id,
                                                        std::uint64_t start,
                                                        std::size_t limit) override {
    auto it = workers_.find(std::string(worker_id));
    if (it == workers_.end()) return fail(Code::worker_not_found, "no such worker");
    const auto& t = it->second.transcript;
    std::vector<TranscriptRecord> out;
    for (std::uint64_t i = start; i < t.size() && out.size() < limit; ++i) out.push_back(t[i]);
    return out;
  }

  void flush(Done done) override { post(std::move(done), Result<void>{}); }

  std::string_view kind() const override { return "memory"; }

 private:
  // Completions are queued and run by one posted drain per io turn, not one
  // post per commit: a streaming run commits per delta.
  // The queue is shared with the drain so that a store destroyed with
  // completions pending does not leave the drain dangling. Two buffers are
  // swapped so that neither loses its capacity between io turns.
  void post(Done done, Result<void> r) {
    pending_->next.emplace_back(std::move(done), std::move(r));
    if (pending_->next.size() > 1) return;
    boost::asio::post(io_, [q = pending_] {
      std::swap(q->next, q->running);
      for (auto& [d, res] : q->running) d(std::move(res));
      q->running.clear();
    });
  }

  struct Pending {
    std::vector<std::pair<Done, Result<void>>> next, running;
  };
  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();

  boost::asio::io_context& io_;
  RetentionLimits limits_;
  std::string epoch_;
  std::unordered_map<std::string, WorkerData> workers_;
};

}  // namespace

std::unique_ptr<Store> make_memory_store(boost::asio::io_context& io, RetentionLimits limits,
                                         Random& random) {
  return std::make_unique<MemoryStore>(io, limits, random);
}

}  // namespace yoi::store
