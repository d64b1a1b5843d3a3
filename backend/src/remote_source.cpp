#include "yoi/backend/remote_source.hpp"

#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "accepted_text.hpp"
#include "relabel.hpp"
#include "upstream.hpp"
#include "upstream_error.hpp"
#include "yoi/backend/http_client.hpp"
#include "yoi/clock.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend {
namespace {

namespace bj = boost::json;
namespace asio = boost::asio;

Health health_of(const Error& e) {
  switch (e.code) {
    case Code::runtime_unreachable: return Health::unreachable;
    case Code::runtime_timeout: return Health::timeout;
    case Code::runtime_auth_failed: return Health::auth_failed;
    case Code::runtime_bad_response: return Health::bad_response;
    default: return Health::ready;  // the runtime answered; it is there
  }
}

// Percent-encodes all but RFC 3986's unreserved characters.
void append_pct(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
}

std::string pct(std::string_view s) {
  std::string out;
  append_pct(out, s);
  return out;
}

// The ops a runtime's summary lists, one bit per Op: the capability check
// of every call is one test, not a search by name.
std::uint32_t capability_bits(const std::vector<std::string>& caps) {
  std::uint32_t bits = 0;
  // capability_name() names every Op and answers "" past the last one.
  for (int i = 0; i < 32; ++i) {
    auto name = capability_name(static_cast<Op>(i));
    if (name.empty()) break;
    if (std::find(caps.begin(), caps.end(), name) != caps.end()) bits |= 1u << i;
  }
  return bits;
}

// The largest reply a runtime's answer is decoded from.
constexpr std::size_t kMaxReplyBytes = 16u << 20;

struct Core : std::enable_shared_from_this<Core> {
  asio::io_context& io;
  RemoteConfig cfg;
  http::Endpoint endpoint;  // cfg.base_url, parsed (event streams dial it)
  std::shared_ptr<http::Client> client;
  asio::steady_timer probe_timer;
  bool closed = false;

  Health health = Health::unknown;
  std::optional<Error> diagnostic;
  std::optional<rt::RuntimeSummary> summary;
  std::uint32_t capabilities = 0;  // capability_bits(summary->capabilities)
  // Writes through this backend (workers_changed) and the write count the
  // summary was requested after: a summary asked for before the last write
  // may miss it, and info() then reads it again.
  std::uint64_t writes = 0;
  std::uint64_t summary_writes = 0;
  std::optional<std::int64_t> last_seen_ms;

  Core(asio::io_context& io, RemoteConfig c, http::Endpoint ep, std::shared_ptr<http::Client> cl)
      : io(io), cfg(std::move(c)), endpoint(std::move(ep)), client(std::move(cl)), probe_timer(io) {}

  // One HTTP call; `done` gets a 2xx reply as it came, or the error
  // upstream::map_failure makes of what went wrong (health updated).
  // `repeatable`: safe to send twice (http_client.hpp; a GET always is).
  template <class Done>  // void(Result<http::Response>)
  void call_raw(std::string method, std::string target, std::string body, Done done, bool repeatable = false) {
    send(std::move(method), std::move(target), std::move(body), repeatable,
         [self = shared_from_this(), done = std::move(done)](http::Outcome out) mutable {
           done(self->judge(std::move(out)));
         });
  }

  // The call as the client ended it, not yet judged.
  template <class Done>  // void(http::Outcome)
  void send(std::string method, std::string target, std::string body, bool repeatable, Done done) {
    http::Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.bearer = &cfg.token;
    req.repeatable = repeatable;
    client->request(std::move(req), std::move(done));
  }

  // What an outcome means: a 2xx reply as it came, or the error
  // upstream::map_failure makes of what went wrong (health updated).
  Result<http::Response> judge(http::Outcome out) {
    Error e;
    if (!out) {
      e = upstream::map_failure(upstream::NoReply{out.error().kind});
    } else if (out->status < 200 || out->status >= 300) {
      e = upstream::map_failure(upstream::Reply{out->status, out->body});
    } else {
      answered();
      return std::move(*out);
    }
    observe(e);
    return fail(std::move(e));
  }

  // A 2xx reply's body as JSON (none for a 204), or runtime_bad_response.
  Result<bj::value> decode(Result<http::Response> out) {
    if (!out) return fail(out.error());
    if (out->status == 204) return bj::value{};  // No Content (delete): nothing to decode
    if (auto v = json::parse(out->body, kMaxReplyBytes)) return std::move(*v);
    Error e = upstream::map_failure(upstream::Undecodable{"reply"});
    observe(e);
    return fail(std::move(e));
  }

  // call_raw with the 2xx body parsed as JSON.
  void call(std::string method, std::string target, std::string body,
            std::function<void(Result<bj::value>)> done, bool repeatable = false) {
    call_raw(std::move(method), std::move(target), std::move(body),
             [self = shared_from_this(), done = std::move(done)](Result<http::Response> out) {
               done(self->decode(std::move(out)));
             },
             repeatable);
  }

  // The runtime answered (any reply that is not a transport or credential
  // failure): it is ready. The common case, so cheap when it already was.
  void answered() {
    if (health != Health::ready) {
      if (health != Health::unknown) spdlog::info("runtime {}: the runtime answers again", cfg.id);
      health = Health::ready;
      diagnostic.reset();
    }
    last_seen_ms = Clock::system().now_ms();
  }

  // Updates health from a failed call.
  void observe(const Error& e) {
    Health h = health_of(e);
    if (h == Health::ready) return answered();
    // A sentence, e.g. "runtime box-1: the runtime rejected the backend's
    // credential (runtime_auth_failed)". The message is upstream_error's
    // own wording: it never carries the URL or the token.
    if (health != h) spdlog::warn("runtime {}: {} ({})", cfg.id, e.message, code_name(e.code));
    health = h;
    diagnostic = e;
  }

  void refresh_summary(std::function<void(Result<void>)> done) {
    call("GET", "/v1/runtime", {}, [self = shared_from_this(), asked_after = writes,
                                    done = std::move(done)](Result<bj::value> v) {
      if (!v) return done(fail(v.error()));
      auto s = rt::wire::summary_from_json(*v);
      if (!s) {
        Error e = upstream::map_failure(upstream::Undecodable{"summary"});
        self->observe(e);
        return done(fail(std::move(e)));
      }
      self->summary = std::move(*s);
      self->capabilities = capability_bits(self->summary->capabilities);
      self->summary_writes = std::max(self->summary_writes, asked_after);
      done({});
    });
  }

  bool supports(Op op) const { return summary && (capabilities >> static_cast<int>(op)) & 1u; }

  // unsupported when the runtime's (cached) capabilities lack `op`. With no
  // summary seen yet, reads it first: a runtime never answered has unknown
  // capabilities, and calling an unlisted route is what this check prevents.
  // The hot path, a supported op, goes straight to its (asynchronous) call,
  // `go` not even wrapped; only a refusal or a first read is slower.
  template <class Go>  // void(Result<void>)
  void require(Op op, Go go) {
    if (supports(op)) return go(Result<void>{});
    require_slow(op, std::function<void(Result<void>)>(std::move(go)));
  }

  // require() off the hot path: a refusal (posted, so no callback ever runs
  // inline), or the summary read first.
  void require_slow(Op op, std::function<void(Result<void>)> go_fn) {
    auto go = std::make_shared<std::function<void(Result<void>)>>(std::move(go_fn));
    auto check = [self = shared_from_this(), op, go]() {
      if (!self->supports(op))
        return (*go)(fail(Code::unsupported,
                          fmt::format("runtime '{}' does not support {}", self->cfg.id, capability_name(op))));
      (*go)({});
    };
    if (summary) {
      asio::post(io, std::move(check));
      return;
    }
    refresh_summary([check = std::move(check), go](Result<void> r) mutable {
      // A runtime that cannot be asked cannot be called either: report why.
      if (!r) return (*go)(fail(r.error()));
      check();
    });
  }

  void schedule_probe() {
    if (closed || cfg.probe_interval.count() <= 0) return;
    probe_timer.expires_after(cfg.probe_interval);
    probe_timer.async_wait([w = weak_from_this()](boost::system::error_code ec) {
      auto self = w.lock();
      if (ec || !self || self->closed) return;
      self->refresh_summary([w](Result<void>) {
        if (auto s = w.lock()) s->schedule_probe();
      });
    });
  }

  std::string worker_path(std::string_view wid, std::string_view rest = {}) const {
    std::string path;
    path.reserve(12 + wid.size() + rest.size());  // exact unless escaped; short ones stay inline
    path += "/v1/workers/";
    append_pct(path, wid);
    path += rest;
    return path;
  }

  void relabel(rt::WorkerDetail& d) const { d.runtime_id = cfg.id; }
};

class RemoteSource final : public Source {
 public:
  explicit RemoteSource(std::shared_ptr<Core> core) : core_(std::move(core)) {
    core_->schedule_probe();
    // First read of the summary right away, so capabilities are known early.
    if (core_->cfg.probe_interval.count() > 0) core_->refresh_summary([](Result<void>) {});
  }
  ~RemoteSource() override { close(); }

  const std::string& id() const override { return core_->cfg.id; }
  std::string_view kind() const override { return "remote"; }

  void info(bool refresh, std::function<void(RuntimeInfo)> done) override {
    auto answer = [c = core_, done = std::move(done)] {
      RuntimeInfo info;
      info.runtime_id = c->cfg.id;
      info.display_name = c->cfg.display_name;
      info.kind = "remote";
      info.health = c->health;
      info.summary = c->summary;
      if (info.summary) {
        info.summary->runtime_id = c->cfg.id;
        if (info.display_name.empty()) info.display_name = info.summary->display_name;
        info.summary->display_name = info.display_name;
      }
      if (info.display_name.empty()) info.display_name = c->cfg.id;
      info.last_seen_ms = c->last_seen_ms;
      info.diagnostic = c->diagnostic;
      if (c->health == Health::unknown && !info.diagnostic)
        info.diagnostic = Error{Code::runtime_unavailable, "the runtime has not answered yet"};
      done(std::move(info));
    };
    bool stale = core_->summary && core_->summary_writes != core_->writes;
    if (!refresh && !stale && core_->health != Health::unknown) {
      asio::post(core_->io, std::move(answer));
      return;
    }
    core_->refresh_summary([answer = std::move(answer)](Result<void>) { answer(); });
  }

  void workers_changed() override { ++core_->writes; }

  std::optional<rt::Limits> limits() const override {
    if (!core_->summary) return std::nullopt;
    return core_->summary->limits;
  }

  // A create names its worker (the backend picks an id when the client gave
  // none, in the runtime's own form), so sending it twice cannot make two
  // workers: the pool may retry it on a fresh connection (issue 22).
  //
  // Sent twice with an id the backend chose, a worker_exists is the first
  // attempt's doing: it was applied and its reply lost with the connection.
  // The worker asked for is there, so the answer is its detail, as the
  // first reply would have been. (An id the client chose may name a worker
  // made before; its conflict stands.)
  void create(rt::CreateWorker request, Callback<rt::WorkerDetail> done) override {
    const bool chosen_here = !request.worker_id;
    if (chosen_here) request.worker_id = "w-" + Random::system().hex(6);
    auto body = json::serialize(rt::wire::to_json(request));
    core_->require(Op::create, [c = core_, id = *request.worker_id, body = std::move(body), chosen_here,
                                done = decode_detail(std::move(done))](Result<void> ok) mutable {
      if (!ok) return done(fail(ok.error()));
      c->send("POST", "/v1/workers", std::move(body), true,
              [c, id = std::move(id), chosen_here, done = std::move(done)](http::Outcome out) mutable {
                const bool retried = out && out->retried;
                auto r = c->judge(std::move(out));
                if (!r && r.error().code == Code::worker_exists && retried && chosen_here)
                  return c->call("GET", c->worker_path(id), {}, std::move(done), true);
                done(c->decode(std::move(r)));
              });
    });
  }

  void list(rt::ListWorkers request, Callback<rt::WorkerPage> done) override {
    std::string q = fmt::format("/v1/workers?limit={}", request.limit);
    if (request.after) q += "&after=" + pct(*request.after);
    if (request.status) q += fmt::format("&status={}", rt::status_name(*request.status));
    with(Op::list, "GET", std::move(q), {},
         [c = core_, done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           auto page = rt::wire::worker_page_from_json(*v);
           if (!page) return done(bad(c));
           for (auto& w : page->workers) c->relabel(w);
           done(std::move(page));
         });
  }

  void detail(std::string worker_id, Callback<rt::WorkerDetail> done) override {
    with(Op::detail, "GET", core_->worker_path(worker_id), {}, decode_detail(std::move(done)));
  }

  // The hot path (issue 22): the runtime's reply passes on as text, only its
  // runtime_id rewritten (relabel.hpp); a reply the scan declines is decoded
  // the slow way, which decides whether it is an error.
  void detail_text(std::string worker_id, Callback<std::string> done) override {
    core_->require(Op::detail, [c = core_, wid = std::move(worker_id), done = std::move(done)](Result<void> ok) mutable {
      if (!ok) return done(fail(ok.error()));
      c->call_raw("GET", c->worker_path(wid), {}, [c, done = std::move(done)](Result<http::Response> out) {
        if (!out) return done(fail(out.error()));
        if (auto text = detail::relabel_detail_text(out->body, c->cfg.id)) return done(std::move(*text));
        auto v = json::parse(out->body, kMaxReplyBytes);
        Result<rt::WorkerDetail> d = fail(Code::runtime_bad_response, "undecodable");
        if (v) d = rt::wire::detail_from_json(*v);
        if (!d) return done(bad(c));
        c->relabel(*d);
        done(json::serialize(rt::wire::to_json(*d)));
      });
    });
  }

  void input(std::string worker_id, rt::Input request, Callback<rt::InputAccepted> done) override {
    with(Op::input, "POST", core_->worker_path(worker_id, "/input"), input_request_body(request),
         [c = core_, done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           auto a = rt::wire::accepted_from_json(*v);
           if (!a) return done(bad(c));
           done(std::move(a));
         },
         true);
  }

  // The hot path (issue 22): a plain acceptance (accepted_text.hpp) passes on
  // as the runtime sent it; any other reply is decoded and encoded again,
  // which decides whether it is an error.
  void input_text(std::string worker_id, rt::Input request, Callback<std::string> done) override {
    core_->require(Op::input, [c = core_, path = core_->worker_path(worker_id, "/input"),
                               body = input_request_body(request),
                               done = std::move(done)](Result<void> ok) mutable {
      if (!ok) return done(fail(ok.error()));
      c->call_raw(
          "POST", std::move(path), std::move(body),
          [c, done = std::move(done)](Result<http::Response> out) {
            if (!out) return done(fail(out.error()));
            if (out->body.size() <= kMaxReplyBytes && detail::is_plain_accepted(out->body))
              return done(std::move(out->body));
            auto v = json::parse(out->body, kMaxReplyBytes);
            Result<rt::InputAccepted> a = fail(Code::runtime_bad_response, "undecodable");
            if (v) a = rt::wire::accepted_from_json(*v);
            if (!a) return done(bad(c));
            done(json::serialize(rt::wire::to_json(*a)));
          },
          true);
    });
  }

  void cancel(std::string worker_id, std::optional<std::string> reason,
              Callback<rt::CancelResult> done) override {
    with(Op::cancel, "POST", core_->worker_path(worker_id, "/cancel"), reason_body(reason),
         [c = core_, done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           auto r = rt::wire::cancel_from_json(*v);
           if (!r) return done(bad(c));
           done(std::move(r));
         });
  }

  void stop(std::string worker_id, std::optional<std::string> reason,
            Callback<rt::WorkerDetail> done) override {
    with(Op::stop, "POST", core_->worker_path(worker_id, "/stop"), reason_body(reason),
         decode_detail(std::move(done)));
  }

  void remove(std::string worker_id, Callback<void> done) override {
    with(Op::remove, "DELETE", core_->worker_path(worker_id), {},
         [done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           done({});
         });
  }

  // Repeatable: a bundle is named by its digest, so a second PUT stores nothing.
  void put_bundle(std::string digest, boost::json::object body, Callback<rt::BundlePut> done) override {
    with(
        Op::bundles, "PUT", "/v1/bundles/" + digest, bj::serialize(body),
        [c = core_, done = std::move(done)](Result<bj::value> v) {
          if (!v) return done(fail(v.error()));
          auto r = rt::wire::bundle_put_from_json(*v);
          if (!r) return done(bad(c));
          done(std::move(r));
        },
        true);
  }

  void bundles(Callback<std::vector<rt::BundleInfo>> done) override {
    with(Op::bundles, "GET", "/v1/bundles", {}, [c = core_, done = std::move(done)](Result<bj::value> v) {
      if (!v) return done(fail(v.error()));
      auto r = rt::wire::bundles_from_json(*v);
      if (!r) return done(bad(c));
      done(std::move(r));
    });
  }

  void approve(std::string worker_id, std::string call_id, rt::ApprovalDecision decision,
               Callback<rt::ApprovalOutcome> done) override {
    with(Op::approve, "POST", core_->worker_path(worker_id, "/approvals/" + pct(call_id)),
         json::serialize(rt::wire::to_json(decision)),
         [c = core_, done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           auto a = rt::wire::approval_from_json(*v);
           if (!a) return done(bad(c));
           done(std::move(a));
         });
  }

  void transcript(std::string worker_id, std::uint64_t start, std::size_t limit,
                  Callback<rt::TranscriptPage> done) override {
    with(Op::transcript, "GET",
         core_->worker_path(worker_id, fmt::format("/transcript?start={}&limit={}", start, limit)), {},
         [c = core_, done = std::move(done)](Result<bj::value> v) {
           if (!v) return done(fail(v.error()));
           auto t = rt::wire::transcript_from_json(*v);
           if (!t) return done(bad(c));
           done(std::move(t));
         });
  }

  // The catch-up path of slow event-stream clients (issue 22): the page is
  // read in place (rt::wire::scan_event_page), each event's bytes checked
  // and kept; a page the scan declines is decoded the slow way, which
  // decides whether it is an error.
  void events(std::string worker_id, std::optional<Position> after, std::size_t limit,
              Callback<SourceEventPage> done) override {
    std::string target = fmt::format("/events?limit={}", limit);
    if (after) target += "&after=" + pct(rt::encode_cursor(after->epoch, rt::worker_tag(worker_id), after->seq));
    const std::uint64_t from = after ? after->seq : 0;
    core_->require(Op::events, [c = core_, path = core_->worker_path(worker_id, target), from,
                                done = std::move(done)](Result<void> ok) mutable {
      if (!ok) return done(fail(ok.error()));
      c->call_raw("GET", std::move(path), {}, [c, from, done = std::move(done)](Result<http::Response> out) {
        if (!out) return done(fail(out.error()));
        auto page = decode_events_text(out->body, c->cfg.id, from);
        if (!page) return done(bad(c));
        done(std::move(page));
      });
    });
  }

  std::unique_ptr<EventStream> event_stream(std::string worker_id, const StreamOptions& options) override {
    // Within the runtime's own timeouts: a cut or blackholed link (no RST)
    // is noticed as the REST calls would notice it.
    auto capped = options;
    capped.connect_timeout = std::min(capped.connect_timeout, core_->cfg.connect_timeout + core_->cfg.timeout);
    capped.idle_timeout =
        std::min(capped.idle_timeout, std::max(core_->cfg.timeout, std::chrono::milliseconds(1'000)));
    detail::RemoteEndpoint remote{core_->endpoint, core_->cfg.token, core_->cfg.ca_file};
    return detail::make_remote_upstream(core_->io, std::move(remote), std::move(worker_id), capped);
  }

  void close() override {
    if (core_->closed) return;
    core_->closed = true;
    core_->probe_timer.cancel();
    core_->client->close();
  }

 private:
  static tl::unexpected<Error> bad(const std::shared_ptr<Core>& c) {
    Error e = upstream::map_failure(upstream::Undecodable{"reply"});
    c->observe(e);
    return fail(std::move(e));
  }

  // The body of an input, json::serialize(rt::wire::to_json(request)) without
  // the DOM. It carries a client_message_id (the backend makes one when the
  // client gave none): the runtime answers a second copy with the first
  // acceptance, so the pool may retry it on a fresh connection (issue 22).
  static std::string input_request_body(rt::Input& request) {
    if (!request.client_message_id) request.client_message_id = "srv-" + Random::system().hex(8);
    const auto& cmid = *request.client_message_id;
    std::string body;
    body.reserve(request.content.size() + cmid.size() + 40);  // exact unless escaped
    body += "{\"content\":";
    append_json_string(body, request.content);
    body += ",\"client_message_id\":";
    append_json_string(body, cmid);
    body += '}';
    return body;
  }

  // `s` as a JSON string, as Boost.JSON's serializer writes it: quoted as it
  // is when it has nothing the serializer escapes ('"', '\\', a control
  // character), the common case; else the serializer's own output.
  static void append_json_string(std::string& out, std::string_view s) {
    bool plain = std::none_of(s.begin(), s.end(), [](char c) {
      return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    if (!plain) {
      out += bj::serialize(bj::string_view(s.data(), s.size()));
      return;
    }
    out += '"';
    out += s;
    out += '"';
  }

  static std::string reason_body(const std::optional<std::string>& reason) {
    bj::object o;
    if (reason) o["reason"] = *reason;
    return json::serialize(o);
  }

  static Result<SourceEventPage> decode_events_text(std::string_view body, const std::string& rid,
                                                    std::uint64_t from) {
    auto view = body.size() <= kMaxReplyBytes ? rt::wire::scan_event_page(body) : std::nullopt;
    if (!view) {
      auto v = json::parse(body, kMaxReplyBytes);
      if (!v) return fail(Code::runtime_bad_response, "undecodable events page");
      return decode_events(*v, rid, from);
    }
    auto parts = rt::parse_cursor(view->cursor);
    if (!parts) return fail(Code::runtime_bad_response, "bad events page");
    SourceEventPage page;
    page.epoch = std::string(parts->epoch);
    page.position = from;
    page.events.reserve(view->events.size());
    for (const auto& e : view->events) {
      std::string json(e.event);
      detail::relabel_event_json(json, rid);
      page.events.push_back(SourceEvent{e.seq, std::move(json)});
      page.position = e.seq;
    }
    page.last_seq = std::max(view->last_seq, page.position);
    return page;
  }

  // {"events": [{"cursor","seq","event"}...], "cursor", "last_seq"}
  static Result<SourceEventPage> decode_events(const bj::value& v, const std::string& rid,
                                               std::uint64_t from) {
    auto badr = [] { return fail(Code::runtime_bad_response, "bad events page"); };
    if (!v.is_object()) return badr();
    const auto& o = v.as_object();
    auto* evs = o.if_contains("events");
    auto* cur = o.if_contains("cursor");
    if (!evs || !evs->is_array() || !cur || !cur->is_string()) return badr();
    auto parts = rt::parse_cursor(cur->as_string());
    if (!parts) return badr();
    SourceEventPage page;
    page.epoch = std::string(parts->epoch);
    page.position = from;
    if (auto* ls = o.if_contains("last_seq"); ls && ls->is_number()) {
      boost::system::error_code ec;
      page.last_seq = ls->to_number<std::uint64_t>(ec);
    }
    for (const auto& item : evs->as_array()) {
      if (!item.is_object()) return badr();
      auto* seq = item.as_object().if_contains("seq");
      auto* ev = item.as_object().if_contains("event");
      if (!seq || !ev || !ev->is_object()) return badr();
      boost::system::error_code ec;
      auto s = seq->to_number<std::uint64_t>(ec);
      if (ec) return badr();
      bj::object event = ev->as_object();
      detail::relabel_event(event, rid);
      page.events.push_back(SourceEvent{s, json::serialize(event)});
      page.position = s;
    }
    if (page.last_seq < page.position) page.last_seq = page.position;
    return page;
  }

  Callback<bj::value> decode_detail(Callback<rt::WorkerDetail> done) {
    return [c = core_, done = std::move(done)](Result<bj::value> v) {
      if (!v) return done(fail(v.error()));
      auto d = rt::wire::detail_from_json(*v);
      if (!d) return done(bad(c));
      c->relabel(*d);
      done(std::move(d));
    };
  }

  // Capability check, then exactly one call.
  void with(Op op, std::string method, std::string target, std::string body, Callback<bj::value> done,
            bool repeatable = false) {
    core_->require(op, [c = core_, method = std::move(method), target = std::move(target),
                        body = std::move(body), done = std::move(done), repeatable](Result<void> ok) mutable {
      if (!ok) return done(fail(ok.error()));
      c->call(std::move(method), std::move(target), std::move(body), std::move(done), repeatable);
    });
  }

  std::shared_ptr<Core> core_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_remote_source(asio::io_context& io, RemoteConfig config) {
  if (auto v = validate_id(config.id, "runtime_id"); !v) return fail(Code::config_invalid, v.error().message);
  http::ClientOptions opts;
  opts.timeout = config.timeout;
  opts.connect_timeout = config.connect_timeout;
  opts.max_idle = config.max_idle_connections;
  opts.max_connections = config.max_connections;
  opts.max_queued = config.max_queued;
  opts.ca_file = config.ca_file;
  auto client = http::Client::make(io, config.base_url, opts);
  if (!client)
    return fail(Code::config_invalid, fmt::format("runtime '{}': {}", config.id, client.error().message));
  auto endpoint = http::parse_base_url(config.base_url);
  if (!endpoint)
    return fail(Code::config_invalid, fmt::format("runtime '{}': {}", config.id, endpoint.error().message));
  auto core = std::make_shared<Core>(io, std::move(config), std::move(*endpoint), std::move(*client));
  return std::unique_ptr<Source>(std::make_unique<RemoteSource>(std::move(core)));
}

}  // namespace yoi::backend
