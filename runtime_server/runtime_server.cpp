#include "yoi/runtime_server/runtime_server.hpp"

#include <deque>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/net/params.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/runtime_server/host.hpp"

namespace yoi::runtime_server {

using net::Request;
using net::Respond;
using net::Response;

namespace {

// The observation stream of one WebSocket client (ARCHITECTURE §5). The
// writer pulls: this object holds a position (cursor/seq), at most one
// bounded batch of events read from the log, and a few control frames
// (diagnostic, snapshot). A slow client lags in the log, never in memory.
class Observer : public std::enable_shared_from_this<Observer> {
 public:
  Observer(rt::Runtime& rt, std::string worker_id, const ServerSettings& settings, net::Gauge* streams_gauge)
      : rt_(rt), worker_id_(std::move(worker_id)), settings_(settings), gauge_(streams_gauge) {}

  void open(std::shared_ptr<net::WsStream> s, std::optional<std::string> cursor) {
    stream_ = s;
    if (gauge_) gauge_->inc();
    auto self = shared_from_this();
    s->on_close([self](net::WsCloseInfo) { self->closed(); });
    s->on_message([weak = weak_from_this()](std::string_view) {
      if (auto o = weak.lock()) o->client_sent_data();
    });
    s->set_idle_interval(settings_.heartbeat_interval);

    auto detail = rt_.detail(worker_id_);
    // Only a worker stopped (or stopping) at connect time can end without
    // this stream seeing its worker_stopped event.
    maybe_stopped_ = detail && detail->record.status == rt::WorkerStatus::stopped;
    if (!detail) {
      fatal(detail.error().code, detail.error().message, 1000);
    } else if (!cursor) {
      resync();
    } else {
      auto seq = rt_.cursor_seq(worker_id_, *cursor);
      if (seq) {
        cursor_ = *cursor;
        seq_ = *seq;
      } else {
        // cursor_invalid / cursor_expired / cursor_unknown: say why, then a
        // snapshot, then the stream continues from the snapshot's position.
        pending_.push_back(rt::wire::diagnostic_frame(seq.error().code, seq.error().message, "resync"));
        resync();
      }
    }
    if (!close_after_pending_) {
      auto sub = rt_.subscribe(worker_id_, [weak = weak_from_this()] {
        if (auto o = weak.lock()) {
          o->dirty_ = true;
          if (auto st = o->stream_.lock()) st->wake();
        }
      });
      if (sub) sub_ = std::move(*sub);
    }
    s->set_source([weak = weak_from_this(), frame = std::string()](bool idle) mutable -> std::optional<std::string_view> {
      auto o = weak.lock();
      if (!o) return std::nullopt;
      auto f = o->next(idle);
      if (!f) return std::nullopt;
      frame = std::move(*f);  // held here until the writer has copied it
      return std::string_view(frame);
    });
  }

 private:
  void resync() {
    auto snap = rt_.snapshot(worker_id_);
    if (!snap) return fatal(snap.error().code, snap.error().message, 1011);
    cursor_ = snap->cursor;
    seq_ = snap->seq;
    batch_.clear();
    batch_pos_ = 0;
    pending_.push_back(rt::wire::snapshot_frame(*snap));
  }

  void fatal(Code code, std::string_view message, std::uint16_t close_code) {
    pending_.push_back(rt::wire::diagnostic_frame(code, message, "fatal"));
    close_after_pending_ = true;
    close_code_ = close_code;
    sub_.reset();
  }

  void client_sent_data() {
    if (observation_only_sent_) return;
    observation_only_sent_ = true;
    pending_.clear();
    batch_.clear();
    batch_pos_ = 0;
    fatal(Code::observation_only, "this stream is observation-only; the client must not send data", 1008);
    if (auto s = stream_.lock()) s->wake();
  }

  void closed() {
    sub_.reset();
    if (gauge_) gauge_->dec();
    gauge_ = nullptr;
  }

  // The writer's pull: the next frame, or nullopt to wait for a wake-up.
  std::optional<std::string> next(bool idle) {
    if (!pending_.empty()) {
      auto f = std::move(pending_.front());
      pending_.pop_front();
      return f;
    }
    if (close_after_pending_) {
      if (auto s = stream_.lock()) s->close(close_code_, "");
      return std::nullopt;
    }
    // Read the log only when it may hold something new for us: after a
    // wake-up, or while behind the newest event the last read reported.
    if (batch_pos_ >= batch_.size() && (dirty_ || seq_ < known_last_ || saw_stopped_)) refill();
    if (!pending_.empty() || close_after_pending_) return next(false);
    if (batch_pos_ < batch_.size()) {
      const auto& e = batch_[batch_pos_++];
      cursor_ = e.cursor;
      seq_ = e.seq;
      if (rt::wire::event_type_of(e.json) == rt::wire::EventType::worker_stopped) saw_stopped_ = true;
      auto frame = rt::wire::event_frame(rt_.runtime_id(), worker_id_, e);
      if (batch_pos_ >= batch_.size()) {
        batch_.clear();
        batch_pos_ = 0;
      }
      return frame;
    }
    if (idle) return rt::wire::heartbeat_frame(cursor_, seq_);
    return std::nullopt;
  }

  void refill() {
    batch_.clear();
    batch_pos_ = 0;
    dirty_ = false;
    auto page = rt_.read_after(worker_id_, cursor_, settings_.stream_batch);
    if (!page) {
      if (page.error().code == Code::cursor_expired || page.error().code == Code::cursor_unknown) {
        // The client fell behind retention (or the log changed under it):
        // a typed gap, then a fresh snapshot, and the stream goes on.
        pending_.push_back(rt::wire::diagnostic_frame(page.error().code, page.error().message, "resync"));
        resync();
      } else if (page.error().code == Code::worker_not_found) {
        // Deleted while watched: the stream's final word, a normal close.
        fatal(page.error().code, page.error().message, 1000);
      } else {
        fatal(page.error().code, page.error().message, 1011);
      }
      return;
    }
    known_last_ = page->last_seq;
    batch_ = std::move(page->events);
    if (batch_.empty()) {
      // Caught up. A stopped worker's log is final: say so and close.
      bool stopped = saw_stopped_;
      if (!stopped && maybe_stopped_) {
        // The record's status runs ahead of what is published; only a
        // snapshot tells the published status (rare path: stopped workers).
        auto d = rt_.detail(worker_id_);
        if (d && d->record.status == rt::WorkerStatus::stopped && seq_ >= d->last_seq) {
          auto snap = rt_.snapshot(worker_id_);
          stopped = snap && snap->detail.record.status == rt::WorkerStatus::stopped && seq_ >= snap->seq;
        }
      }
      if (stopped) {
        pending_.push_back(rt::wire::diagnostic_frame(Code::worker_stopped,
                                                      fmt::format("worker '{}' is stopped", worker_id_), "fatal"));
        close_after_pending_ = true;
        close_code_ = 1000;
        sub_.reset();
      }
    }
  }

  rt::Runtime& rt_;
  std::string worker_id_;
  const ServerSettings& settings_;
  net::Gauge* gauge_;
  std::weak_ptr<net::WsStream> stream_;
  rt::Subscription sub_;
  std::string cursor_;
  std::uint64_t seq_ = 0;
  std::vector<rt::Event> batch_;  // at most settings_.stream_batch events
  std::size_t batch_pos_ = 0;
  std::deque<std::string> pending_;  // control frames: at most a diagnostic and a snapshot
  bool close_after_pending_ = false;
  std::uint16_t close_code_ = 1000;
  bool observation_only_sent_ = false;
  bool saw_stopped_ = false;
  bool maybe_stopped_ = false;
  bool dirty_ = true;             // appended since the last read (or never read)
  std::uint64_t known_last_ = 0;  // newest seq as of the last read
};

// Reports the core's counters (Runtime::stats) to /metrics as increments
// since the previous scrape; what the store restored at start is history.
class RunTap {
 public:
  explicit RunTap(rt::Runtime& rt) : rt_(rt), last_(rt.stats()) {}

  void scan(net::Counter& events, net::Family<net::Counter>& finished, net::Family<net::Counter>& approvals,
            net::Counter& approval_wait) {
    const rt::RuntimeStats& now = rt_.stats();
    events.inc(static_cast<double>(now.events_appended - last_.events_appended));
    approvals.with({"requested"}).inc(static_cast<double>(now.approvals_requested - last_.approvals_requested));
    approvals.with({"approved"}).inc(static_cast<double>(now.approvals_approved - last_.approvals_approved));
    approvals.with({"denied"}).inc(static_cast<double>(now.approvals_denied - last_.approvals_denied));
    approval_wait.inc(static_cast<double>(now.approval_wait_ms - last_.approval_wait_ms) / 1000.0);
    finished.with({"completed"}).inc(static_cast<double>(now.runs_completed - last_.runs_completed));
    finished.with({"cancelled"}).inc(static_cast<double>(now.runs_cancelled - last_.runs_cancelled));
    finished.with({"failed"}).inc(static_cast<double>(now.runs_failed - last_.runs_failed));
    last_ = now;
  }

 private:
  rt::Runtime& rt_;
  rt::RuntimeStats last_;
};

}  // namespace

struct RuntimeServer::Impl {
  Impl(boost::asio::io_context& io, rt::Runtime& runtime, ServerSettings s)
      : io(io),
        rt(runtime),
        settings(std::move(s)),
        limits(runtime.summary().limits),
        tap(runtime) {}

  boost::asio::io_context& io;
  rt::Runtime& rt;
  ServerSettings settings;
  const rt::Limits limits;  // fixed at open; summary() would count every worker per request
  net::MetricsRegistry metrics;
  RunTap tap;
  std::unique_ptr<net::HttpServer> http;
  net::Gauge* streams = nullptr;

  net::Router routes();
  std::optional<Error> authorize(const Request& req) const;
};

std::optional<Error> RuntimeServer::Impl::authorize(const Request& req) const {
  return net::check_bearer(req, settings.token);
}

namespace {

// ---- the handlers, one per operation (docs/API.md, Runtime API) ----

using Server = RuntimeServer::Impl;

// The worker a route names: invalid_id before any work.
Result<std::string> worker_id_of(const Request& req) {
  std::string id(req.param("id"));
  if (auto ok = validate_id(id, "worker_id"); !ok) return fail(ok.error());
  return id;
}


void runtime_summary(Server& s, const Request&, Respond respond) {
  respond(Response::json(200, rt::wire::to_json(s.rt.summary())));
}

void list_workers(Server& s, const Request& req, Respond respond) {
  auto query = net::list_query(req, rt::ListWorkers{}.limit);
  if (!query) return respond(net::error_response(query.error()));
  net::reply(respond, s.rt.list(*query));
}

void create_worker(Server& s, const Request& req, Respond respond) {
  auto create = net::create_body(req, s.settings.max_body_bytes, s.limits);
  if (!create) return respond(net::error_response(create.error()));
  s.rt.create(std::move(*create), net::replier<rt::WorkerDetail>(std::move(respond), 201));
}

void worker_detail(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  net::reply(respond, s.rt.detail(*id));
}

// Answers once the run is accepted (durably): 202 Accepted. The reply itself
// arrives as events.
void send_input(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto input = net::input_body(req, s.settings.max_body_bytes, s.limits);
  if (!input) return respond(net::error_response(input.error()));
  s.rt.input(*id, std::move(*input), net::replier<rt::InputAccepted>(std::move(respond), 202));
}

void cancel_run(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto reason = net::reason_body(req, s.settings.max_body_bytes);
  if (!reason) return respond(net::error_response(reason.error()));
  s.rt.cancel(*id, std::move(*reason), net::replier<rt::CancelResult>(std::move(respond)));
}

void stop_worker(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto reason = net::reason_body(req, s.settings.max_body_bytes);
  if (!reason) return respond(net::error_response(reason.error()));
  s.rt.stop(*id, std::move(*reason), net::replier<rt::WorkerDetail>(std::move(respond)));
}

// A person's answer to a call awaiting approval (ARCHITECTURE §15): 200
// with the outcome (the same again for the same answer), 404
// approval_not_found, 409 approval_resolved.
void approve_call(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto call = net::call_id_param(req);
  if (!call) return respond(net::error_response(call.error()));
  auto decision = net::approval_body(req, s.settings.max_body_bytes);
  if (!decision) return respond(net::error_response(decision.error()));
  s.rt.approve(*id, *call, std::move(*decision), net::replier<rt::ApprovalOutcome>(std::move(respond)));
}

// Deletes a stopped worker (ARCHITECTURE §17): 204, or 409 worker_not_stopped.
void delete_worker(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  s.rt.remove(*id, net::no_content_replier(std::move(respond)));
}

void read_transcript(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto start = net::query_uint(req, "start");
  if (!start) return respond(net::error_response(start.error()));
  auto limit = net::query_size(req, "limit");  // 0: the runtime's default page
  if (!limit) return respond(net::error_response(limit.error()));
  net::reply(respond, s.rt.transcript(*id, *start, *limit));
}

void read_events(Server& s, const Request& req, Respond respond) {
  auto id = worker_id_of(req);
  if (!id) return respond(net::error_response(id.error()));
  auto limit = net::query_size(req, "limit");  // 0: the runtime's default page
  if (!limit) return respond(net::error_response(limit.error()));
  // Written as text, the stored events spliced in (a backend catches slow
  // clients up from here: issue 22).
  net::reply(respond, s.rt.read_after(*id, req.query_param("after").value_or(""), *limit), {},
             rt::wire::event_page_text);
}

net::WsDecision observe_events(Server& s, const Request& req) {
  auto id = worker_id_of(req);
  if (!id) return net::error_response(id.error());
  std::optional<std::string> cursor;
  if (auto c = req.query_param("cursor"); c && !c->empty()) cursor = std::string(*c);
  auto observer = std::make_shared<Observer>(s.rt, *id, s.settings, s.streams);
  net::WsAccept accept;
  accept.on_open = [observer, cursor](std::shared_ptr<net::WsStream> ws) {
    observer->open(ws, cursor);
  };
  return accept;
}

// Config bundles (ARCHITECTURE §16): 201 stored, 200 already held.
void put_bundle(Server& s, const Request& req, Respond respond) {
  auto body = json::parse(req.body, s.settings.max_body_bytes);
  if (!body) return respond(net::error_response(body.error()));
  auto put = [respond = std::move(respond)](Result<rt::BundlePut> r) {
    net::reply(respond, r, net::Reply{r && r->created ? 201 : 200});
  };
  s.rt.put_bundle(req.param("digest"), *body, std::move(put));
}

void list_bundles(Server& s, const Request&, Respond respond) {
  respond(net::json_response(200, rt::wire::to_json(s.rt.bundles())));
}

}  // namespace

net::Router RuntimeServer::Impl::routes() {
  net::Router r;
  auto h = [this](auto op) { return net::handler(*this, op); };
  net::add_healthz(r);
  net::add_metrics(r, &metrics);
  r.add("GET", "/v1/runtime", h(runtime_summary));
  r.add("GET", "/v1/workers", h(list_workers));
  r.add("POST", "/v1/workers", h(create_worker));
  r.add("GET", "/v1/workers/{id}", h(worker_detail));
  r.add("DELETE", "/v1/workers/{id}", h(delete_worker));
  r.add("POST", "/v1/workers/{id}/input", h(send_input));
  r.add("POST", "/v1/workers/{id}/cancel", h(cancel_run));
  r.add("POST", "/v1/workers/{id}/stop", h(stop_worker));
  r.add("POST", "/v1/workers/{id}/approvals/{call_id}", h(approve_call));
  r.add("GET", "/v1/workers/{id}/transcript", h(read_transcript));
  r.add("GET", "/v1/workers/{id}/events", h(read_events));
  r.add("GET", "/v1/bundles", h(list_bundles));
  r.add("PUT", "/v1/bundles/{digest}", h(put_bundle));
  r.websocket("/v1/workers/{id}/events/ws",
              [this](const Request& req) { return observe_events(*this, req); });
  return r;
}

RuntimeServer::RuntimeServer(boost::asio::io_context& io, rt::Runtime& runtime, ServerSettings settings)
    : impl_(std::make_unique<Impl>(io, runtime, std::move(settings))) {
  auto& im = *impl_;
  im.streams = &im.metrics.gauge("yoi_runtime_streams_open", "Open observation streams (WebSocket)").get();
  auto& events = im.metrics.counter("yoi_runtime_events_appended_total", "Events appended to worker logs since start").get();
  auto& finished = im.metrics.counter("yoi_runtime_runs_finished_total", "Runs finished since start, by result", {"result"});
  auto& active = im.metrics.gauge("yoi_runtime_runs_active", "Runs in flight (workers running)").get();
  auto& workers = im.metrics.gauge("yoi_runtime_workers", "Workers by status", {"status"});
  for (auto r : {"completed", "cancelled", "failed"}) finished.with({r});
  auto& approvals = im.metrics.counter("yoi_runtime_approvals_total",
                                       "Tool-call approvals since start: requested, approved, denied", {"event"});
  for (auto e : {"requested", "approved", "denied"}) approvals.with({e});
  auto& approval_wait = im.metrics.counter("yoi_runtime_approval_wait_seconds_total",
                                           "Time answered calls waited for a person since start").get();
  im.metrics.on_collect([&im, &events, &finished, &active, &workers, &approvals, &approval_wait] {
    auto s = im.rt.summary();
    for (const auto& [k, v] : s.worker_counts) workers.with({k}).set(static_cast<double>(v));
    active.set(static_cast<double>(im.rt.stats().runs_active));
    im.tap.scan(events, finished, approvals, approval_wait);
  });

  net::ServerOptions o;
  o.host = im.settings.host;
  o.port = im.settings.port;
  o.max_body_bytes = im.settings.max_body_bytes;
  o.max_header_bytes = im.settings.max_header_bytes;
  o.ws_max_message_bytes = im.settings.ws_max_message_bytes;
  o.request_deadline = im.settings.request_timeout;
  o.ws_idle_timeout = im.settings.ws_idle_timeout;
  o.header_timeout = im.settings.header_timeout;
  o.keep_alive_timeout = im.settings.keep_alive_timeout;
  o.server_name = "yoi-runtime";
  o.policy.allowed_hosts = im.settings.allowed_hosts;
  o.policy.origins = net::RequestPolicy::Origins::refuse_any;  // never for a browser
  o.metrics = &im.metrics;
  o.metrics_prefix = "yoi_runtime_http";
  o.auth = [&im](const Request& req) { return im.authorize(req); };
  im.http = std::make_unique<net::HttpServer>(io, im.routes(), std::move(o));
}

RuntimeServer::~RuntimeServer() = default;

Result<void> RuntimeServer::start() {
  if (auto ok = check_listen_policy(impl_->settings.host, impl_->settings.token, kRuntimeTokenSources); !ok)
    return ok;
  return impl_->http->start();
}

std::uint16_t RuntimeServer::port() const { return impl_->http->port(); }

void RuntimeServer::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  impl_->http->shutdown(deadline, std::move(done));
}

std::size_t RuntimeServer::open_streams() const { return impl_->http->open_websockets(); }

}  // namespace yoi::runtime_server
