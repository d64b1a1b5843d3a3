#include "yoi/backend/api.hpp"

#include <filesystem>
#include <fstream>
#include <limits>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/net/metrics.hpp"
#include "yoi/net/params.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend {

namespace bj = boost::json;
namespace fs = std::filesystem;
using net::Request;
using net::Respond;
using net::Response;

namespace {

constexpr std::size_t kMaxStaticFile = 32u << 20;

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

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The headers of everything the console is made of (ARCHITECTURE §18):
// scripts, styles and connections from this origin only, never framed (an
// Approve button must not be clickable inside another site's frame), no
// sniffing, no Referer. The built console has no inline script or style
// (web/test checks dist/index.html); X-Frame-Options is for browsers that
// predate frame-ancestors.
void console_headers(net::Response& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                         "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

// What a browser gets at `/` when there is no console to serve: a person
// reads this, so it is a page that says what to do, not a JSON error.
net::Response console_missing_page(std::string_view web_dir) {
  auto body = fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>yoi: no web console</title></head>\n"
      "<body>\n<h1>The yoi web console is not built</h1>\n"
      "<p>yoi-server looked for it in <code>{}</code> and found no <code>index.html</code>.</p>\n"
      "<p>Build it from the source tree:</p>\n<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>\n"
      "<p>then start yoi-server from the top of the tree, or point <code>--web-dir</code> "
      "(or <code>web_dir</code> in the config) at the built <code>web/dist</code>.</p>\n"
      "<p>The API works without it: <code>/api/runtimes</code>, and the <code>yoi</code> CLI.</p>\n"
      "</body></html>\n",
      html_escape(web_dir));
  auto r = net::Response::text(404, std::move(body), "text/html; charset=utf-8");
  r.headers.emplace_back("Cache-Control", "no-cache");
  console_headers(r);
  return r;
}

// yoi-server's state, as its handlers see it.
struct Api {
  RuntimeRegistry& registry;
  const CursorCodec& cursors;
  ApiOptions opts;
  net::MetricsRegistry* metrics;
  std::optional<fs::path> web_root;  // canonical, when it exists
  bool has_index = false;            // web_root/index.html is a file

  Api(RuntimeRegistry& r, const CursorCodec& c, ApiOptions o, net::MetricsRegistry* m)
      : registry(r), cursors(c), opts(std::move(o)), metrics(m) {
    std::error_code ec;
    if (!opts.web_dir.empty()) {
      auto canon = fs::canonical(opts.web_dir, ec);
      if (!ec && fs::is_directory(canon, ec)) web_root = canon;
      if (web_root) has_index = fs::is_regular_file(*web_root / "index.html", ec);
    }
  }

  // Serves web_root/rel (rel: safe segments). SPA routes (no extension)
  // fall back to index.html.
  Response serve_static(std::vector<std::string_view> segs) const {
    bool console_route = segs.empty() || (segs.size() == 1 && !fs::path(std::string(segs[0])).has_extension());
    if (!has_index && console_route) return console_missing_page(opts.web_dir);
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
    console_headers(r);
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

  // The limits create and input bodies are checked against: those the target
  // runtime advertises, so the browser hears the runtime's own limit before
  // anything is forwarded. A remote runtime never heard from yet checks its
  // bodies itself (its typed refusal passes through).
  rt::Limits limits_of(std::string_view runtime_id) const {
    if (auto advertised = registry.limits(runtime_id)) return *advertised;
    rt::Limits unchecked;
    unchecked.max_content_bytes = std::numeric_limits<std::size_t>::max();
    unchecked.max_display_name = std::numeric_limits<std::size_t>::max();
    return unchecked;
  }
};

// What a route's errors are about: its runtime and worker, when it names them.
net::Reply about(const Request& req, int status = 200) {
  return net::Reply(status, std::string(req.param("rid")), std::string(req.param("wid")));
}

// ---- encoders of what the wire module does not know ----

bj::object runtimes_json(const std::vector<RuntimeInfo>& infos) {
  bj::array arr;
  for (const auto& i : infos) arr.push_back(runtime_json(i));
  bj::object o;
  o["runtimes"] = std::move(arr);
  return o;
}

bj::object all_workers_json(const AllWorkers& all) {
  bj::array workers;
  for (const auto& w : all.workers) workers.push_back(rt::wire::to_json(w));
  bj::array runtimes;
  for (const auto& rw : all.runtimes) {
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
  return o;
}

// ---- the handlers, one per operation (docs/API.md, Browser API) ----


void list_runtimes(Api& api, const Request&, Respond respond) {
  api.registry.list_runtimes(
      net::replier<std::vector<RuntimeInfo>>(std::move(respond), {}, runtimes_json));
}

void runtime_detail(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  api.registry.runtime(how.runtime_id,
                       net::replier<RuntimeInfo>(std::move(respond), how, runtime_json));
}

void list_all_workers(Api& api, const Request& req, Respond respond) {
  auto limit = net::query_size(req, "limit", api.opts.default_page);
  if (!limit) return respond(net::error_response(limit.error()));
  api.registry.list_all_workers(*limit,
                                net::replier<AllWorkers>(std::move(respond), {}, all_workers_json));
}

void list_workers(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto query = net::list_query(req, api.opts.default_page);
  if (!query) return respond(net::error_response(query.error(), how));
  api.registry.list(how.runtime_id, std::move(*query),
                    net::replier<rt::WorkerPage>(std::move(respond), how));
}

void create_worker(Api& api, const Request& req, Respond respond) {
  auto how = about(req, 201);
  auto create = net::create_body(req, api.opts.max_body_bytes, api.limits_of(how.runtime_id));
  if (!create) return respond(net::error_response(create.error(), how));
  // Bundles are yoi-server's to name (ARCHITECTURE §16): a person picks a
  // profile, the registry adds the reference.
  if (!create->config_bundle.is_null())
    return respond(net::error_response(
        Error{Code::invalid_request, "config_bundle is set by yoi-server: name one of its profiles (GET /api/profiles)"},
        how));
  how.worker_id = create->worker_id.value_or("");
  api.registry.create(how.runtime_id, std::move(*create),
                      net::replier<rt::WorkerDetail>(std::move(respond), how));
}

// yoi-server's own profiles, as a person picks one: name, engine, model,
// tools, description. Never a base URL or an environment variable's name.
void list_profiles(Api& api, const Request&, Respond respond) {
  bj::array items;
  const auto* sp = api.registry.server_profiles();
  if (sp)
    for (const auto& p : sp->profiles) {
      bj::array tools;
      for (const auto& t : p.tools) tools.emplace_back(t);
      items.push_back(bj::object{{"name", p.name},
                                 {"engine", p.engine},
                                 {"model", p.model},
                                 {"tools", std::move(tools)},
                                 {"max_steps", p.max_steps},
                                 {"description", p.description}});
    }
  bj::object o{{"profiles", std::move(items)}};
  if (sp) o["digest"] = sp->digest;
  respond(net::json_response(200, o));
}

// The text as the source made it (a remote runtime's reply, relabelled),
// moved into the response: net::reply() would copy it (issue 22).
void worker_detail(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto rid = how.runtime_id;
  auto wid = how.worker_id;
  api.registry.detail_text(std::move(rid), std::move(wid),
                           [respond = std::move(respond), how = std::move(how)](Result<std::string> text) {
                             if (!text) return respond(net::error_response(text.error(), how));
                             respond(net::json_response(how.status, std::move(*text)));
                           });
}

void send_input(Api& api, const Request& req, Respond respond) {
  auto how = about(req, 202);
  auto input = net::input_body(req, api.opts.max_body_bytes, api.limits_of(how.runtime_id));
  if (!input) return respond(net::error_response(input.error(), how));
  // The text as the source made it, moved into the response (as worker_detail).
  auto rid = how.runtime_id;
  auto wid = how.worker_id;
  api.registry.input_text(std::move(rid), std::move(wid), std::move(*input),
                          [respond = std::move(respond), how = std::move(how)](Result<std::string> text) {
                            if (!text) return respond(net::error_response(text.error(), how));
                            respond(net::json_response(how.status, std::move(*text)));
                          });
}

void cancel_run(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto reason = net::reason_body(req, api.opts.max_body_bytes);
  if (!reason) return respond(net::error_response(reason.error(), how));
  api.registry.cancel(how.runtime_id, how.worker_id, std::move(*reason),
                      net::replier<rt::CancelResult>(std::move(respond), how));
}

void stop_worker(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto reason = net::reason_body(req, api.opts.max_body_bytes);
  if (!reason) return respond(net::error_response(reason.error(), how));
  api.registry.stop(how.runtime_id, how.worker_id, std::move(*reason),
                    net::replier<rt::WorkerDetail>(std::move(respond), how));
}

// Answers a call awaiting approval (ARCHITECTURE §15): 200 with the outcome.
void approve_call(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto call = net::call_id_param(req);
  if (!call) return respond(net::error_response(call.error(), how));
  auto decision = net::approval_body(req, api.opts.max_body_bytes);
  if (!decision) return respond(net::error_response(decision.error(), how));
  api.registry.approve(how.runtime_id, how.worker_id, std::move(*call), std::move(*decision),
                       net::replier<rt::ApprovalOutcome>(std::move(respond), how));
}

// Deletes a stopped worker (ARCHITECTURE §17): 204 No Content.
void delete_worker(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  api.registry.remove(how.runtime_id, how.worker_id, net::no_content_replier(std::move(respond), how));
}

void read_transcript(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto start = net::query_uint(req, "start");
  if (!start) return respond(net::error_response(start.error(), how));
  auto limit = net::query_size(req, "limit", api.opts.default_page);
  if (!limit) return respond(net::error_response(limit.error(), how));
  api.registry.transcript(how.runtime_id, how.worker_id, *start, *limit,
                          net::replier<rt::TranscriptPage>(std::move(respond), how));
}

// Pages carry backend cursors (cursor.hpp), never a runtime's.
void read_events(Api& api, const Request& req, Respond respond) {
  auto how = about(req);
  auto limit = net::query_size(req, "limit", api.opts.default_events_page);
  if (!limit) return respond(net::error_response(limit.error(), how));
  std::optional<Position> after;
  if (auto a = req.query_param("after"); a && !a->empty()) {
    auto pos = api.cursors.decode(how.runtime_id, how.worker_id, *a);
    if (!pos) return respond(net::error_response(pos.error(), how));
    after = std::move(*pos);
  }
  auto encode = [&api, rid = how.runtime_id, wid = how.worker_id](const SourceEventPage& page) {
    return api.events_body(rid, wid, page);
  };
  api.registry.events(how.runtime_id, how.worker_id, std::move(after), *limit,
                      net::replier<SourceEventPage>(std::move(respond), how, std::move(encode)));
}

// The web console: `/`, `/{file}` and `/assets/{file}`.
void console_index(Api& api, const Request&, Respond respond) {
  respond(api.serve_static({}));
}
void console_file(Api& api, const Request& req, Respond respond) {
  respond(api.serve_static({req.param("file")}));
}
void console_asset(Api& api, const Request& req, Respond respond) {
  respond(api.serve_static({"assets", req.param("file")}));
}

}  // namespace

struct BrowserApi::Impl : Api {
  using Api::Api;
};

BrowserApi::BrowserApi(RuntimeRegistry& registry, const CursorCodec& cursors, ApiOptions options,
                       net::MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(registry, cursors, std::move(options), metrics)) {}
BrowserApi::~BrowserApi() = default;

bool BrowserApi::serves_console() const { return impl_->has_index; }

std::optional<Error> BrowserApi::authorize(const Request& req) const {
  return net::check_bearer(req, impl_->opts.access_token);
}

void BrowserApi::add_routes(net::Router& r) {
  auto h = [&api = static_cast<Api&>(*impl_)](auto op) { return net::handler(api, op); };
  net::add_healthz(r);
  net::add_metrics(r, impl_->metrics);
  r.add("GET", "/api/runtimes", h(list_runtimes));
  r.add("GET", "/api/profiles", h(list_profiles));
  r.add("GET", "/api/runtimes/{rid}", h(runtime_detail));
  r.add("GET", "/api/workers", h(list_all_workers));
  r.add("GET", "/api/runtimes/{rid}/workers", h(list_workers));
  r.add("POST", "/api/runtimes/{rid}/workers", h(create_worker));
  r.add("GET", "/api/runtimes/{rid}/workers/{wid}", h(worker_detail));
  r.add("DELETE", "/api/runtimes/{rid}/workers/{wid}", h(delete_worker));
  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/input", h(send_input));
  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/cancel", h(cancel_run));
  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/stop", h(stop_worker));
  r.add("POST", "/api/runtimes/{rid}/workers/{wid}/approvals/{call_id}", h(approve_call));
  r.add("GET", "/api/runtimes/{rid}/workers/{wid}/transcript", h(read_transcript));
  r.add("GET", "/api/runtimes/{rid}/workers/{wid}/events", h(read_events));
  // The console's files need no token (the page asks for it itself). Last,
  // so that /api, /healthz and /metrics win.
  const net::RouteOptions open{.auth = false};
  r.add("GET", "/", h(console_index), open);
  r.add("GET", "/{file}", h(console_file), open);
  r.add("GET", "/assets/{file}", h(console_asset), open);
}

}  // namespace yoi::backend
