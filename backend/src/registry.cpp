#include "yoi/backend/registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>

#include <boost/json.hpp>

#include "yoi/ids.hpp"
#include "yoi/profiles/bundle.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend {

namespace bj = boost::json;

std::string_view health_name(Health h) {
  switch (h) {
    case Health::ready: return "ready";
    case Health::unreachable: return "unreachable";
    case Health::auth_failed: return "auth_failed";
    case Health::timeout: return "timeout";
    case Health::bad_response: return "bad_response";
    case Health::unknown: return "unknown";
  }
  return "unknown";
}

void Source::detail_text(std::string worker_id, Callback<std::string> done) {
  detail(std::move(worker_id), [done = std::move(done)](Result<rt::WorkerDetail> d) {
    if (!d) return done(fail(d.error()));
    done(json::serialize(rt::wire::to_json(*d)));
  });
}

void Source::input_text(std::string worker_id, rt::Input request, Callback<std::string> done) {
  input(std::move(worker_id), std::move(request), [done = std::move(done)](Result<rt::InputAccepted> a) {
    if (!a) return done(fail(a.error()));
    done(json::serialize(rt::wire::to_json(*a)));
  });
}

std::string_view capability_name(Op op) {
  switch (op) {
    case Op::create: return "workers.create";
    case Op::list: return "workers.list";
    case Op::detail: return "workers.detail";
    case Op::input: return "workers.input";
    case Op::cancel: return "workers.cancel";
    case Op::stop: return "workers.stop";
    case Op::transcript: return "workers.transcript";
    case Op::events: return "workers.events";
    case Op::events_ws: return "workers.events.ws";
    case Op::remove: return "workers.delete";
    case Op::bundles: return "bundles";
    case Op::approve: return "workers.approve";
  }
  return "";
}

RuntimeRegistry::RuntimeRegistry(boost::asio::io_context& io, std::shared_ptr<const Policy> policy)
    : io_(io), policy_(policy ? std::move(policy) : pass_through_policy()) {}

RuntimeRegistry::~RuntimeRegistry() { close(); }

Result<void> RuntimeRegistry::add(std::unique_ptr<Source> source) {
  const std::string id = source->id();
  if (auto v = validate_id(id, "runtime_id"); !v) return fail(Code::config_invalid, v.error().message);
  if (sources_.contains(id))
    return fail(Code::config_invalid, fmt::format("duplicate runtime id '{}'", id));
  order_.push_back(id);
  sources_.emplace(id, std::move(source));
  return {};
}

Source* RuntimeRegistry::find(std::string_view runtime_id) const {
  auto it = sources_.find(runtime_id);
  return it == sources_.end() ? nullptr : it->second.get();
}

std::optional<rt::Limits> RuntimeRegistry::limits(std::string_view runtime_id) const {
  const Source* s = find(runtime_id);
  return s ? s->limits() : std::nullopt;
}

void RuntimeRegistry::close() {
  for (auto& [id, s] : sources_) s->close();
}

void RuntimeRegistry::post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

Result<Source*> RuntimeRegistry::resolve(ApiOp op, std::string_view runtime_id, std::string_view worker_id,
                                         std::string_view principal) const {
  if (auto v = validate_id(runtime_id, "runtime_id"); !v) return fail(v.error());
  if (op != ApiOp::list_workers && op != ApiOp::create && op != ApiOp::runtime_info)
    if (auto v = validate_id(worker_id, "worker_id"); !v) return fail(v.error());
  PolicyRequest pr{op, runtime_id, worker_id, principal};
  if (auto ok = policy_->check(pr); !ok) return fail(ok.error());
  Source* s = find(runtime_id);
  if (!s) return fail(Code::runtime_not_found, fmt::format("no runtime '{}'", runtime_id));
  return s;
}

Source* RuntimeRegistry::route(ApiOp op, std::string_view runtime_id, std::string_view worker_id,
                               std::string_view principal,
                               const std::function<void(Error)>& failed) {
  auto s = resolve(op, runtime_id, worker_id, principal);
  if (s) return *s;
  post([failed, e = std::move(s.error())]() mutable { failed(std::move(e)); });
  return nullptr;
}

void RuntimeRegistry::list_runtimes(std::function<void(Result<std::vector<RuntimeInfo>>)> done,
                                    std::string_view principal) {
  PolicyRequest pr{ApiOp::list_runtimes, {}, {}, principal};
  if (auto ok = policy_->check(pr); !ok) {
    post([done, e = ok.error()] { done(fail(e)); });
    return;
  }
  struct Gather {
    std::vector<RuntimeInfo> infos;
    std::size_t pending = 0;
    std::function<void(Result<std::vector<RuntimeInfo>>)> done;
  };
  auto g = std::make_shared<Gather>();
  g->infos.resize(order_.size());
  g->pending = order_.size();
  g->done = std::move(done);
  if (order_.empty()) {
    post([g] { g->done(std::move(g->infos)); });
    return;
  }
  for (std::size_t i = 0; i < order_.size(); ++i) {
    sources_.at(order_[i])->info(false, [g, i](RuntimeInfo info) {
      g->infos[i] = std::move(info);
      if (--g->pending == 0) g->done(std::move(g->infos));
    });
  }
}

void RuntimeRegistry::runtime(std::string runtime_id, Callback<RuntimeInfo> done,
                              std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  Source* s = route(ApiOp::runtime_info, runtime_id, {}, principal, failed);
  if (!s) return;
  s->info(true, [done](RuntimeInfo info) { done(std::move(info)); });
}

void RuntimeRegistry::list_all_workers(std::size_t limit, Callback<AllWorkers> done,
                                       std::string_view principal) {
  PolicyRequest pr{ApiOp::list_all_workers, {}, {}, principal};
  if (auto ok = policy_->check(pr); !ok) {
    post([done, e = ok.error()] { done(fail(e)); });
    return;
  }
  struct Gather {
    std::vector<Result<rt::WorkerPage>> pages;
    std::size_t pending = 0;
    std::vector<std::string> ids;
    Callback<AllWorkers> done;
  };
  auto g = std::make_shared<Gather>();
  g->ids = order_;
  g->pages.resize(order_.size(), fail(Code::internal, "not answered"));
  g->pending = order_.size();
  g->done = std::move(done);
  auto finish = [g] {
    AllWorkers all;
    for (std::size_t i = 0; i < g->ids.size(); ++i) {
      RuntimeWorkers rw{g->ids[i], std::nullopt, std::nullopt};
      if (g->pages[i]) {
        rw.next = g->pages[i]->next;
        for (auto& w : g->pages[i]->workers) all.workers.push_back(std::move(w));
      } else {
        rw.error = g->pages[i].error();
      }
      all.runtimes.push_back(std::move(rw));
    }
    g->done(std::move(all));
  };
  if (order_.empty()) {
    post(finish);
    return;
  }
  for (std::size_t i = 0; i < order_.size(); ++i) {
    // Each runtime is asked under its own policy check too, so a policy that
    // hides a runtime hides it from the cross-runtime list.
    PolicyRequest each{ApiOp::list_workers, order_[i], {}, principal};
    if (auto ok = policy_->check(each); !ok) {
      g->pages[i] = fail(ok.error());
      post([g, finish] {
        if (--g->pending == 0) finish();
      });
      continue;
    }
    rt::ListWorkers req;
    req.limit = limit;
    sources_.at(order_[i])->list(std::move(req), [g, i, finish](Result<rt::WorkerPage> page) {
      g->pages[i] = std::move(page);
      if (--g->pending == 0) finish();
    });
  }
}

void RuntimeRegistry::list(std::string runtime_id, rt::ListWorkers request,
                           Callback<rt::WorkerPage> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::list_workers, runtime_id, {}, principal, failed))
    s->list(std::move(request), std::move(done));
}

void RuntimeRegistry::create(std::string runtime_id, rt::CreateWorker request,
                             Callback<rt::WorkerDetail> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  std::string_view wid = request.worker_id ? std::string_view(*request.worker_id) : std::string_view{};
  if (!wid.empty()) {
    if (auto v = validate_id(wid, "worker_id"); !v) {
      post([failed, e = v.error()] { failed(e); });
      return;
    }
  }
  Source* s = route(ApiOp::create, runtime_id, wid, principal, failed);
  if (!s) return;
  if (server_profiles_ && request.config_bundle.is_null() && server_profiles_->has(request.profile)) {
    request.config_bundle = bj::object{{"digest", server_profiles_->digest}};
    auto go = [this, s, request = std::move(request), done = after_write(*s, std::move(done))](Result<void> r) mutable {
      if (!r) return done(fail(r.error()));
      create_from_bundle(*s, std::move(request), false, std::move(done));
    };
    if (pushed_.contains(std::pair(s->id(), server_profiles_->digest))) return go({});
    return push_bundle(*s, std::move(go));
  }
  s->create(std::move(request), after_write(*s, std::move(done)));
}

void RuntimeRegistry::push_bundle(Source& s, std::function<void(Result<void>)> done) {
  auto profiles = server_profiles_;
  s.put_bundle(profiles->digest, profiles->bundle,
               [this, &s, profiles, done = std::move(done)](Result<rt::BundlePut> r) {
                 if (r) pushed_.emplace(s.id(), profiles->digest);
                 done(r ? Result<void>{} : Result<void>(fail(r.error())));
               });
}

void RuntimeRegistry::create_from_bundle(Source& s, rt::CreateWorker request, bool retried,
                                         Callback<rt::WorkerDetail> done) {
  auto again = request;
  s.create(std::move(request), [this, &s, again = std::move(again), retried,
                                done = std::move(done)](Result<rt::WorkerDetail> r) mutable {
    if (r || r.error().code != Code::bundle_missing || retried) return done(std::move(r));
    // The runtime lost the bundle (a wiped store, a memory store restarted):
    // push it again and retry once.
    pushed_.erase(std::pair(s.id(), server_profiles_->digest));
    push_bundle(s, [this, &s, again = std::move(again), done = std::move(done)](Result<void> p) mutable {
      if (!p) return done(fail(p.error()));
      create_from_bundle(s, std::move(again), true, std::move(done));
    });
  });
}

bool ServerProfiles::has(std::string_view name) const {
  return std::any_of(profiles.begin(), profiles.end(), [&](const auto& p) { return p.name == name; });
}

std::shared_ptr<const ServerProfiles> make_server_profiles(std::vector<engines::ProfileConfig> profiles,
                                                           boost::json::object bodies) {
  auto out = std::make_shared<ServerProfiles>();
  out->digest = profiles::digest(bodies);
  out->bundle = bj::object{{"digest", out->digest}, {"profiles", std::move(bodies)}};
  std::sort(profiles.begin(), profiles.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  out->profiles = std::move(profiles);
  return out;
}

void RuntimeRegistry::detail(std::string runtime_id, std::string worker_id,
                             Callback<rt::WorkerDetail> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::detail, runtime_id, worker_id, principal, failed))
    s->detail(std::move(worker_id), std::move(done));
}

// The hot path (issue 22): no std::function is built unless the route fails.
void RuntimeRegistry::detail_text(std::string runtime_id, std::string worker_id,
                                  Callback<std::string> done, std::string_view principal) {
  auto s = resolve(ApiOp::detail, runtime_id, worker_id, principal);
  if (!s) return post([done = std::move(done), e = std::move(s.error())]() mutable { done(fail(std::move(e))); });
  (*s)->detail_text(std::move(worker_id), std::move(done));
}

void RuntimeRegistry::input(std::string runtime_id, std::string worker_id, rt::Input request,
                            Callback<rt::InputAccepted> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::input, runtime_id, worker_id, principal, failed))
    s->input(std::move(worker_id), std::move(request), std::move(done));
}

// The hot path (issue 22), as detail_text.
void RuntimeRegistry::input_text(std::string runtime_id, std::string worker_id, rt::Input request,
                                 Callback<std::string> done, std::string_view principal) {
  auto s = resolve(ApiOp::input, runtime_id, worker_id, principal);
  if (!s) return post([done = std::move(done), e = std::move(s.error())]() mutable { done(fail(std::move(e))); });
  (*s)->input_text(std::move(worker_id), std::move(request), std::move(done));
}

void RuntimeRegistry::cancel(std::string runtime_id, std::string worker_id,
                             std::optional<std::string> reason, Callback<rt::CancelResult> done,
                             std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::cancel, runtime_id, worker_id, principal, failed))
    s->cancel(std::move(worker_id), std::move(reason), std::move(done));
}

void RuntimeRegistry::stop(std::string runtime_id, std::string worker_id,
                           std::optional<std::string> reason, Callback<rt::WorkerDetail> done,
                           std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::stop, runtime_id, worker_id, principal, failed))
    s->stop(std::move(worker_id), std::move(reason), after_write(*s, std::move(done)));
}

void RuntimeRegistry::remove(std::string runtime_id, std::string worker_id, Callback<void> done,
                             std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::remove, runtime_id, worker_id, principal, failed))
    s->remove(std::move(worker_id), std::move(done));
}

void RuntimeRegistry::approve(std::string runtime_id, std::string worker_id, std::string call_id,
                              rt::ApprovalDecision decision, Callback<rt::ApprovalOutcome> done,
                              std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::approve, runtime_id, worker_id, principal, failed))
    s->approve(std::move(worker_id), std::move(call_id), std::move(decision), after_write(*s, std::move(done)));
}

void RuntimeRegistry::transcript(std::string runtime_id, std::string worker_id,
                                 std::uint64_t start, std::size_t limit,
                                 Callback<rt::TranscriptPage> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  if (Source* s = route(ApiOp::transcript, runtime_id, worker_id, principal, failed))
    s->transcript(std::move(worker_id), start, limit, std::move(done));
}

void RuntimeRegistry::events(std::string runtime_id, std::string worker_id,
                             std::optional<Position> after, std::size_t limit,
                             Callback<SourceEventPage> done, std::string_view principal) {
  auto failed = [done](Error e) { done(fail(std::move(e))); };
  Source* s = route(ApiOp::events, runtime_id, worker_id, principal, failed);
  if (!s) return;
  // The policy sees every event before it leaves; copy what it needs since
  // the registry may be replaced in tests only on this thread.
  auto policy = policy_;
  s->events(worker_id, std::move(after), limit,
            [policy, rid = runtime_id, wid = worker_id, done](Result<SourceEventPage> page) {
              if (!page) return done(std::move(page));
              std::vector<SourceEvent> kept;
              kept.reserve(page->events.size());
              for (auto& e : page->events) {
                auto out = policy->filter_event(rid, wid, std::move(e.json));
                if (out) kept.push_back(SourceEvent{e.seq, std::move(*out)});
              }
              page->events = std::move(kept);
              done(std::move(page));
            });
}

}  // namespace yoi::backend
