#include "yoi/backend/api.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend {

namespace bj = boost::json;
namespace fs = std::filesystem;
using net::Request;
using net::Respond;
using net::Response;

namespace {

constexpr std::size_t kMaxStaticFile = 32u << 20;

Response error_response(const Error& e, std::string_view rid = {}, std::string_view wid = {}) {
  auto body = json::error_body(e);
  auto& inner = body["error"].as_object();
  if (!rid.empty() && is_valid_id(rid)) inner["runtime_id"] = rid;
  if (!wid.empty() && is_valid_id(wid)) inner["worker_id"] = wid;
  return Response::json(http_status(e.code), body);
}

Result<std::optional<std::uint64_t>> query_uint(const Request& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v) return std::optional<std::uint64_t>{};
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc() || p != v->data() + v->size())
    return fail(Code::invalid_request,
                fmt::format("query parameter '{}' must be a non-negative integer", name));
  return std::optional<std::uint64_t>{out};
}

bj::object runtime_json(const RuntimeInfo& info) {
  bj::object o = info.summary ? rt::wire::to_json(*info.summary) : bj::object{};
  o["runtime_id"] = info.runtime_id;
  o["display_name"] = info.display_name;
  o["kind"] = info.kind;
  o["status"] = health_name(info.health);
  if (info.last_seen_ms) o["last_seen"] = *info.last_seen_ms;
  if (info.diagnostic) {
    bj::object d;
    d["code"] = code_name(info.diagnostic->code);
    d["message"] = info.diagnostic->message;
    o["diagnostic"] = std::move(d);
  }
  return o;
}

std::string_view content_type_for(const fs::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".gif") return "image/gif";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".webp") return "image/webp";
  if (ext == ".woff") return "font/woff";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

// One path segment of a static file: no separators, no dot-dot, no hidden
// files, no NUL. Anything else never reaches the file system.
bool safe_segment(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.front() == '.') return false;
  for (char c : s)
    if (c == '/' || c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

}  // namespace

struct BrowserApi::Impl {
  RuntimeRegistry& registry;
  const CursorCodec& cursors;
  ApiOptions opts;
  net::MetricsRegistry* metrics;
  std::optional<fs::path> web_root;  // canonical, when it exists

  Impl(RuntimeRegistry& r, const CursorCodec& c, ApiOptions o, net::MetricsRegistry* m)
      : registry(r), cursors(c), opts(std::move(o)), metrics(m) {
    std::error_code ec;
    if (!opts.web_dir.empty()) {
      auto canon = fs::canonical(opts.web_dir, ec);
      if (!ec && fs::is_directory(canon, ec)) web_root = canon;
    }
  }

  // Serves web_root/rel (rel: safe segments). SPA routes (no extension)
  // fall back to index.html.
  Response serve_static(std::vector<std::string_view> segs) const {
    if (!web_root) return Response::error(Error{Code::not_found, "the web console is not installed"});
    fs::path rel;
    for (auto s : segs) {
      if (!safe_segment(s)) return Response::error(Error{Code::not_found, "no such file"});
      rel /= std::string(s);
    }
    if (segs.empty()) rel = "index.html";
    std::error_code ec;
    fs::path full = fs::weakly_canonical(*web_root / rel, ec);
    // Symlinks out of the root are refused like `..` would be.
    auto [root_end, _] = std::mismatch(web_root->begin(), web_root->end(), full.begin(), full.end());
    if (ec || root_end != web_root->end())
      return Response::error(Error{Code::not_found, "no such file"});
    if (!fs::is_regular_file(full, ec)) {
      if (segs.size() == 1 && !fs::path(std::string(segs[0])).has_extension())
        return serve_static({});
      return Response::error(Error{Code::not_found, "no such file"});
    }
    auto size = fs::file_size(full, ec);
    if (ec || size > kMaxStaticFile) return Response::error(Error{Code::not_found, "no such file"});
    std::ifstream in(full, std::ios::binary);
    std::string body(size, '\0');
    if (!in.read(body.data(), static_cast<std::streamsize>(size)))
      return Response::error(Error{Code::internal, "the file could not be read"});
    Response r = Response::text(200, std::move(body), std::string(content_type_for(full)));
    // Hashed asset names can be cached for good; index.html must not be.
    if (segs.size() == 2 && segs[0] == "assets")
      r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
    else
      r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  std::string events_body(std::string_view rid, std::string_view wid, const SourceEventPage& page) const {
    std::string out = "{\"events\":[";
    bool first = true;
    for (const auto& e : page.events) {
      if (!first) out += ',';
      first = false;
      out += fmt::format("{{\"cursor\":\"{}\",\"seq\":{},\"event\":", cursors.encode(rid, wid, {page.epoch, e.seq}), e.seq);
      out += e.json;
      out += '}';
    }
    out += fmt::format("],\"cursor\":\"{}\",\"last_seq\":{}}}",
                       cursors.encode(rid, wid, {page.epoch, page.position}), page.last_seq);
    return out;
  }
};

BrowserApi::BrowserApi(RuntimeRegistry& registry, const CursorCodec& cursors, ApiOptions options,
                       net::MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(registry, cursors, std::move(options), metrics)) {}
BrowserApi::~BrowserApi() = default;

std::optional<Error> BrowserApi::authorize(const Request& req) const {
  return net::check_bearer(req, impl_->opts.access_token);
}

void BrowserApi::add_routes(net::Router& r) {
  Impl* impl = impl_.get();
  RuntimeRegistry& reg = impl->registry;
  const auto max_body = impl->opts.max_body_bytes;
  const auto default_page = impl->opts.default_page;
  const auto default_events = impl->opts.default_events_page;

  net::add_healthz(r);

  r.add("GET", "/metrics", [impl](const Request&, Respond respond) {
    if (!impl->metrics) return respond(Response::text(200, ""));
    respond(Response::text(200, impl->metrics->render(), "text/plain; version=0.0.4; charset=utf-8"));
  });

  r.add("GET", "/api/runtimes", [&reg](const Request&, Respond respond) {
    reg.list_runtimes([respond](Result<std::vector<RuntimeInfo>> infos) {
      if (!infos) return respond(error_response(infos.error()));
      bj::array arr;
      for (const auto& i : *infos) arr.push_back(runtime_json(i));
      bj::object o;
      o["runtimes"] = std::move(arr);
      respond(Response::json(200, o));
    });
  });

  r.add("GET", "/api/runtimes/{rid}", [&reg](const Request& req, Respond respond) {
    std::string rid(req.param("rid"));
    reg.runtime(rid, [respond, rid](Result<RuntimeInfo> info) {
      if (!info) return respond(error_response(info.error(), rid));
      respond(Response::json(200, runtime_json(*info)));
    });
  });

  r.add("GET", "/api/workers", [&reg, default_page](const Request& req, Respond respond) {
    auto limit = query_uint(req, "limit");
    if (!limit) return respond(error_response(limit.error()));
    reg.list_all_workers(static_cast<std::size_t>(limit->value_or(default_page)),
                         [respond](Result<AllWorkers> all) {
      if (!all) return respond(error_response(all.error()));
      bj::array workers;
      for (const auto& w : all->workers) workers.push_back(rt::wire::to_json(w));
      bj::array runtimes;
      for (const auto& rw : all->runtimes) {
        bj::object o;
        o["runtime_id"] = rw.runtime_id;
        o["ok"] = !rw.error;
        if (rw.next) o["next"] = *rw.next;
        if (rw.error) o["error"] = json::error_body(*rw.error)["error"];
        runtimes.push_back(std::move(o));
      }
      bj::object o;
      o["workers"] = std::move(workers);
      o["runtimes"] = std::move(runtimes);
      respond(Response::json(200, o));
    });
  });

  r.add("GET", "/api/runtimes/{rid}/workers", [&reg, default_page](const Request& req, Respond respond) {
    std::string rid(req.param("rid"));
    rt::ListWorkers q;
    auto limit = query_uint(req, "limit");
    if (!limit) return respond(error_response(limit.error(), rid));
    q.limit = static_cast<std::size_t>(limit->value_or(default_page));
    if (auto after = req.query_param("after")) {
      if (auto ok = validate_id(*after, "after"); !ok) return respond(error_response(ok.error(), rid));
      q.after = std::string(*after);
    }
    if (auto st = req.query_param("status")) {
      rt::WorkerStatus s;
      if (!rt::status_from_name(*st, s))
        return respond(error_response(Error{Code::invalid_request, "status must be idle, running or stopped"}, rid));
      q.status = s;
    }
    reg.list(rid, std::move(q), [respond, rid](Result<rt::WorkerPage> page) {
      if (!page) return respond(error_response(page.error(), rid));
      respond(Response::json(200, rt::wire::to_json(*page)));
    });
  });

  r.add("POST", "/api/runtimes/{rid}/workers", [&reg, max_body](const Request& req, Respond respond) {
    std::string rid(req.param("rid"));
    auto body = json::parse_object(req.body, max_body, true);
    if (!body) return respond(error_response(body.error(), rid));
    auto create = rt::wire::create_from_json(*body, rt::Limits{});
    if (!create) return respond(error_response(create.error(), rid));
    std::string wid = create->worker_id.value_or("");
    reg.create(rid, std::move(*create), [respond, rid, wid](Result<rt::WorkerDetail> d) {
      if (!d) return respond(error_response(d.error(), rid, wid));
      respond(Response::json(201, rt::wire::to_json(*d)));
    });
  });

  r.add("GET", "/api/runtimes/{rid}/workers/{wid}", [&reg](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    reg.detail(rid, wid, [respond, rid, wid](Result<rt::WorkerDetail> d) {
      if (!d) return respond(error_response(d.error(), rid, wid));
      respond(Response::json(200, rt::wire::to_json(*d)));
    });
  });

  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/input", [&reg, max_body](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    auto body = json::parse_object(req.body, max_body, false);
    if (!body) return respond(error_response(body.error(), rid, wid));
    auto input = rt::wire::input_from_json(*body, rt::Limits{});
    if (!input) return respond(error_response(input.error(), rid, wid));
    reg.input(rid, wid, std::move(*input), [respond, rid, wid](Result<rt::InputAccepted> a) {
      if (!a) return respond(error_response(a.error(), rid, wid));
      respond(Response::json(202, rt::wire::to_json(*a)));
    });
  });

  auto reason_of = [max_body](const Request& req) -> Result<std::optional<std::string>> {
    auto body = json::parse_object(req.body, max_body, true);
    if (!body) return fail(body.error());
    return rt::wire::reason_from_json(*body);
  };

  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/cancel", [&reg, reason_of](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    auto reason = reason_of(req);
    if (!reason) return respond(error_response(reason.error(), rid, wid));
    reg.cancel(rid, wid, std::move(*reason), [respond, rid, wid](Result<rt::CancelResult> c) {
      if (!c) return respond(error_response(c.error(), rid, wid));
      respond(Response::json(200, rt::wire::to_json(*c)));
    });
  });

  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/stop", [&reg, reason_of](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    auto reason = reason_of(req);
    if (!reason) return respond(error_response(reason.error(), rid, wid));
    reg.stop(rid, wid, std::move(*reason), [respond, rid, wid](Result<rt::WorkerDetail> d) {
      if (!d) return respond(error_response(d.error(), rid, wid));
      respond(Response::json(200, rt::wire::to_json(*d)));
    });
  });

  r.add("GET", "/api/runtimes/{rid}/workers/{wid}/transcript", [&reg, default_page](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    auto start = query_uint(req, "start");
    if (!start) return respond(error_response(start.error(), rid, wid));
    auto limit = query_uint(req, "limit");
    if (!limit) return respond(error_response(limit.error(), rid, wid));
    reg.transcript(rid, wid, start->value_or(0), static_cast<std::size_t>(limit->value_or(default_page)),
                   [respond, rid, wid](Result<rt::TranscriptPage> t) {
      if (!t) return respond(error_response(t.error(), rid, wid));
      respond(Response::json(200, rt::wire::to_json(*t)));
    });
  });

  r.add("GET", "/api/runtimes/{rid}/workers/{wid}/events", [impl, &reg, default_events](const Request& req, Respond respond) {
    std::string rid(req.param("rid")), wid(req.param("wid"));
    auto limit = query_uint(req, "limit");
    if (!limit) return respond(error_response(limit.error(), rid, wid));
    std::optional<Position> after;
    if (auto a = req.query_param("after"); a && !a->empty()) {
      auto pos = impl->cursors.decode(rid, wid, *a);
      if (!pos) return respond(error_response(pos.error(), rid, wid));
      after = std::move(*pos);
    }
    reg.events(rid, wid, std::move(after), static_cast<std::size_t>(limit->value_or(default_events)),
               [impl, respond, rid, wid](Result<SourceEventPage> page) {
      if (!page) return respond(error_response(page.error(), rid, wid));
      Response res;
      res.status = 200;
      res.body = impl->events_body(rid, wid, *page);
      respond(std::move(res));
    });
  });

  // The web console: `/`, `/{file}` and `/assets/{file}`, no auth (the page
  // asks for the token itself). Registered last so /api, /healthz and
  // /metrics win.
  r.add("GET", "/", [impl](const Request&, Respond respond) { respond(impl->serve_static({})); },
        net::RouteOptions{.auth = false});
  r.add("GET", "/{file}", [impl](const Request& req, Respond respond) {
    respond(impl->serve_static({req.param("file")}));
  }, net::RouteOptions{.auth = false});
  r.add("GET", "/assets/{file}", [impl](const Request& req, Respond respond) {
    respond(impl->serve_static({"assets", req.param("file")}));
  }, net::RouteOptions{.auth = false});
}

}  // namespace yoi::backend
