#include "yoi/backend/embedded_source.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "relabel.hpp"
#include "upstream.hpp"
#include "yoi/clock.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/runtime.hpp"

namespace yoi::backend {
namespace {

class EmbeddedSource final : public Source {
 public:
  EmbeddedSource(boost::asio::io_context& io, rt::Runtime& runtime, std::string id,
                 std::string display_name)
      : io_(io), rt_(runtime), id_(std::move(id)), display_name_(std::move(display_name)),
        limits_(runtime.summary().limits) {}

  const std::string& id() const override { return id_; }
  std::string_view kind() const override { return "embedded"; }

  void info(bool, std::function<void(RuntimeInfo)> done) override {
    RuntimeInfo info;
    info.runtime_id = id_;
    info.kind = "embedded";
    info.health = Health::ready;
    info.summary = rt_.summary();
    info.summary->runtime_id = id_;
    info.display_name = display_name_.empty() ? info.summary->display_name : display_name_;
    info.summary->display_name = info.display_name;
    info.last_seen_ms = Clock::system().now_ms();
    post([done = std::move(done), info = std::move(info)]() mutable { done(std::move(info)); });
  }

  std::optional<rt::Limits> limits() const override { return limits_; }

  void create(rt::CreateWorker request, Callback<rt::WorkerDetail> done) override {
    rt_.create(std::move(request), relabel(std::move(done)));
  }

  void list(rt::ListWorkers request, Callback<rt::WorkerPage> done) override {
    auto page = rt_.list(request);
    if (page)
      for (auto& w : page->workers) w.runtime_id = id_;
    post_result(std::move(done), std::move(page));
  }

  void detail(std::string worker_id, Callback<rt::WorkerDetail> done) override {
    auto d = rt_.detail(worker_id);
    if (d) d->runtime_id = id_;
    post_result(std::move(done), std::move(d));
  }

  void input(std::string worker_id, rt::Input request, Callback<rt::InputAccepted> done) override {
    rt_.input(worker_id, std::move(request), std::move(done));
  }

  void cancel(std::string worker_id, std::optional<std::string> reason,
              Callback<rt::CancelResult> done) override {
    rt_.cancel(worker_id, std::move(reason), std::move(done));
  }

  void stop(std::string worker_id, std::optional<std::string> reason,
            Callback<rt::WorkerDetail> done) override {
    rt_.stop(worker_id, std::move(reason), relabel(std::move(done)));
  }

  void remove(std::string worker_id, Callback<void> done) override {
    rt_.remove(worker_id, std::move(done));
  }

  // The same route into the runtime as a remote runtime's PUT, no side door.
  void put_bundle(std::string digest, boost::json::object body, Callback<rt::BundlePut> done) override {
    rt_.put_bundle(digest, body, std::move(done));
  }

  void bundles(Callback<std::vector<rt::BundleInfo>> done) override {
    post_result(std::move(done), Result<std::vector<rt::BundleInfo>>(rt_.bundles()));
  }

  void approve(std::string worker_id, std::string call_id, rt::ApprovalDecision decision,
               Callback<rt::ApprovalOutcome> done) override {
    rt_.approve(worker_id, call_id, std::move(decision), std::move(done));
  }

  void transcript(std::string worker_id, std::uint64_t start, std::size_t limit,
                  Callback<rt::TranscriptPage> done) override {
    post_result(std::move(done), rt_.transcript(worker_id, start, limit));
  }

  void events(std::string worker_id, std::optional<Position> after, std::size_t limit,
              Callback<SourceEventPage> done) override {
    post_result(std::move(done), read(worker_id, after, limit));
  }

  std::unique_ptr<EventStream> event_stream(std::string worker_id, const StreamOptions&) override {
    return detail::make_embedded_upstream(io_, rt_, std::move(worker_id));
  }

  void close() override {}

 private:
  Result<SourceEventPage> read(const std::string& worker_id, const std::optional<Position>& after,
                               std::size_t limit) {
    // The runtime judges the position (an unknown worker first, then
    // another history: cursor_unknown), exactly as a remote runtime does.
    std::string cursor;
    if (after) cursor = rt::encode_cursor(after->epoch, rt::worker_tag(worker_id), after->seq);
    auto page = rt_.read_after(worker_id, cursor, limit);
    if (!page) return fail(page.error());
    SourceEventPage out;
    out.epoch = std::move(page->epoch);
    out.position = after ? after->seq : 0;
    out.last_seq = page->last_seq;
    out.events.reserve(page->events.size());
    for (auto& e : page->events) {
      out.position = e.seq;
      detail::relabel_event_json(e.json, id_);
      out.events.push_back(SourceEvent{e.seq, std::move(e.json)});
    }
    return out;
  }

  // Worker details carry the registry id, whatever the runtime calls itself.
  Callback<rt::WorkerDetail> relabel(Callback<rt::WorkerDetail> done) {
    return [id = id_, done = std::move(done)](Result<rt::WorkerDetail> d) {
      if (d) d->runtime_id = id;
      done(std::move(d));
    };
  }

  template <class T>
  void post_result(Callback<T> done, Result<T> r) {
    post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }
  void post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

  boost::asio::io_context& io_;
  rt::Runtime& rt_;
  std::string id_;
  std::string display_name_;
  const rt::Limits limits_;  // fixed when the runtime opened
};

}  // namespace

std::unique_ptr<Source> make_embedded_source(boost::asio::io_context& io, rt::Runtime& runtime,
                                             std::string id, std::string display_name) {
  return std::make_unique<EmbeddedSource>(io, runtime, std::move(id), std::move(display_name));
}

}  // namespace yoi::backend
