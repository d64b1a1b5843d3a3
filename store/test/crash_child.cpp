// Child process for fs_crash_test: opens an fs store (policy always) and
// commits forever on a few workers at once, printing one line per
// acknowledged commit: "ack <worker> <last seq> <transcript total>". The test
// kills it with SIGKILL at random points and checks what survived.
//
// Every event of a commit that also replaced the state carries "st":true, and
// the state document records the seq it is through, so the test can check
// that a restored state never lags a restored commit that replaced it.
//
// Usage: fs_crash_child <dir> [policy]
//        fs_crash_child <dir> <policy> remove <point>
//
// The second form commits workers "victim" and "bystander", prints
// "ack victim <seq> <total>" for each, then removes "victim" and kills
// itself with SIGKILL when the store reaches the named point of the removal
// (FsOptions::crash_point; "none": never), printing "removed" if it lives.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "yoi/store/fs_store.hpp"

using namespace yoi;
using namespace yoi::store;

namespace {

struct WorkerState {
  std::uint64_t last_seq = 0;
  std::uint64_t transcript = 0;
};

void say(const std::string& line) {
  // One write per line: atomic on a pipe, so the parent never sees half an ack.
  ssize_t r = ::write(1, line.data(), line.size());
  (void)r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fs_crash_child <dir> [policy]\n");
    return 2;
  }
  boost::asio::io_context io;
  FsOptions o;
  o.dir = argv[1];
  if (argc > 2) {
    auto p = fsync_policy_from_name(argv[2]);
    if (!p) return 2;
    o.fsync = *p;
  }
  o.segment_max_events = 200;  // exercise segment rolls too
  bool remove_mode = argc > 4 && std::string(argv[3]) == "remove";
  if (remove_mode) {
    std::string point = argv[4];
    o.crash_point = [point](std::string_view at) {
      if (at == point) ::raise(SIGKILL);
    };
  }
  SeededRandom random(static_cast<std::uint64_t>(::getpid()));
  auto store = make_fs_store(io, o, random);
  auto restored = store->open();
  if (!restored) {
    say(fmt::format("error {}\n", restored.error().message));
    return 3;
  }
  if (remove_mode) {
    int acked = 0;
    for (const char* id : {"victim", "bystander"}) {
      Commit c;
      c.worker_id = id;
      for (std::uint64_t s = 1; s <= 3; ++s)
        c.events.push_back(EventRecord{s, fmt::format(R"({{"seq":{},"type":"text_delta","st":true,"text":"x"}})", s)});
      c.transcript.push_back(TranscriptRecord{0, R"({"index":0,"seq":3,"content":"item"})"});
      c.state = R"({"through":3,"transcript":1})";
      store->commit(std::move(c), [&, id = std::string(id)](Result<void> r) {
        if (!r) std::_Exit(4);
        say(fmt::format("ack {} 3 1\n", id));
        if (++acked < 2) return;
        store->remove("victim", [&](Result<void> r2) {
          say(r2 ? std::string("removed\n") : fmt::format("error {}\n", r2.error().message));
          std::_Exit(r2 ? 0 : 4);
        });
      });
    }
    io.run();
    return 5;
  }
  std::map<std::string, WorkerState> workers;
  for (const auto& w : restored->workers) workers[w.worker_id] = {w.last_seq, w.transcript_total};
  for (const char* id : {"crash:a", "crash-b", "crash_c"}) workers.try_emplace(id);
  say("ready\n");

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::function<void(const std::string&)> next = [&](const std::string& id) {
    if (std::chrono::steady_clock::now() > deadline) return;
    WorkerState& w = workers[id];
    Commit c;
    c.worker_id = id;
    std::size_t n = 1 + random.uniform(4);
    bool with_state = w.last_seq == 0 || random.uniform(3) == 0;
    for (std::size_t i = 1; i <= n; ++i) {
      std::uint64_t seq = w.last_seq + i;
      c.events.push_back(EventRecord{
          seq, fmt::format(R"({{"seq":{},"type":"text_delta","st":{},"text":"{}"}})", seq,
                           with_state, std::string(random.uniform(200), 'x'))});
    }
    if (random.uniform(4) == 0) {
      c.transcript.push_back(TranscriptRecord{
          w.transcript,
          fmt::format(R"({{"index":{},"seq":{},"content":"item"}})", w.transcript, w.last_seq + n)});
    }
    std::uint64_t last = w.last_seq + n;
    std::uint64_t total = w.transcript + c.transcript.size();
    if (with_state) c.state = fmt::format(R"({{"through":{},"transcript":{}}})", last, total);
    w.last_seq = last;
    w.transcript = total;
    store->commit(std::move(c), [&, id, last, total](Result<void> r) {
      if (!r) {
        say(fmt::format("error {}\n", r.error().message));
        std::_Exit(4);
      }
      say(fmt::format("ack {} {} {}\n", id, last, total));
      next(id);
    });
  };
  for (auto& [id, _] : workers) next(id);
  io.run();
  return 0;
}
