// The fs store. Layout, fsync protocol and repair rules: README.md.
//
// Split of work:
//  - io thread: validates a commit, assigns file offsets in its in-memory
//    model (segments, sparse index), serialises the lines, queues a Job, and
//    serves page reads with bounded preads. It alone touches the model.
//  - writer thread: takes every queued Job as one group, appends, syncs
//    (fsyncs of several files go out in parallel on a small pool), replaces
//    state files, applies retention unlinks, then posts one completion
//    handler per group back to the io thread, which advances the durable
//    watermarks and runs the `done`s in call order.

#include "yoi/store/fs_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "fs_format.hpp"
#include "yoi/ids.hpp"

namespace yoi::store {

std::string_view fsync_policy_name(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::always: return "always";
    case FsyncPolicy::batch: return "batch";
    case FsyncPolicy::none: return "none";
  }
  return "always";
}

Result<FsyncPolicy> fsync_policy_from_name(std::string_view name) {
  if (name == "always") return FsyncPolicy::always;
  if (name == "batch") return FsyncPolicy::batch;
  if (name == "none") return FsyncPolicy::none;
  return fail(Code::config_invalid,
              fmt::format("fsync policy must be always, batch or none (got '{}')", name));
}

namespace {

namespace asio = boost::asio;
using namespace yoi::store::fs;

constexpr std::size_t kMaxPage = 10'000;
// Recent durable events kept in memory per worker, so live subscribers at the
// tail read without a syscall. Filled by commits only (not at restore), so
// memory follows the active workers, not all of them.
constexpr std::size_t kTailCache = 32;
constexpr std::size_t kTailCacheBytes = 16u << 10;
constexpr std::size_t kMaxStateBytes = 64u << 20;
constexpr std::size_t kMaxOpenFds = 256;     // writer's cache of append fds
constexpr std::size_t kRestoreChunk = 1u << 20;
constexpr std::size_t kReadChunk = 64u << 10;
// A removed worker's directory is renamed to "<prefix><enc>-<nonce>" before its
// files go; open() finishes such removals. Encoded ids never start with '.'.
constexpr std::string_view kTombstonePrefix = ".deleting-";

struct Segment {
  std::uint64_t first_seq = 1;
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  std::vector<std::uint64_t> index;  // offset of record first_seq + k * kIndexStride
  std::string path;
};

// A worker's event segment files, (first seq, file name), sorted by seq.
using SegmentFiles = std::vector<std::pair<std::uint64_t, std::string>>;

// A position in a worker's event log while it is restored.
struct LogPos {
  std::size_t seg = 0;
  std::uint64_t offset = 0;
  std::uint64_t seq = 0;  // last seq before this position
};

// What the restore scan has learnt so far, carried from segment to segment.
struct EventScan {
  std::uint64_t through_seq = 0;  // the state file's: a later state commit never landed
  std::uint64_t expected = 0;     // the next seq
  LogPos keep;                    // end of the last complete commit
  std::optional<LogPos> cut;      // start of the first commit whose state never landed
  LogPos commit_start;            // start of the commit being read
  std::string torn_note;          // the last segment ends in a torn line
};

// What one writer group's appends left to do: files and directories to sync,
// state files to replace, segments to unlink.
struct GroupWrites {
  std::vector<std::pair<int, std::string>> dirty;  // fds to sync
  std::map<std::string, std::string> dirty_dirs;   // new files' directories
  std::map<std::string, std::string> states;       // path -> newest content
  std::vector<std::string> unlinks;
  bool any_flush = false;

  void mark_dirty(int fd, const std::string& path) {
    for (auto& d : dirty)
      if (d.first == fd) return;
    dirty.emplace_back(fd, path);
  }
};

class FsStoreImpl;

// A worker's model on the io thread; also its Log handle (the core appends
// through it). The open commit is serialised straight into `open_events`
// (the on-disk lines) as the core appends; commit() turns it into a Job.
struct WorkerModel final : Log {
  WorkerModel(FsStoreImpl& store, std::string worker_id) : Log(std::move(worker_id)), store(store) {}
  using Log::durable_seq_;
  using Log::last_seq_;  // assigned (may be ahead of durable)

  void append(std::uint64_t seq, std::string_view event) override;
  void append_transcript(std::uint64_t index, std::string_view item) override;
  void commit(std::optional<std::string> state, Done done) override;

  FsStoreImpl& store;
  const std::string& id = worker_id_;
  std::string dir;
  bool durable = false;  // its directory exists on disk (creation acknowledged)
  bool created = false;  // its creation is queued
  std::deque<Segment> segments;
  std::uint64_t retained_events = 0;
  std::uint64_t retained_bytes = 0;
  std::uint64_t transcript_total = 0;
  std::uint64_t durable_transcript = 0;
  std::uint64_t transcript_bytes = 0;
  std::vector<std::uint64_t> transcript_index;
  // Newest durable event lines (as written), whole commits, ascending.
  struct TailChunk {
    std::uint64_t first_seq = 0, last_seq = 0;
    std::string lines;
  };
  std::deque<TailChunk> tail;
  std::size_t tail_bytes = 0, tail_events = 0;

  // --- the open commit ---
  bool open = false;
  std::optional<Error> open_error;
  std::string open_events;        // event lines
  std::size_t open_flag_pos = 0;  // offset of the last line's flag digit
  bool open_rolled = false;       // this commit started a new segment
  bool open_had_segments = false;
  std::uint64_t open_start_seq = 0;
  Segment open_seg_before;        // the last segment's counters at the start (no path/index copy)
  std::size_t open_index_before = 0;
  std::uint64_t open_retained_events = 0, open_retained_bytes = 0;
  std::string open_transcript;    // transcript records, blanked and validated
  std::vector<std::pair<std::uint64_t, std::size_t>> open_transcript_items;  // index, end offset

  std::string events_dir() const { return dir + "/events"; }
  std::string transcript_path() const { return dir + "/transcript.jsonl"; }
  std::string state_path() const { return dir + "/state.json"; }
  std::uint64_t first_seq() const {
    for (const auto& s : segments)
      if (s.count > 0) return s.first_seq;
    return 0;
  }
};

struct Append {
  std::string path;
  std::string bytes;
  bool new_file = false;  // created by this append: its directory needs a sync
};

struct Job {
  std::optional<Error> error;  // decided on the io thread; the writer only orders it
  bool flush = false;
  std::string create_dir;  // non-empty: first commit of a new worker (built in dir.tmp)
  // Removal of a worker (README, "Removing a worker"): its directory, the
  // tombstone name it is renamed to, and its model, kept alive until every
  // earlier job naming it has completed.
  std::string remove_dir;
  std::string tombstone;
  std::unique_ptr<WorkerModel> retired;
  std::vector<Append> appends;
  std::string state_path;
  std::optional<std::string> state_content;
  std::vector<std::string> unlinks;
  // io-thread bookkeeping applied once durable
  WorkerModel* worker = nullptr;
  std::uint64_t durable_seq = 0;
  std::uint64_t durable_transcript = 0;
  std::uint64_t first_event = 0;  // events of this commit: [first_event, durable_seq]; 0: none
  Done done;
  std::chrono::steady_clock::time_point queued;
};

std::string state_file(std::uint64_t through_seq, std::uint64_t transcript_total,
                       std::string_view doc) {
  return fmt::format("{{\"through_seq\":{},\"transcript_total\":{}}}\n{}", through_seq,
                     transcript_total, doc);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_;
};

// State shared between the io thread and the writer; outlives the store while
// completions are still queued on the io_context.
struct Shared {
  std::atomic<bool> alive{true};
  std::atomic<std::uint64_t> commits{0}, groups{0}, file_syncs{0}, dir_syncs{0};
};

class FsStoreImpl final : public FsStore {
 public:
  FsStoreImpl(asio::io_context& io, FsOptions options, Random& random)
      : io_(io), options_(std::move(options)), random_(random), shared_(std::make_shared<Shared>()) {
    if (options_.segment_max_events == 0)
      options_.segment_max_events =
          std::clamp<std::size_t>(options_.retention.max_events / 8, 1024, 65536);
    if (options_.segment_max_bytes == 0)
      options_.segment_max_bytes =
          std::clamp<std::size_t>(options_.retention.max_bytes / 8, 1u << 20, 64u << 20);
    if (options_.batch_max == 0) options_.batch_max = 1;
  }

  ~FsStoreImpl() override {
    shared_->alive = false;
    work_.reset();
    if (writer_.joinable()) {
      {
        std::lock_guard lock(mu_);
        // Anything the io thread has not handed over yet still gets written.
        for (auto& j : io_pending_) queue_.push_back(std::move(j));
        io_pending_.clear();
        stop_ = true;
      }
      cv_.notify_all();
      writer_.join();
    }
    pool_.join();
  }

  std::string_view kind() const override { return "fs"; }

  FsStats stats() const override {
    return FsStats{shared_->commits.load(), shared_->groups.load(), shared_->file_syncs.load(),
                   shared_->dir_syncs.load()};
  }

  Result<Restored> open() override;
  Result<Log*> log(std::string_view worker_id) override;
  void set_durable_listener(DurableListener listener) override { listener_ = std::move(listener); }
  Result<EventRange> read_events(std::string_view worker_id, std::uint64_t after_seq,
                                 std::size_t limit) override;
  Result<std::vector<TranscriptRecord>> read_transcript(std::string_view worker_id,
                                                        std::uint64_t start,
                                                        std::size_t limit) override;
  void flush(Done done) override;
  void remove(std::string_view worker_id, Done done) override;
  void put_bundle(const std::string& digest, std::string json, Done done) override;
  void drop_bundle(const std::string& digest, Done done) override;

 protected:
  void defer(std::function<void()> fn) override { asio::post(io_, std::move(fn)); }

 private:
  // --- open / restore ---
  Result<void> open_root(Restored& out);
  Result<void> restore_bundles(Restored& out);
  static constexpr std::size_t kMaxBundleFile = 8u << 20;
  std::string bundles_dir_;
  Result<RestoredWorker> restore_worker(const std::string& name, std::vector<std::string>& diags);
  Result<void> restore_events(WorkerModel& w, std::uint64_t through_seq, bool has_state_meta,
                              std::vector<std::string>& diags);
  static Result<SegmentFiles> list_segment_files(const std::string& edir);
  Result<Segment> scan_segment(std::string path, std::uint64_t first_seq, std::size_t i, bool last,
                               EventScan& scan);
  static Result<void> cut_events(WorkerModel& w, const LogPos& end);
  Result<void> restore_transcript(WorkerModel& w, std::uint64_t min_total,
                                  std::vector<std::string>& diags);

  // --- io thread ---
  friend struct WorkerModel;
  void begin(WorkerModel& w);
  void append(WorkerModel& w, std::uint64_t seq, std::string_view event);
  void append_transcript(WorkerModel& w, std::uint64_t index, std::string_view item);
  void commit(WorkerModel& w, std::optional<std::string> state, Done done);
  void rollback(WorkerModel& w);
  void enqueue(Job job);
  void handoff();
  void complete(std::vector<Job>& jobs, const Result<void>& result);
  Result<void> read_event_file(const WorkerModel& w, std::uint64_t start, std::uint64_t end,
                               std::vector<EventRecord>& out) const;

  // --- writer thread ---
  void writer_loop();
  Result<void> process(std::vector<Job>& group);
  Result<void> process_writes(std::span<Job> jobs);
  Result<void> write_group(std::span<Job> jobs, GroupWrites& writes);
  Result<void> remove_worker_dir(Job& job);
  Result<void> sync_logs(const GroupWrites& writes);
  Result<void> replace_states(const std::map<std::string, std::string>& states, bool sync);
  Result<void> create_worker_dir(Job& job);
  Result<int> append_fd(const std::string& path);
  void close_fd(const std::string& path);
  Result<void> parallel(std::size_t n, const std::function<Result<void>(std::size_t)>& task);

  bool sync_enabled() const { return options_.fsync != FsyncPolicy::none; }

  asio::io_context& io_;
  FsOptions options_;
  Random& random_;
  std::shared_ptr<Shared> shared_;
  bool opened_ = false;
  std::string workers_dir_;
  Fd lock_fd_;

  // io thread only
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, std::unique_ptr<WorkerModel>, Hash, std::equal_to<>> workers_;
  DurableListener listener_;
  std::vector<Job> io_pending_;
  bool handoff_posted_ = false;
  // Keeps io_context::run() from returning while commits are in flight.
  std::size_t outstanding_ = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  mutable Validator validator_;

  // io thread <-> writer
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stop_ = false;
  std::thread writer_;

  // writer thread only
  std::unordered_map<std::string, Fd> fds_;
  bool failed_ = false;
  Error failure_;
  asio::thread_pool pool_{3};
};

// ---------------------------------------------------------------- open

Result<Restored> FsStoreImpl::open() {
  if (opened_) return fail(Code::internal, "fs store opened twice");
  Restored out;
  if (auto r = open_root(out); !r) return tl::unexpected(r.error());

  DIR* d = ::opendir(workers_dir_.c_str());
  if (!d) return tl::unexpected(io_error("open directory", workers_dir_, errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());

  for (const auto& name : names) {
    std::string path = workers_dir_ + "/" + name;
    if (name.starts_with(kTombstonePrefix)) {
      // A worker whose removal was cut short after its rename: it is gone.
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
      if (ec) return fail(Code::store_io, fmt::format("remove {}: {}", path, ec.message()));
      out.diagnostics.push_back(fmt::format("finished removing deleted worker directory {}", path));
      continue;
    }
    if (name.ends_with(".tmp")) {
      // A worker whose first commit never completed: it was never acknowledged.
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
      if (ec) return fail(Code::store_io, fmt::format("remove {}: {}", path, ec.message()));
      out.diagnostics.push_back(fmt::format("removed unfinished worker directory {}", path));
      continue;
    }
    auto w = restore_worker(name, out.diagnostics);
    if (!w) return tl::unexpected(w.error());
    out.workers.push_back(std::move(*w));
  }
  std::sort(out.workers.begin(), out.workers.end(),
            [](const auto& a, const auto& b) { return a.worker_id < b.worker_id; });

  if (auto r = restore_bundles(out); !r) return tl::unexpected(r.error());

  opened_ = true;
  writer_ = std::thread([this] { writer_loop(); });
  return out;
}

// Bundles: one file each, <dir>/bundles/<digest>.json, replaced atomically.
// A leftover .tmp is a put cut short by a crash: never acknowledged, removed.
Result<void> FsStoreImpl::restore_bundles(Restored& out) {
  bundles_dir_ = options_.dir + "/bundles";
  if (::mkdir(bundles_dir_.c_str(), 0755) != 0 && errno != EEXIST)
    return tl::unexpected(io_error("create directory", bundles_dir_, errno));
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(bundles_dir_, ec)) names.push_back(e.path().filename());
  if (ec) return fail(Code::store_io, fmt::format("list {}: {}", bundles_dir_, ec.message()));
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string path = bundles_dir_ + "/" + name;
    if (name.ends_with(".tmp")) {
      std::remove(path.c_str());
      out.diagnostics.push_back(fmt::format("removed unfinished bundle file {}", path));
      continue;
    }
    if (!name.ends_with(".json")) continue;
    auto text = read_small_file(path, kMaxBundleFile);
    if (!text) return tl::unexpected(text.error());
    out.bundles.push_back({name.substr(0, name.size() - 5), std::move(*text)});
  }
  return {};
}

void FsStoreImpl::put_bundle(const std::string& digest, std::string json, Done done) {
  // Off the io thread: the write and its two fsyncs block.
  asio::post(pool_, [this, path = bundles_dir_ + "/" + digest + ".json", json = std::move(json),
                     done = std::move(done)]() mutable {
    auto r = replace_file(path, json, true);
    asio::post(io_, [done = std::move(done), r = std::move(r)] { done(r); });
  });
}

void FsStoreImpl::drop_bundle(const std::string& digest, Done done) {
  asio::post(pool_, [this, digest, done = std::move(done)]() mutable {
    Result<void> r;
    std::string path = bundles_dir_ + "/" + digest + ".json";
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) r = tl::unexpected(io_error("remove", path, errno));
    else r = sync_dir(bundles_dir_);
    asio::post(io_, [done = std::move(done), r = std::move(r)] { done(r); });
  });
}

Result<void> FsStoreImpl::open_root(Restored& out) {
  const std::string& dir = options_.dir;
  if (dir.empty()) return fail(Code::config_invalid, "fs store needs a directory");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return tl::unexpected(io_error("stat", dir, errno));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(Code::store_io, fmt::format("create directory {}: {}", dir, ec.message()));
  } else if (!S_ISDIR(st.st_mode)) {
    return fail(Code::store_io, fmt::format("store directory {} is not a directory", dir));
  }
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return tl::unexpected(io_error("access", dir, errno));

  // One process per directory: two writers would interleave appends.
  std::string lock_path = dir + "/lock";
  lock_fd_ = Fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd_) return tl::unexpected(io_error("open", lock_path, errno));
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return fail(Code::store_io, fmt::format("store directory {} is in use by another process", dir));
    return tl::unexpected(io_error("lock", lock_path, errno));
  }

  workers_dir_ = dir + "/workers";
  std::string meta_path = dir + "/store.json";
  auto meta = read_small_file(meta_path, 1 << 16);
  if (!meta) {
    if (meta.error().code != Code::not_found) return tl::unexpected(meta.error());
    // A missing store.json next to existing workers means lost metadata, not a new store.
    struct stat wst {};
    if (::stat(workers_dir_.c_str(), &wst) == 0) {
      std::error_code ec;
      if (!std::filesystem::is_empty(workers_dir_, ec) || ec)
        return fail(Code::store_corrupt, fmt::format("missing file {}", meta_path));
    }
    if (::mkdir(workers_dir_.c_str(), 0755) != 0 && errno != EEXIST)
      return tl::unexpected(io_error("create directory", workers_dir_, errno));
    out.epoch = random_.hex(16);
    std::string doc = fmt::format("{{\"format\":1,\"epoch\":\"{}\"}}\n", out.epoch);
    if (auto r = replace_file(meta_path, doc, true); !r) return r;
    if (auto r = sync_dir(dir); !r) return r;
    return {};
  }
  boost::json::error_code ec;
  auto v = boost::json::parse(*meta, ec);
  const boost::json::string* epoch = nullptr;
  if (!ec && v.is_object())
    if (auto* e = v.as_object().if_contains("epoch"); e && e->is_string()) epoch = &e->get_string();
  if (!epoch || epoch->empty())
    return fail(Code::store_corrupt, fmt::format("{} line 1: not a store metadata record", meta_path));
  out.epoch = std::string(epoch->data(), epoch->size());
  std::remove((meta_path + ".tmp").c_str());
  return {};
}

Result<RestoredWorker> FsStoreImpl::restore_worker(const std::string& name,
                                                   std::vector<std::string>& diags) {
  std::string dir = workers_dir_ + "/" + name;
  auto id = decode_from_path(name);
  if (!id) return fail(Code::store_corrupt, fmt::format("unexpected entry {}", dir));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return tl::unexpected(io_error("stat", dir, errno));
  if (!S_ISDIR(st.st_mode))
    return fail(Code::store_io, fmt::format("worker directory {} is not a directory", dir));

  auto w = std::make_unique<WorkerModel>(*this, *id);
  w->dir = dir;
  w->durable = w->created = true;

  auto content = read_small_file(w->state_path(), kMaxStateBytes);
  if (!content) {
    if (content.error().code == Code::not_found)
      return fail(Code::store_corrupt, content.error().message);
    return tl::unexpected(content.error());
  }
  std::remove((w->state_path() + ".tmp").c_str());
  auto nl = content->find('\n');
  LineFields meta_fields;
  std::uint64_t through_seq = 0, transcript_total = 0;
  {
    std::string_view meta = std::string_view(*content).substr(0, nl);
    boost::json::error_code ec;
    auto v = boost::json::parse(meta, ec);
    const boost::json::object* o = (!ec && v.is_object()) ? &v.as_object() : nullptr;
    auto get = [&](const char* k, std::uint64_t& out) {
      if (!o) return false;
      auto* x = o->if_contains(k);
      if (!x) return false;
      if (x->is_uint64()) out = x->get_uint64();
      else if (x->is_int64() && x->get_int64() >= 0) out = static_cast<std::uint64_t>(x->get_int64());
      else return false;
      return true;
    };
    if (nl == std::string::npos || !get("through_seq", through_seq) ||
        !get("transcript_total", transcript_total))
      return fail(Code::store_corrupt,
                  fmt::format("{} line 1: not a state header", w->state_path()));
  }
  RestoredWorker rw;
  rw.worker_id = w->id;
  rw.state = content->substr(nl + 1);

  if (auto r = restore_events(*w, through_seq, true, diags); !r) return tl::unexpected(r.error());
  if (auto r = restore_transcript(*w, transcript_total, diags); !r)
    return tl::unexpected(r.error());

  rw.first_seq = w->first_seq();
  rw.last_seq = w->last_seq_;
  rw.transcript_total = w->transcript_total;
  workers_.emplace(w->id, std::move(w));
  return rw;
}

// Scans every retained segment: validates each line, checks seq continuity,
// rebuilds the sparse index, and cuts what was never acknowledged: a torn
// last line, events after the last commit-end mark, and any commit that
// replaced the state but whose state file never landed (through_seq).
Result<void> FsStoreImpl::restore_events(WorkerModel& w, std::uint64_t through_seq, bool,
                                         std::vector<std::string>& diags) {
  std::string edir = w.events_dir();
  auto files = list_segment_files(edir);
  if (!files) return tl::unexpected(files.error());

  EventScan scan;
  scan.through_seq = through_seq;
  scan.expected = files->front().first;
  scan.keep = scan.commit_start = LogPos{0, 0, files->front().first - 1};
  for (std::size_t i = 0; i < files->size(); ++i) {
    const auto& [first, name] = (*files)[i];
    auto seg = scan_segment(edir + "/" + name, first, i, i + 1 == files->size(), scan);
    if (!seg) return tl::unexpected(seg.error());
    w.segments.push_back(std::move(*seg));
    // Commits never straddle segments, so each segment but the last ends one.
  }

  LogPos end = scan.cut ? std::min(*scan.cut, scan.keep,
                                   [](const LogPos& a, const LogPos& b) { return a.seq < b.seq; })
                        : scan.keep;
  std::uint64_t scanned_last = scan.expected - 1;
  if (!scan.torn_note.empty()) diags.push_back(fmt::format("worker {}: {}", w.id, scan.torn_note));
  if (end.seq < scanned_last)
    diags.push_back(fmt::format("worker {}: dropped unacknowledged events {}..{} in {}", w.id,
                                end.seq + 1, scanned_last, edir));
  if (through_seq > end.seq)
    return fail(Code::store_corrupt,
                fmt::format("{} line 1: state is through seq {} but {} ends at seq {}",
                            w.state_path(), through_seq, edir, end.seq));

  bool truncated = !scan.torn_note.empty() || end.seq < scanned_last;
  if (truncated)
    if (auto r = cut_events(w, end); !r) return r;
  w.last_seq_ = w.durable_seq_ = end.seq;
  for (const auto& s : w.segments) {
    w.retained_events += s.count;
    w.retained_bytes += s.bytes;
  }
  return {};
}

// The event segments of a worker, by first seq. Any other entry in events/
// is corruption, and a worker without a segment has lost its log.
Result<SegmentFiles> FsStoreImpl::list_segment_files(const std::string& edir) {
  DIR* d = ::opendir(edir.c_str());
  if (!d) {
    if (errno == ENOENT) return fail(Code::store_corrupt, fmt::format("missing directory {}", edir));
    return tl::unexpected(io_error("open directory", edir, errno));
  }
  SegmentFiles files;
  std::string bad;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::uint64_t first = 0;
    auto r = std::from_chars(name.data(), name.data() + name.size(), first);
    if (name.size() != 26 || !name.ends_with(".jsonl") || r.ptr != name.data() + 20 || first == 0) {
      bad = name;
      break;
    }
    files.emplace_back(first, name);
  }
  ::closedir(d);
  if (!bad.empty()) return fail(Code::store_corrupt, fmt::format("unexpected file {}/{}", edir, bad));
  std::sort(files.begin(), files.end());
  if (files.empty()) return fail(Code::store_corrupt, fmt::format("missing event log in {}", edir));
  return files;
}

// Reads segment `i` line by line and rebuilds its counters and sparse index.
// Every line must be a valid event record with the next seq; commit-end marks
// move `scan.keep` (and may set `scan.cut`). A torn tail is repairable only in
// the last segment (a crash mid-append); anywhere else it is corruption.
Result<Segment> FsStoreImpl::scan_segment(std::string path, std::uint64_t first_seq, std::size_t i,
                                          bool last, EventScan& scan) {
  Segment seg;
  seg.first_seq = first_seq;
  seg.path = std::move(path);
  if (seg.first_seq != scan.expected)
    return fail(Code::store_corrupt, fmt::format("{}: starts at seq {}, expected {}", seg.path,
                                                 seg.first_seq, scan.expected));
  Fd fd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return tl::unexpected(io_error("open", seg.path, errno));
  LineScanner lines(fd.get(), 0, kRestoreChunk);
  std::string_view line;
  std::uint64_t off = 0, lineno = 0;
  while (lines.next(line, off)) {
    ++lineno;
    LineFields f;
    if (!validator_.check(line, &f) || !f.has_seq || !f.has_f)
      return fail(Code::store_corrupt,
                  fmt::format("{} line {}: not a valid event record", seg.path, lineno));
    if (f.seq != scan.expected)
      return fail(Code::store_corrupt, fmt::format("{} line {}: seq {}, expected {}", seg.path,
                                                   lineno, f.seq, scan.expected));
    if ((f.seq - seg.first_seq) % kIndexStride == 0) seg.index.push_back(off);
    ++seg.count;
    seg.bytes = off + line.size() + 1;
    ++scan.expected;
    if (f.f & kCommitEnd) {
      if ((f.f & kCommitState) && f.seq > scan.through_seq && !scan.cut)
        scan.cut = scan.commit_start;
      scan.keep = LogPos{i, seg.bytes, f.seq};
      scan.commit_start = scan.keep;
    }
  }
  if (!lines.error().empty())
    return fail(Code::store_io, fmt::format("read {}: {}", seg.path, lines.error()));
  if (lines.trailing() > 0) {
    if (!last)
      return fail(Code::store_corrupt,
                  fmt::format("{} line {}: truncated record", seg.path, lineno + 1));
    scan.torn_note = fmt::format("{} line {}: truncated torn last line ({} bytes)", seg.path,
                                 lineno + 1, lines.trailing());
  }
  return seg;
}

// Cuts a worker's log back to `end`. Later segments go first (newest first),
// then the segment holding the cut is truncated: a crash at any point here
// leaves a state that the next open() repairs the same way.
Result<void> FsStoreImpl::cut_events(WorkerModel& w, const LogPos& end) {
  std::string edir = w.events_dir();
  while (w.segments.size() > end.seg + 1) {
    if (::unlink(w.segments.back().path.c_str()) != 0)
      return tl::unexpected(io_error("unlink", w.segments.back().path, errno));
    w.segments.pop_back();
  }
  if (auto r = sync_dir(edir); !r) return r;
  Segment& s = w.segments.back();
  if (::truncate(s.path.c_str(), static_cast<off_t>(end.offset)) != 0)
    return tl::unexpected(io_error("truncate", s.path, errno));
  Fd sfd(::open(s.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!sfd || ::fsync(sfd.get()) != 0) return tl::unexpected(io_error("fsync", s.path, errno));
  s.count = end.seq + 1 - s.first_seq;
  s.bytes = end.offset;
  s.index.resize((s.count + kIndexStride - 1) / kIndexStride);
  // An emptied segment other than the first is not worth keeping.
  if (s.count == 0 && w.segments.size() > 1) {
    if (::unlink(s.path.c_str()) != 0) return tl::unexpected(io_error("unlink", s.path, errno));
    w.segments.pop_back();
    if (auto r = sync_dir(edir); !r) return r;
  }
  return {};
}

Result<void> FsStoreImpl::restore_transcript(WorkerModel& w, std::uint64_t min_total,
                                             std::vector<std::string>& diags) {
  std::string path = w.transcript_path();
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return fail(Code::store_corrupt, fmt::format("missing file {}", path));
    return tl::unexpected(io_error("open", path, errno));
  }
  LineScanner scan(fd.get(), 0, kRestoreChunk);
  std::string_view line;
  std::uint64_t off = 0, lineno = 0, keep_bytes = 0, count = 0;
  std::uint64_t dropped = 0;
  while (scan.next(line, off)) {
    ++lineno;
    LineFields f;
    if (!validator_.check(line, &f) || !f.has_index || !f.has_seq)
      return fail(Code::store_corrupt,
                  fmt::format("{} line {}: not a valid transcript record", path, lineno));
    if (dropped == 0 && f.index != count)
      return fail(Code::store_corrupt,
                  fmt::format("{} line {}: index {}, expected {}", path, lineno, f.index, count));
    // Items of a commit whose events were cut were never acknowledged either.
    if (f.seq > w.last_seq_ || dropped > 0) {
      ++dropped;
      continue;
    }
    if (count % kIndexStride == 0) w.transcript_index.push_back(off);
    ++count;
    keep_bytes = off + line.size() + 1;
  }
  if (!scan.error().empty())
    return fail(Code::store_io, fmt::format("read {}: {}", path, scan.error()));
  if (scan.trailing() > 0)
    diags.push_back(fmt::format("worker {}: {} line {}: truncated torn last line ({} bytes)", w.id,
                                path, lineno + 1, scan.trailing()));
  if (dropped > 0)
    diags.push_back(fmt::format("worker {}: dropped {} unacknowledged transcript item(s) in {}",
                                w.id, dropped, path));
  if (count < min_total)
    return fail(Code::store_corrupt,
                fmt::format("{} line {}: transcript has {} items but the state says {}", path,
                            lineno + 1, count, min_total));
  if (scan.trailing() > 0 || dropped > 0) {
    if (::truncate(path.c_str(), static_cast<off_t>(keep_bytes)) != 0)
      return tl::unexpected(io_error("truncate", path, errno));
    Fd sfd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!sfd || ::fsync(sfd.get()) != 0) return tl::unexpected(io_error("fsync", path, errno));
  }
  w.transcript_total = w.durable_transcript = count;
  w.transcript_bytes = keep_bytes;
  return {};
}

// ---------------------------------------------------------------- io thread

Result<Log*> FsStoreImpl::log(std::string_view worker_id) {
  if (!opened_) return fail(Code::internal, "fs store used before open()");
  auto it = workers_.find(worker_id);
  if (it != workers_.end()) return it->second.get();
  if (!is_valid_id(worker_id)) return fail(Code::invalid_id, "commit for an invalid worker_id");
  auto w = std::make_unique<WorkerModel>(*this, std::string(worker_id));
  w->dir = workers_dir_ + "/" + encode_for_path(worker_id);
  Log* p = w.get();
  workers_.emplace(std::string(worker_id), std::move(w));
  return p;
}

void WorkerModel::append(std::uint64_t seq, std::string_view event) { store.append(*this, seq, event); }
void WorkerModel::append_transcript(std::uint64_t index, std::string_view item) {
  store.append_transcript(*this, index, item);
}
void WorkerModel::commit(std::optional<std::string> state, Done done) {
  store.commit(*this, std::move(state), std::move(done));
}

namespace {
// Raw newlines can only be insignificant whitespace in valid JSON.
void blank_newlines(char* b, char* e) {
  std::replace_if(b, e, [](char ch) { return ch == '\n' || ch == '\r'; }, ' ');
}
}  // namespace

// Starts a commit: remembers what a refused commit must restore.
void FsStoreImpl::begin(WorkerModel& w) {
  w.open = true;
  w.open_error.reset();
  w.open_events.clear();
  w.open_rolled = false;
  w.open_start_seq = w.last_seq_;
  w.open_had_segments = !w.segments.empty();
  if (w.open_had_segments) {
    w.open_seg_before.count = w.segments.back().count;
    w.open_seg_before.bytes = w.segments.back().bytes;
    w.open_index_before = w.segments.back().index.size();
  }
  w.open_retained_events = w.retained_events;
  w.open_retained_bytes = w.retained_bytes;
  w.open_transcript.clear();
  w.open_transcript_items.clear();
}

void FsStoreImpl::rollback(WorkerModel& w) {
  if (w.open_rolled) {
    w.segments.pop_back();
  } else if (w.open_had_segments) {
    Segment& seg = w.segments.back();
    seg.count = w.open_seg_before.count;
    seg.bytes = w.open_seg_before.bytes;
    seg.index.resize(w.open_index_before);
  }
  w.retained_events = w.open_retained_events;
  w.retained_bytes = w.open_retained_bytes;
  w.last_seq_ = w.open_start_seq;
  w.open_rolled = false;
  w.open_events.clear();
  w.open_transcript.clear();
  w.open_transcript_items.clear();
}

// The hot path: one line serialised into the open commit's buffer.
void FsStoreImpl::append(WorkerModel& w, std::uint64_t seq, std::string_view event) {
  if (!w.open) begin(w);
  if (w.open_error) return;
  if (seq != w.last_seq_ + 1) {
    w.open_error = Error{Code::internal, fmt::format("worker {}: event seq {} does not continue the log "
                                                     "(expected {})", w.id, seq, w.last_seq_ + 1)};
    return;
  }
  if (w.last_seq_ == w.open_start_seq) {
    // A commit never straddles segments, so roll before it when full.
    bool roll = w.segments.empty() ||
                (w.segments.back().count > 0 &&
                 (w.segments.back().count >= options_.segment_max_events ||
                  w.segments.back().bytes >= options_.segment_max_bytes));
    if (roll) {
      Segment s;
      s.first_seq = seq;
      s.path = w.events_dir() + "/" + seq_name(seq) + ".jsonl";
      w.segments.push_back(std::move(s));
      w.open_rolled = true;
    }
  }
  std::size_t before = w.open_events.size();
  append_event_line(w.open_events, seq, 0, event);
  char* rec = w.open_events.data() + w.open_events.size() - 2 - event.size();
  blank_newlines(rec, rec + event.size());
  if (!validator_.check(std::string_view(rec, event.size()))) {
    w.open_error = Error{Code::internal, fmt::format("worker {}: event {} is not JSON", w.id, seq)};
    return;
  }
  w.open_flag_pos = w.open_events.find(",\"f\":", before) + 5;
  Segment& seg = w.segments.back();
  if ((seq - seg.first_seq) % kIndexStride == 0) seg.index.push_back(seg.bytes);
  std::size_t n = w.open_events.size() - before;
  seg.bytes += n;
  w.retained_bytes += n;
  ++seg.count;
  ++w.retained_events;
  w.last_seq_ = seq;
}

void FsStoreImpl::append_transcript(WorkerModel& w, std::uint64_t index, std::string_view item) {
  if (!w.open) begin(w);
  if (w.open_error) return;
  std::uint64_t expected = w.transcript_total + w.open_transcript_items.size();
  if (index != expected) {
    w.open_error = Error{Code::internal, fmt::format("worker {}: transcript index {} does not continue "
                                                     "(expected {})", w.id, index, expected)};
    return;
  }
  std::size_t before = w.open_transcript.size();
  w.open_transcript.append(item);
  blank_newlines(w.open_transcript.data() + before, w.open_transcript.data() + w.open_transcript.size());
  if (!validator_.check(std::string_view(w.open_transcript).substr(before))) {
    w.open_error =
        Error{Code::internal, fmt::format("worker {}: transcript item {} is not JSON", w.id, index)};
    return;
  }
  w.open_transcript_items.emplace_back(index, w.open_transcript.size());
}

void FsStoreImpl::commit(WorkerModel& w, std::optional<std::string> state, Done done) {
  if (!w.open) begin(w);
  w.open = false;
  Job job;
  job.done = std::move(done);
  job.worker = &w;
  if (w.open_error) {
    job.error = std::move(w.open_error);
    w.open_error.reset();
    rollback(w);
    enqueue(std::move(job));
    return;
  }
  if (!w.created) {
    w.created = true;
    job.create_dir = w.dir;
    if (!state) state = std::string();
  }
  if (w.segments.empty()) {
    // A new worker's first segment exists even before its first event.
    Segment s;
    s.first_seq = w.last_seq_ + 1;
    s.path = w.events_dir() + "/" + seq_name(s.first_seq) + ".jsonl";
    w.segments.push_back(std::move(s));
    w.open_rolled = true;
  }
  bool has_events = w.last_seq_ > w.open_start_seq;
  if (has_events || w.open_rolled) {
    if (has_events)
      w.open_events[w.open_flag_pos] = static_cast<char>('0' + (kCommitEnd | (state ? kCommitState : 0)));
    Append a;
    a.path = w.segments.back().path;
    a.new_file = w.open_rolled;
    a.bytes = std::move(w.open_events);
    w.open_events.clear();
    job.appends.push_back(std::move(a));
    if (has_events) job.first_event = w.open_start_seq + 1;
  }
  if (!w.open_transcript_items.empty() || !job.create_dir.empty()) {
    Append a;
    a.path = w.transcript_path();
    a.new_file = !job.create_dir.empty();
    std::size_t from = 0;
    for (const auto& [index, end] : w.open_transcript_items) {
      if (index % kIndexStride == 0) w.transcript_index.push_back(w.transcript_bytes);
      std::size_t before = a.bytes.size();
      append_transcript_line(a.bytes, index, w.last_seq_,
                             std::string_view(w.open_transcript).substr(from, end - from));
      from = end;
      w.transcript_bytes += a.bytes.size() - before;
      ++w.transcript_total;
    }
    job.appends.push_back(std::move(a));
  }
  if (state) {
    job.state_path = w.state_path();
    job.state_content = state_file(w.last_seq_, w.transcript_total, *state);
  }

  // Retention: drop whole old segments, never the one being written.
  while (w.segments.size() > 1 && (w.retained_events > options_.retention.max_events ||
                                   w.retained_bytes > options_.retention.max_bytes)) {
    const Segment& old = w.segments.front();
    w.retained_events -= old.count;
    w.retained_bytes -= old.bytes;
    job.unlinks.push_back(old.path);
    w.segments.pop_front();
  }
  while (!w.tail.empty() && w.tail.front().last_seq < w.first_seq()) {
    w.tail_bytes -= w.tail.front().lines.size();
    w.tail_events -= w.tail.front().last_seq - w.tail.front().first_seq + 1;
    w.tail.pop_front();
  }

  job.durable_seq = w.last_seq_;
  job.durable_transcript = w.transcript_total;
  enqueue(std::move(job));
}

void FsStoreImpl::flush(Done done) {
  if (!opened_) {
    asio::post(io_, [done = std::move(done)] { done(fail(Code::internal, "fs store used before open()")); });
    return;
  }
  Job job;
  job.flush = true;
  job.done = std::move(done);
  enqueue(std::move(job));
}

void FsStoreImpl::remove(std::string_view worker_id, Done done) {
  auto it = opened_ ? workers_.find(worker_id) : workers_.end();
  if (it == workers_.end() || !it->second->created) {
    // Never committed: nothing on disk and nothing queued names it.
    if (it != workers_.end()) workers_.erase(it);
    Error e = opened_ ? Error{Code::worker_not_found, fmt::format("worker '{}' not found", worker_id)}
                      : Error{Code::internal, "fs store used before open()"};
    asio::post(io_, [done = std::move(done), e] { done(tl::unexpected(e)); });
    return;
  }
  Job job;
  job.done = std::move(done);
  job.remove_dir = it->second->dir;
  job.tombstone = fmt::format("{}/{}{}-{}", workers_dir_, kTombstonePrefix, encode_for_path(worker_id),
                              random_.hex(8));
  job.retired = std::move(it->second);
  workers_.erase(it);
  enqueue(std::move(job));
}

// Commits made during one turn of the io_context are handed to the writer
// together, which is what lets concurrent commits share one sync.
void FsStoreImpl::enqueue(Job job) {
  job.queued = std::chrono::steady_clock::now();
  io_pending_.push_back(std::move(job));
  if (outstanding_++ == 0) work_.emplace(io_.get_executor());
  if (handoff_posted_) return;
  handoff_posted_ = true;
  std::weak_ptr<Shared> weak = shared_;
  asio::post(io_, [this, weak] {
    auto s = weak.lock();
    if (!s || !s->alive) return;
    handoff();
  });
}

void FsStoreImpl::handoff() {
  handoff_posted_ = false;
  {
    std::lock_guard lock(mu_);
    for (auto& j : io_pending_) queue_.push_back(std::move(j));
  }
  io_pending_.clear();
  cv_.notify_one();
}

void FsStoreImpl::complete(std::vector<Job>& jobs, const Result<void>& result) {
  // A listener or `done` may destroy the store (a shutdown path that drops
  // it once flushed): account first, and stop touching `this` once it is gone.
  std::shared_ptr<Shared> keep = shared_;
  outstanding_ -= jobs.size();
  if (outstanding_ == 0) work_.reset();
  // Watermarks first; then the listener once per advanced log; then the
  // failures; then the `done`s in call order.
  std::vector<WorkerModel*> advanced;
  std::vector<std::pair<WorkerModel*, Error>> failed;
  for (auto& job : jobs) {
    if (!job.worker) continue;
    WorkerModel& w = *job.worker;
    if (job.error || !result) {
      failed.emplace_back(&w, job.error ? *job.error : result.error());
      continue;
    }
    w.durable = true;
    w.durable_seq_ = std::max(w.durable_seq_, job.durable_seq);
    w.durable_transcript = std::max(w.durable_transcript, job.durable_transcript);
    if (std::find(advanced.begin(), advanced.end(), &w) == advanced.end()) advanced.push_back(&w);
    if (job.first_event == 0) continue;
    // The tail cache takes the commit's lines as written (the writer is done with them).
    std::uint64_t n = job.durable_seq - job.first_event + 1;
    std::string& lines = job.appends.front().bytes;
    w.tail_bytes += lines.size();
    w.tail_events += n;
    w.tail.push_back({job.first_event, job.durable_seq, std::move(lines)});
    std::uint64_t first = w.first_seq();
    while (!w.tail.empty() && (w.tail_events > kTailCache || w.tail_bytes > kTailCacheBytes ||
                               w.tail.front().last_seq < first)) {
      w.tail_bytes -= w.tail.front().lines.size();
      w.tail_events -= w.tail.front().last_seq - w.tail.front().first_seq + 1;
      w.tail.pop_front();
    }
  }
  for (WorkerModel* w : advanced) {
    if (!keep->alive) return;
    if (listener_) listener_(*w, Result<std::uint64_t>(w->durable_seq_));
  }
  for (auto& [w, e] : failed) {
    if (!keep->alive) return;
    if (listener_) listener_(*w, Result<std::uint64_t>(tl::unexpected(e)));
  }
  for (auto& job : jobs) {
    if (!keep->alive) return;
    Result<void> r = job.error ? Result<void>(tl::unexpected(*job.error)) : result;
    if (job.done) job.done(std::move(r));
  }
}

Result<void> FsStoreImpl::read_event_file(const WorkerModel& w, std::uint64_t start,
                                          std::uint64_t end, std::vector<EventRecord>& out) const {
  // The segment holding `start`: the last one whose first_seq <= start.
  auto it = std::upper_bound(w.segments.begin(), w.segments.end(), start,
                             [](std::uint64_t s, const Segment& seg) { return s < seg.first_seq; });
  if (it == w.segments.begin()) return {};
  --it;
  std::uint64_t seq = start;
  for (; it != w.segments.end() && seq <= end; ++it) {
    const Segment& seg = *it;
    if (seg.count == 0 || seq >= seg.first_seq + seg.count) continue;
    std::uint64_t slot = (seq - seg.first_seq) / kIndexStride;
    if (slot >= seg.index.size()) return fail(Code::internal, "fs store index out of range");
    Fd fd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return tl::unexpected(io_error("open", seg.path, errno));
    LineScanner scan(fd.get(), seg.index[slot], kReadChunk);
    std::string_view line;
    std::uint64_t off;
    while (seq <= end && scan.next(line, off)) {
      Decoded d;
      if (!decode_event_line(line, d))
        return fail(Code::store_corrupt, fmt::format("{}: unreadable record at offset {}", seg.path, off));
      if (d.key < seq) continue;
      if (d.key != seq)
        return fail(Code::store_corrupt, fmt::format("{}: seq {} where {} was expected", seg.path, d.key, seq));
      out.push_back(EventRecord{d.key, std::string(d.record)});
      ++seq;
    }
    if (!scan.error().empty())
      return fail(Code::store_io, fmt::format("read {}: {}", seg.path, scan.error()));
  }
  return {};
}

Result<EventRange> FsStoreImpl::read_events(std::string_view worker_id, std::uint64_t after_seq,
                                            std::size_t limit) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || !it->second->durable)
    return fail(Code::worker_not_found, fmt::format("worker {} not found", worker_id));
  const WorkerModel& w = *it->second;
  EventRange out;
  out.first_seq = w.first_seq();
  if (out.first_seq > w.durable_seq_) out.first_seq = 0;
  out.last_seq = w.durable_seq_;
  if (out.first_seq == 0 || limit == 0 || after_seq >= w.durable_seq_) return out;
  std::uint64_t start = std::max(after_seq + 1, out.first_seq);
  std::uint64_t end = std::min<std::uint64_t>(w.durable_seq_, start + std::min(limit, kMaxPage) - 1);
  if (!w.tail.empty() && w.tail.front().first_seq <= start) {
    for (const auto& chunk : w.tail) {
      if (chunk.last_seq < start) continue;
      if (chunk.first_seq > end) break;
      std::string_view rest(chunk.lines);
      while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        Decoded d;
        if (!decode_event_line(line, d)) return fail(Code::internal, "fs store tail cache is unreadable");
        if (d.key < start) continue;
        if (d.key > end) break;
        out.events.push_back(EventRecord{d.key, std::string(d.record)});
      }
    }
    return out;
  }
  if (auto r = read_event_file(w, start, end, out.events); !r) return tl::unexpected(r.error());
  return out;
}

Result<std::vector<TranscriptRecord>> FsStoreImpl::read_transcript(std::string_view worker_id,
                                                                   std::uint64_t start,
                                                                   std::size_t limit) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || !it->second->durable)
    return fail(Code::worker_not_found, fmt::format("worker {} not found", worker_id));
  const WorkerModel& w = *it->second;
  std::vector<TranscriptRecord> out;
  if (start >= w.durable_transcript || limit == 0) return out;
  std::uint64_t end = std::min<std::uint64_t>(w.durable_transcript, start + std::min(limit, kMaxPage));
  std::uint64_t slot = start / kIndexStride;
  if (slot >= w.transcript_index.size()) return fail(Code::internal, "fs store index out of range");
  std::string path = w.transcript_path();
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return tl::unexpected(io_error("open", path, errno));
  LineScanner scan(fd.get(), w.transcript_index[slot], kReadChunk);
  std::string_view line;
  std::uint64_t off, index = start;
  while (index < end && scan.next(line, off)) {
    Decoded d;
    if (!decode_transcript_line(line, d))
      return fail(Code::store_corrupt, fmt::format("{}: unreadable record at offset {}", path, off));
    if (d.key < index) continue;
    if (d.key != index)
      return fail(Code::store_corrupt, fmt::format("{}: index {} where {} was expected", path, d.key, index));
    out.push_back(TranscriptRecord{d.key, std::string(d.record)});
    ++index;
  }
  if (!scan.error().empty()) return fail(Code::store_io, fmt::format("read {}: {}", path, scan.error()));
  return out;
}

// ---------------------------------------------------------------- writer

void FsStoreImpl::writer_loop() {
  for (;;) {
    std::vector<Job> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      if (options_.fsync == FsyncPolicy::batch && !stop_) {
        auto deadline = queue_.front().queued + options_.batch_interval;
        cv_.wait_until(lock, deadline,
                       [&] { return stop_ || queue_.size() >= options_.batch_max; });
      }
      group.reserve(queue_.size());
      for (auto& j : queue_) group.push_back(std::move(j));
      queue_.clear();
    }
    Result<void> result = process(group);
    shared_->groups.fetch_add(1);
    auto jobs = std::make_shared<std::vector<Job>>(std::move(group));
    std::weak_ptr<Shared> weak = shared_;
    asio::post(io_, [this, weak, jobs, result] {
      auto s = weak.lock();
      if (!s || !s->alive) return;  // the store is gone; so is whoever waited
      complete(*jobs, result);
    });
  }
}

Result<int> FsStoreImpl::append_fd(const std::string& path) {
  auto it = fds_.find(path);
  if (it != fds_.end()) return it->second.get();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return tl::unexpected(io_error("open", path, errno));
  fds_.emplace(path, Fd(fd));
  return fd;
}

void FsStoreImpl::close_fd(const std::string& path) {
  auto it = fds_.find(path);
  if (it == fds_.end()) return;
  fds_.erase(it);
}

Result<void> FsStoreImpl::parallel(std::size_t n,
                                   const std::function<Result<void>(std::size_t)>& task) {
  if (n == 0) return {};
  std::mutex emu;
  std::optional<Error> first;
  auto run = [&](std::size_t i) {
    auto r = task(i);
    if (!r) {
      std::lock_guard l(emu);
      if (!first) first = r.error();
    }
  };
  if (n > 1) {
    std::latch done(static_cast<std::ptrdiff_t>(n - 1));
    for (std::size_t i = 1; i < n; ++i)
      asio::post(pool_, [&, i] {
        run(i);
        done.count_down();
      });
    run(0);
    done.wait();
  } else {
    run(0);
  }
  if (first) return tl::unexpected(*first);
  return {};
}

// Builds a new worker's directory under <dir>.tmp with its first commit fully
// written, then renames it into place: a worker directory is never seen
// without its state file.
Result<void> FsStoreImpl::create_worker_dir(Job& job) {
  const std::string& final_dir = job.create_dir;
  std::string tmp = final_dir + ".tmp";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  if (::mkdir(tmp.c_str(), 0755) != 0) return tl::unexpected(io_error("create directory", tmp, errno));
  if (::mkdir((tmp + "/events").c_str(), 0755) != 0)
    return tl::unexpected(io_error("create directory", tmp + "/events", errno));
  bool sync = sync_enabled();
  auto write_new = [&](const std::string& final_path, std::string_view bytes) -> Result<void> {
    std::string path = tmp + final_path.substr(final_dir.size());
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return tl::unexpected(io_error("create", path, errno));
    if (auto r = write_all(fd.get(), bytes, path); !r) return r;
    if (sync) {
      shared_->file_syncs.fetch_add(1);
      if (::fsync(fd.get()) != 0) return tl::unexpected(io_error("fsync", path, errno));
    }
    return {};
  };
  for (const auto& a : job.appends)
    if (auto r = write_new(a.path, a.bytes); !r) return r;
  if (job.state_content)
    if (auto r = write_new(job.state_path, *job.state_content); !r) return r;
  if (sync) {
    shared_->dir_syncs.fetch_add(2);
    if (auto r = sync_dir(tmp + "/events"); !r) return r;
    if (auto r = sync_dir(tmp); !r) return r;
  }
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0)
    return tl::unexpected(io_error("rename", tmp, errno));
  if (sync) {
    shared_->dir_syncs.fetch_add(1);
    if (auto r = sync_dir(workers_dir_); !r) return r;
  }
  return {};
}

// One writer cycle over a group (README, "Writing and the fsync protocol").
// A removal cuts the group: the jobs before it are written and synced first
// (they may name the removed worker), the ones after it may create a new
// worker of the same id. A failure stops the group and, being sticky, every
// later one: after a failed write the files may hold a partial tail, so
// nothing is acknowledged on top of it (repaired on next open).
Result<void> FsStoreImpl::process(std::vector<Job>& group) {
  if (failed_) return tl::unexpected(failure_);
  // Bound open files; only between groups, when every fd's data is synced.
  if (fds_.size() > kMaxOpenFds) fds_.clear();
  std::span<Job> rest(group);
  while (!rest.empty()) {
    auto cut = std::find_if(rest.begin(), rest.end(),
                            [](const Job& j) { return !j.remove_dir.empty(); });
    auto n = static_cast<std::size_t>(cut - rest.begin());
    Result<void> r = n > 0 ? process_writes(rest.first(n)) : Result<void>{};
    if (r && n < rest.size()) r = remove_worker_dir(rest[n]);
    if (!r) {
      failed_ = true;
      failure_ = r.error();
      return r;
    }
    rest = rest.subspan(std::min(n + 1, rest.size()));
  }
  return {};
}

// Steps 1-5 over jobs that remove nothing.
Result<void> FsStoreImpl::process_writes(std::span<Job> jobs) {
  bool sync = sync_enabled();
  GroupWrites writes;
  if (auto r = write_group(jobs, writes); !r) return r;

  // Logs first, then state files: a state file never refers to events
  // that are not yet on disk (README: repair rules).
  if (sync)
    if (auto r = sync_logs(writes); !r) return r;
  if (auto r = replace_states(writes.states, sync); !r) return r;

  if (writes.any_flush && !sync) {
    // Policy none never synced anything; flush makes all of it durable.
    shared_->file_syncs.fetch_add(1);
    if (::syncfs(lock_fd_.get()) != 0) return tl::unexpected(io_error("syncfs", options_.dir, errno));
  }

  for (const auto& path : writes.unlinks) {
    close_fd(path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return tl::unexpected(io_error("unlink", path, errno));
  }
  return {};
}

// Removes a worker as one atomic step: its directory is renamed to a
// tombstone (and workers/ synced), which is the moment it is gone; only then
// are its files deleted. A crash before the rename leaves the whole worker,
// after it a tombstone that open() deletes.
Result<void> FsStoreImpl::remove_worker_dir(Job& job) {
  std::string prefix = job.remove_dir + "/";
  std::erase_if(fds_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  if (options_.crash_point) options_.crash_point("remove:before_rename");
  if (::rename(job.remove_dir.c_str(), job.tombstone.c_str()) != 0)
    return tl::unexpected(io_error("rename", job.remove_dir, errno));
  if (sync_enabled()) {
    shared_->dir_syncs.fetch_add(1);
    if (auto r = sync_dir(workers_dir_); !r) return r;
  }
  if (options_.crash_point) options_.crash_point("remove:renamed");
  // A tombstone left by a failure here is harmless: the worker is already
  // gone, and the next open() deletes it.
  std::error_code ec;
  std::filesystem::remove_all(job.tombstone, ec);
  return {};
}

// Steps 1-2: creates new workers and appends every other job's lines, one
// write per file per job, noting in `writes` what must be synced, replaced
// and unlinked afterwards. Only the newest state per file is kept.
Result<void> FsStoreImpl::write_group(std::span<Job> jobs, GroupWrites& writes) {
  for (auto& job : jobs) {
    if (job.error) continue;
    if (job.flush) {
      writes.any_flush = true;
      continue;
    }
    shared_->commits.fetch_add(1);
    if (!job.create_dir.empty()) {
      if (auto r = create_worker_dir(job); !r) return r;
      continue;
    }
    for (const auto& a : job.appends) {
      auto fd = append_fd(a.path);
      if (!fd) return tl::unexpected(fd.error());
      if (auto r = write_all(*fd, a.bytes, a.path); !r) return r;
      writes.mark_dirty(*fd, a.path);
      if (a.new_file) {
        auto slash = a.path.find_last_of('/');
        writes.dirty_dirs[a.path.substr(0, slash)] = a.path;
      }
    }
    if (job.state_content) writes.states[job.state_path] = std::move(*job.state_content);
    for (auto& u : job.unlinks) writes.unlinks.push_back(std::move(u));
  }
  return {};
}

// Step 3: every appended file, and every directory that gained a segment,
// synced in parallel (ext4 folds them into one journal commit).
Result<void> FsStoreImpl::sync_logs(const GroupWrites& writes) {
  const auto& dirty = writes.dirty;
  std::vector<std::string> dirs;
  for (auto& [d, _] : writes.dirty_dirs) dirs.push_back(d);
  std::size_t n = dirty.size() + dirs.size();
  return parallel(n, [&](std::size_t i) -> Result<void> {
    if (i < dirty.size()) {
      shared_->file_syncs.fetch_add(1);
      return sync_fd(dirty[i].first, dirty[i].second);
    }
    shared_->dir_syncs.fetch_add(1);
    return sync_dir(dirs[i - dirty.size()]);
  });
}

// Step 4: each touched worker's state file replaced (tmp, fsync, rename,
// fsync the directory when syncing), in parallel.
Result<void> FsStoreImpl::replace_states(const std::map<std::string, std::string>& states,
                                         bool sync) {
  if (states.empty()) return {};
  std::vector<std::pair<std::string, std::string>> list(states.begin(), states.end());
  return parallel(list.size(), [&](std::size_t i) -> Result<void> {
    if (sync) {
      shared_->file_syncs.fetch_add(1);
      shared_->dir_syncs.fetch_add(1);
    }
    return replace_file(list[i].first, list[i].second, sync);
  });
}

}  // namespace

std::unique_ptr<FsStore> make_fs_store(boost::asio::io_context& io, FsOptions options,
                                       Random& random) {
  return std::make_unique<FsStoreImpl>(io, std::move(options), random);
}

}  // namespace yoi::store
