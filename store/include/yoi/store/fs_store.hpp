#pragma once
// The durable filesystem store (ARCHITECTURE §10). Design, file layout, fsync
// protocol and repair rules: store/README.md.
//
// Threading: like every Store, all methods are called on the io thread and
// completions come back on it, in call order. File writes and syncs run on a
// private writer thread (plus a small pool that issues fsyncs in parallel);
// page reads are bounded preads done on the io thread (page cache hits).
//
// Lifetime: destroying the store (on the io thread) still writes, under its
// policy, everything already committed; completions not yet delivered are
// dropped. A completion may destroy the store.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "yoi/store/store.hpp"

namespace yoi::store {

enum class FsyncPolicy {
  always,  // default: `done` runs once the commit is on disk. Commits handed over
           // together (or queued while a sync runs) share that sync; no waiting.
  batch,   // group commit: a group waits up to batch_interval for more commits
           // (closing early at batch_max), then one sync covers all; `done` after it.
  none,    // no fsync at all (tests and benchmarks only); flush() still syncs.
};

std::string_view fsync_policy_name(FsyncPolicy policy);
// "always" | "batch" | "none"; anything else is config_invalid.
Result<FsyncPolicy> fsync_policy_from_name(std::string_view name);

struct FsOptions {
  std::string dir;  // runtime-scoped directory; created when absent
  FsyncPolicy fsync = FsyncPolicy::always;
  std::chrono::milliseconds batch_interval{5};
  std::size_t batch_max = 16;  // commits; a batch group closes early at this size
  RetentionLimits retention;
  // Event segment size; 0 picks from the retention limits (see README).
  std::size_t segment_max_events = 0;
  std::size_t segment_max_bytes = 0;
  // Tests only (the crash harness): called on the writer thread at named
  // points of a removal ("remove:before_rename", "remove:renamed") so a
  // child process can be killed exactly there.
  std::function<void(std::string_view point)> crash_point;
};

// Counters for tests and benchmarks (read from any thread).
struct FsStats {
  std::uint64_t commits = 0;     // commits processed by the writer
  std::uint64_t groups = 0;      // writer cycles (each ends in at most one sync round)
  std::uint64_t file_syncs = 0;  // fdatasync/fsync calls on data and state files
  std::uint64_t dir_syncs = 0;   // fsync calls on directories
};

class FsStore : public Store {
 public:
  virtual FsStats stats() const = 0;
};

// Errors from open(): store_io (directory missing permissions, not a
// directory, locked by another process), store_corrupt (naming file and line).
std::unique_ptr<FsStore> make_fs_store(boost::asio::io_context& io, FsOptions options,
                                       Random& random = Random::system());

}  // namespace yoi::store
