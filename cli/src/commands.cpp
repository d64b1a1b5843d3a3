// The yoi commands. Each one is: parse → one or a few browser-API calls →
// print (text for people, --json for programs). Errors travel as CliError and
// are printed once, in run().
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "api.hpp"
#include "follow.hpp"
#include "line_editor.hpp"
#include "screen.hpp"
#include "tools_view.hpp"
#include "tui.hpp"
#include "yoi/cli/cli.hpp"
#include "yoi/cli/token.hpp"
#include "yoi/ids.hpp"
#include "yoi/json.hpp"

namespace yoi::cli {

namespace bj = boost::json;
using std::chrono::milliseconds;

// ------------------------------------------------------------ small pieces

Result<WorkerRef> parse_worker_ref(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return fail(Code::invalid_id, fmt::format("'{}' is not RUNTIME/WORKER", text));
  WorkerRef r{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  if (auto ok = validate_id(r.runtime_id, "runtime_id"); !ok) return fail(ok.error());
  if (auto ok = validate_id(r.worker_id, "worker_id"); !ok) return fail(ok.error());
  return r;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}


namespace {

std::string str(const bj::object& o, std::string_view key, std::string_view dflt = "") {
  const auto* v = o.if_contains(key);
  if (!v) return std::string(dflt);
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  if (v->is_bool()) return v->as_bool() ? "true" : "false";
  return std::string(dflt);
}

const bj::object& obj(const bj::value& v) {
  static const bj::object empty;
  return v.is_object() ? v.as_object() : empty;
}
const bj::object& obj(const bj::object& o, std::string_view key) { return json::obj_or_empty(o, key); }
const bj::array& arr(const bj::object& o, std::string_view key) { return json::arr_or_empty(o, key); }

std::string time_text(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !(v->is_int64() || v->is_uint64())) return "-";
  std::int64_t ms = v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(v->as_uint64());
  if (ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

void print_json(const bj::value& v) { std::cout << json::serialize(v) << "\n" << std::flush; }

void print_error(const CliError& e) {
  std::cerr << printable(e.code) << ": " << printable(e.message) << "\n" << std::flush;
}

// A table of what the server said, made printable cell by cell (before the
// columns are measured).
void print_table(std::vector<std::vector<std::string>> rows) {
  for (auto& row : rows)
    for (auto& cell : row) cell = printable(cell);
  std::cout << format_table(rows) << std::flush;
}

CliError usage(std::string message) { return CliError{kExitUsage, "usage", std::move(message)}; }

// SIGINT while chatting: a flag the loops look at (no SA_RESTART, so a
// blocked poll() returns EINTR at once).
volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

struct Globals {
  std::string server;
  std::string token_file;
  bool json = false;
  double timeout_s = 30;
};

struct Context {
  Globals g;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<Api> api;
  bool json() const { return g.json; }
};

// The lookup order is cli/token.hpp's.
CliResult<Secret> read_token(const Globals& g) {
  auto t = find_access_token(g.token_file, [](const char* n) { return std::getenv(n); });
  if (!t) return tl::unexpected(usage(t.error().message));
  return std::move(*t);
}

CliResult<void> connect_context(Context& c) {
  std::string server = c.g.server;
  if (server.empty())
    if (const char* env = std::getenv("YOI_SERVER"); env && *env) server = env;
  if (server.empty()) server = "http://127.0.0.1:8787";
  auto ep = parse_server_url(server);
  if (!ep) return tl::unexpected(usage(ep.error().message));
  auto token = read_token(c.g);
  if (!token) return tl::unexpected(token.error());
  if (c.g.timeout_s <= 0) return tl::unexpected(usage("--timeout must be positive"));
  c.http = std::make_unique<HttpClient>(std::move(*ep), std::move(*token),
                                        milliseconds(static_cast<std::int64_t>(c.g.timeout_s * 1000)));
  c.api = std::make_unique<Api>(*c.http);
  return {};
}

CliResult<WorkerRef> ref_arg(const std::string& text) {
  auto r = parse_worker_ref(text);
  if (!r) return tl::unexpected(usage(fmt::format("{} (a worker is RUNTIME/WORKER)", r.error().message)));
  return *r;
}

// ------------------------------------------------------------ commands

CliResult<void> cmd_runtimes(Context& c) {
  auto v = c.api->get("/api/runtimes");
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  std::vector<std::vector<std::string>> rows{{"RUNTIME", "NAME", "KIND", "STATUS", "WORKERS", "VERSION", "NOTE"}};
  for (const auto& r : arr(obj(*v), "runtimes")) {
    const auto& o = obj(r);
    const auto& counts = obj(o, "workers");  // the runtime summary's counts by status
    const auto& diag = obj(o, "diagnostic");
    rows.push_back({str(o, "runtime_id"), str(o, "display_name"), str(o, "kind", "-"), str(o, "status", "-"),
                    counts.empty() ? "-" : str(counts, "total", "-"), str(o, "version", "-"),
                    diag.empty() ? "" : fmt::format("{}: {}", str(diag, "code"), str(diag, "message"))});
  }
  print_table(std::move(rows));
  return {};
}

// yoi-server's own profiles (GET /api/profiles): a name to pass to
// 'yoi create --profile'.
CliResult<void> cmd_profiles(Context& c) {
  auto v = c.api->get("/api/profiles");
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  std::vector<std::vector<std::string>> rows{{"PROFILE", "ENGINE", "MODEL", "TOOLS", "DESCRIPTION"}};
  for (const auto& p : arr(obj(*v), "profiles")) {
    const auto& o = obj(p);
    std::string tools;
    for (const auto& t : arr(o, "tools")) tools += (tools.empty() ? "" : ",") + std::string(t.as_string());
    auto model = str(o, "model");
    rows.push_back({str(o, "name"), str(o, "engine", "-"), model.empty() ? "-" : model, tools.empty() ? "-" : tools,
                    str(o, "description")});
  }
  print_table(std::move(rows));
  return {};
}

std::vector<std::string> worker_row(const bj::object& w) {
  return {str(w, "runtime_id") + "/" + str(w, "worker_id"), str(w, "display_name"), str(w, "status"),
          str(w, "profile", "-"), str(w, "run_count", "0"), time_text(w, "updated_at")};
}

CliResult<void> cmd_workers(Context& c, const std::string& runtime, const std::string& status) {
  bj::array workers;
  bj::array runtimes;
  if (!runtime.empty()) {
    if (auto ok = validate_id(runtime, "runtime_id"); !ok) return tl::unexpected(usage(ok.error().message));
    std::string after;
    for (int page = 0; page < 1000; ++page) {
      std::string target = fmt::format("/api/runtimes/{}/workers?limit=1000", runtime);
      if (!status.empty()) target += "&status=" + status;
      if (!after.empty()) target += "&after=" + query_escape(after);
      auto v = c.api->get(target);
      if (!v) return tl::unexpected(v.error());
      for (const auto& w : arr(obj(*v), "workers")) workers.push_back(w);
      after = str(obj(*v), "next");
      if (after.empty()) break;
    }
  } else {
    auto v = c.api->get("/api/workers?limit=1000");
    if (!v) return tl::unexpected(v.error());
    for (const auto& w : arr(obj(*v), "workers"))
      if (status.empty() || str(obj(w), "status") == status) workers.push_back(w);
    runtimes = arr(obj(*v), "runtimes");
    for (const auto& r : runtimes) {
      const auto& o = obj(r);
      const auto& err = obj(o, "error");
      if (!err.empty())
        screen().note(fmt::format("runtime {} is not listed: {}: {}", str(o, "runtime_id"), str(err, "code"),
                                  str(err, "message")));
      else if (!str(o, "next").empty())
        screen().note(fmt::format("runtime {} has more workers; use --runtime {} to list them all",
                                  str(o, "runtime_id"), str(o, "runtime_id")));
    }
  }
  if (c.json()) {
    bj::object o;
    o["workers"] = std::move(workers);
    if (runtime.empty()) o["runtimes"] = std::move(runtimes);
    print_json(o);
    return {};
  }
  std::vector<std::vector<std::string>> rows{{"WORKER", "NAME", "STATUS", "PROFILE", "RUNS", "UPDATED"}};
  for (const auto& w : workers) rows.push_back(worker_row(obj(w)));
  print_table(std::move(rows));
  return {};
}

struct CreateArgs {
  std::string runtime, profile, name, intent, objective, role, id;
};

CliResult<void> cmd_create(Context& c, const CreateArgs& a) {
  if (auto ok = validate_id(a.runtime, "runtime_id"); !ok) return tl::unexpected(usage(ok.error().message));
  std::string kind = a.intent;
  if (kind.empty()) kind = !a.objective.empty() ? "task" : !a.role.empty() ? "role" : "assistant";
  if (!a.objective.empty() && kind != "task") return tl::unexpected(usage("--objective goes with --intent task"));
  if (!a.role.empty() && kind != "role") return tl::unexpected(usage("--role goes with --intent role"));
  bj::object intent;
  intent["kind"] = kind;
  if (!a.objective.empty()) intent["objective"] = a.objective;
  if (!a.role.empty()) intent["role"] = a.role;
  bj::object body;
  body["intent"] = std::move(intent);
  if (!a.profile.empty()) body["profile"] = a.profile;
  if (!a.name.empty()) body["display_name"] = a.name;
  if (!a.id.empty()) body["worker_id"] = a.id;
  auto v = c.api->call("POST", fmt::format("/api/runtimes/{}/workers", a.runtime), json::serialize(body));
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  screen().text(str(obj(*v), "runtime_id", a.runtime) + "/" + str(obj(*v), "worker_id") + "\n");
  return {};
}

CliResult<void> cmd_show(Context& c, const WorkerRef& w) {
  auto v = c.api->get(worker_path(w));
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  const auto& o = obj(*v);
  const auto& intent = obj(o, "intent");
  std::string intent_text = str(intent, "kind", "-");
  if (!str(intent, "objective").empty()) intent_text += ": " + str(intent, "objective");
  if (!str(intent, "role").empty()) intent_text += ": " + str(intent, "role");
  std::vector<std::vector<std::string>> rows{
      {"worker", w.runtime_id + "/" + w.worker_id}, {"name", str(o, "display_name")},
      {"status", str(o, "status")},                 {"intent", intent_text},
      {"profile", str(o, "profile", "-")},          {"bundle", str(obj(o, "config_bundle"), "digest", "-")},
      {"runs", str(o, "run_count", "0")},
      {"messages", str(o, "transcript_total", "0")}, {"last seq", str(o, "last_seq", "0")},
      {"created", time_text(o, "created_at")},      {"updated", time_text(o, "updated_at")}};
  print_table(std::move(rows));
  // Calls waiting for a person (ARCHITECTURE §15), and what was always allowed.
  if (const auto* pending = o.if_contains("pending_approvals"); pending && pending->is_array() && !pending->get_array().empty()) {
    screen().text("\npending approvals (answer with 'yoi approve " + w.runtime_id + "/" + w.worker_id + " CALL_ID'):\n");
    std::vector<std::vector<std::string>> calls;
    for (const auto& a : pending->get_array()) {
      const auto& ao = obj(a);
      calls.push_back({str(ao, "call_id"), str(ao, "name"), str(ao, "arguments"), time_text(ao, "requested_at")});
    }
    print_table(std::move(calls));
  }
  if (const auto* rules = o.if_contains("remembered_rules"); rules && rules->is_array() && !rules->get_array().empty()) {
    screen().text("\nalways allowed:\n");
    std::vector<std::vector<std::string>> rows2;
    for (const auto& r : rules->get_array())
      rows2.push_back({str(obj(r), "tool"), str(obj(r), "pattern", "*"), str(obj(r), "action")});
    print_table(std::move(rows2));
  }
  return {};
}

CliResult<void> cmd_approve(Context& c, const WorkerRef& w, const std::string& call_id, bool deny,
                            const std::optional<std::string>& reason, bool remember) {
  if (deny && remember) return tl::unexpected(usage("--remember goes with an approval, not with --deny"));
  auto v = post_approval(*c.api, w, call_id, {.approve = !deny, .reason = reason.value_or(""), .remember = remember});
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  const auto& o = obj(*v);
  screen().text(fmt::format("{} {}{}{}\n", str(o, "decision"), str(o, "call_id"),
                            str(o, "remember") == "true" ? " (always allowed from now on)" : "",
                            str(o, "reason").empty() ? "" : ": " + str(o, "reason")));
  return {};
}

// How a reply item that did not complete is marked: "cancelled", or
// "failed: <code>" (issue 18: such items may have no text at all). Empty for
// user items and completed replies.
std::string result_mark(const bj::object& item, std::string_view open, std::string_view close) {
  std::string result = str(item, "result");
  if (result.empty() || result == "completed") return "";
  if (result == "failed") result += ": " + str(obj(item, "error"), "code", "error");
  return fmt::format("{}{}{}", open, result, close);
}

CliResult<void> cmd_transcript(Context& c, const WorkerRef& w) {
  bj::array items;
  std::uint64_t total = 0;
  std::string start = "0";
  for (int page = 0; page < 100000; ++page) {
    auto v = c.api->get(fmt::format("{}/transcript?start={}&limit=1000", worker_path(w), start));
    if (!v) return tl::unexpected(v.error());
    const auto& o = obj(*v);
    for (const auto& i : arr(o, "items")) items.push_back(i);
    total = std::stoull(str(o, "total", "0"));
    start = str(o, "next");
    if (start.empty() || arr(o, "items").empty()) break;
  }
  if (c.json()) {
    bj::object o;
    o["items"] = std::move(items);
    o["total"] = total;
    print_json(o);
    return {};
  }
  for (const auto& i : items) {
    const auto& o = obj(i);
    auto role = str(o, "role");
    if (role == "tool") {
      screen().text(tool_result_text(ToolResultView::from_item(o)));
      continue;
    }
    std::string content = str(o, "content");
    // A step that only called tools has no text of its own: its calls say it.
    bool calls_only = content.empty() && !arr(o, "tool_calls").empty() && str(o, "result").empty();
    if (!calls_only) {
      screen().text(role + result_mark(o, " [", "]") + ":" + (content.empty() ? "" : " " + content));
      screen().line_break();
    }
    screen().text(tool_calls_text(o));
  }
  return {};
}

CliResult<void> cmd_cancel(Context& c, const WorkerRef& w) {
  auto v = c.api->call("POST", worker_path(w) + "/cancel", "{}");
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  const auto& o = obj(*v);
  if (str(o, "cancelled") == "true")
    screen().text("cancelled run " + str(o, "run_id", "?") + "\n");
  else
    screen().text("nothing to cancel (" + str(o, "status", "idle") + ")\n");
  return {};
}

CliResult<void> cmd_stop(Context& c, const WorkerRef& w) {
  auto v = c.api->call("POST", worker_path(w) + "/stop", "{}");
  if (!v) return tl::unexpected(v.error());
  if (c.json()) return print_json(*v), CliResult<void>{};
  screen().text("stopped " + w.runtime_id + "/" + w.worker_id + "\n");
  return {};
}

// A worker that is not stopped is refused (409 worker_not_stopped, exit 1):
// deleting is never a side effect of stopping.
CliResult<void> cmd_rm(Context& c, const WorkerRef& w) {
  auto v = c.api->call("DELETE", worker_path(w));
  if (!v) return tl::unexpected(v.error());
  if (c.json()) {
    bj::object o;
    o["runtime_id"] = w.runtime_id;
    o["worker_id"] = w.worker_id;
    o["deleted"] = true;
    print_json(o);
    return {};
  }
  std::cout << "deleted " << w.runtime_id << "/" << w.worker_id << "\n";
  return {};
}

// ------------------------------------------------------------ streams

void note_to_stderr(const std::string& s) { screen().note(s); }

// Calls' tool names by call_id, so a resolution can name its tool; bounded.
class CallNames {
 public:
  void add(const bj::object& e) {
    if (names_.size() >= 1024) names_.clear();
    names_[str(e, "call_id")] = str(e, "name");
  }
  std::string of(const std::string& call_id) const {
    auto it = names_.find(call_id);
    return it == names_.end() ? std::string() : it->second;
  }

 private:
  std::map<std::string, std::string> names_;
};

// The pending approvals a snapshot's worker detail lists (§15).
std::vector<bj::object> pending_approvals(const bj::object& snapshot) {
  std::vector<bj::object> out;
  for (const auto& p : arr(obj(snapshot, "worker"), "pending_approvals"))
    if (p.is_object() && !str(p.as_object(), "call_id").empty()) out.push_back(p.as_object());
  return out;
}

std::string ref_text(const WorkerRef& w) { return w.runtime_id + "/" + w.worker_id; }

// Text rendering of a stream for `attach`: the conversation as it happens.
// A call waiting for a person is shown with how to answer it (attach only
// watches; `yoi approve` or `chat` answers).
class Renderer {
 public:
  explicit Renderer(std::string ref) : ref_(std::move(ref)) {}
  void frame(const Frame& f) {
    if (f.type == "snapshot") {
      const auto& w = obj(f.obj, "worker");
      screen().note(fmt::format("attached to {}/{} ({}); Ctrl-C to detach", str(f.obj, "runtime_id"),
                                str(f.obj, "worker_id"), str(w, "status", "?")));
      for (const auto& i : arr(f.obj, "transcript_tail")) {
        const auto& o = obj(i);
        auto role = str(o, "role");
        if (role == "user")
          out("> " + str(o, "content") + "\n");
        else if (role == "tool")
          out(tool_result_text(ToolResultView::from_item(o)));
        else {
          if (auto content = str(o, "content"); !content.empty()) out(content + "\n");
          out(tool_calls_text(o));
          out(result_mark(o, "[", "]\n"));
        }
      }
      const auto& fl = obj(f.obj, "in_flight");
      auto pending = pending_approvals(f.obj);
      for (const auto& p : pending) request(p);
      if (pending.empty())  // a detail without the list: the in-flight calls still say it
        for (const auto& c : arr(fl, "calls"))
          if (str(obj(c), "state") == "awaiting_approval") request(obj(c));
      if (!fl.empty()) out(in_flight_step_text(fl, arr(f.obj, "transcript_tail")));
    } else if (f.type == "event") {
      const auto& e = obj(f.obj, "event");
      auto type = str(e, "type");
      if (type != "tool_output") end_output();
      if (type == "input_accepted") {
        line_break();
        out("> " + str(e, "content") + "\n");
      } else if (type == "text_delta") {
        out(str(e, "delta"));
      } else if (type == "text_done") {
        line_break();
      } else if (type == "tool_call") {
        line_break();
        names_.add(e);
        const auto* args = e.if_contains("arguments");
        out(tool_call_text(str(e, "name"), args ? *args : bj::value()));
      } else if (type == "tool_output") {
        out(indent_.feed(str(e, "delta")));
      } else if (type == "tool_result") {
        line_break();
        out(tool_result_text(ToolResultView::from_event(e)));
      } else if (type == "approval_requested") {
        line_break();
        names_.add(e);
        request(e);
      } else if (type == "approval_resolved") {
        line_break();
        out(approval_resolved_text(e, names_.of(str(e, "call_id"))));
      } else if (type == "run_finished") {
        line_break();
        auto r = str(e, "result");
        if (r == "cancelled") out("[cancelled]\n");
        if (r == "failed") {
          const auto& err = obj(e, "error");
          out(fmt::format("[failed: {}: {}]\n", str(err, "code", "error"), str(err, "message")));
        }
      } else if (type == "worker_stopped") {
        line_break();
        out("[worker stopped]\n");
      }
    } else if (f.type == "diagnostic") {
      if (auto words = words_.text(f)) screen().note(*words);
    }
  }
  void line_break() { screen().line_break(); }

 private:
  static void out(const std::string& s) { screen().text(s); }
  void request(const bj::object& r) {
    out(approval_request_text(r));
    out(approval_hint_text(ref_, str(r, "call_id")));
  }
  // bash output left mid-line ends before anything else is printed.
  void end_output() {
    if (indent_.mid_line()) out("\n");
    indent_.reset();
  }
  std::string ref_;
  DiagnosticWords words_;
  CallNames names_;
  ToolOutputIndent indent_;
};

// A fatal diagnostic as the command's result.
CliResult<void> fatal_result(const Frame& f) {
  auto code = str(f.obj, "code");
  if (code == "worker_stopped") return {};
  return cli_fail(kExitServerError, code, str(f.obj, "message"));
}

CliResult<void> cmd_attach(Context& c, const WorkerRef& w, const std::string& cursor, bool from_start) {
  if (!cursor.empty() && from_start) return tl::unexpected(usage("give --cursor or --from-start, not both"));
  Follower f(*c.api, w, note_to_stderr);
  std::optional<std::string> start_cursor;
  if (!cursor.empty()) start_cursor = cursor;
  if (auto s = f.start(start_cursor, from_start); !s) return s;
  Renderer r(ref_text(w));
  for (;;) {
    auto fr = f.next(milliseconds(1000));
    if (!fr) return tl::unexpected(fr.error());
    if (!*fr) {
      if (f.finished()) return {};
      continue;
    }
    const Frame& frame = **fr;
    if (frame.type == "heartbeat") continue;
    bool fatal = frame.type == "diagnostic" && str(frame.obj, "action") == "fatal";
    if (c.json())
      std::cout << frame.raw << "\n" << std::flush;
    else if (!fatal)  // a fatal one is the command's result, printed once by run()
      r.frame(frame);
    if (fatal) {
      if (!c.json()) r.line_break();
      return fatal_result(frame);
    }
  }
}

// Follows one run to its end, printing its reply. `interrupt` is polled; on
// the first true, `on_interrupt` runs (chat: cancel the run).
struct RunEnd {
  std::string result;  // completed | cancelled | failed
  std::optional<CliError> error;
};

// A run that did not complete, as the command's error; `err` is the
// `error` of its run_finished event or of its transcript item.
std::optional<CliError> run_error(const std::string& result, const bj::object& err, const std::string& run_id) {
  if (result == "failed")
    return CliError{kExitServerError, str(err, "code", "run_failed"), str(err, "message", "the run failed")};
  if (result == "cancelled") return CliError{kExitServerError, "cancelled", fmt::format("run {} was cancelled", run_id)};
  return std::nullopt;
}

// A call of the run waits for a person (§15): `approval_requested`, or a
// pending entry of a snapshot's detail. Shown once per call; `ask` (chat)
// then answers it inline, otherwise the line says how to answer.
// `ask` returns false when nobody is left to answer here (chat's input
// ended): the follower stops, result "detached", the call stays pending.
using AskApproval = std::function<bool(const bj::object& request)>;

CliResult<RunEnd> follow_run(Follower& f, DiagnosticWords& words, const WorkerRef& w, const std::string& run_id,
                             bool json_lines, const std::function<bool()>& interrupt,
                             const std::function<void()>& on_interrupt, const AskApproval& ask = {}) {
  std::string printed;  // the current step's text, as far as it is printed
  std::set<std::string> calls_shown, results_shown, asked;  // by call_id: each once, also across a resync
  CallNames names;
  ToolOutputIndent indent;
  bool interrupted = false;
  RunEnd end;
  auto end_output = [&] {
    if (indent.mid_line() && !json_lines) screen().text("\n");
    indent.reset();
  };
  auto show_request = [&](const bj::object& r) {
    names.add(r);
    if (!asked.insert(str(r, "call_id")).second || json_lines) return true;
    end_output();
    screen().line_break();
    screen().text(approval_request_text(r));
    if (ask) return ask(r);
    screen().text(approval_hint_text(ref_text(w), str(r, "call_id")));
    return true;
  };
  auto detached = [&] {
    end.result = "detached";
    return end;
  };
  auto emit_text = [&](const std::string& full) {
    // Resync: print what the stream has that we have not, once.
    if (full.size() > printed.size() && full.compare(0, printed.size(), printed) == 0) {
      auto rest = full.substr(printed.size());
      if (!json_lines) screen().text(rest);
      printed = full;
    }
  };
  // A step that ends with calls: its text is done, the next step's starts empty.
  auto show_call = [&](const std::string& call_id, const std::string& name, const bj::value* args) {
    printed.clear();
    if (!calls_shown.insert(call_id).second || json_lines) return;
    end_output();
    screen().line_break();
    screen().text(tool_call_text(name, args ? *args : bj::value()));
  };
  auto show_result = [&](const std::string& call_id, const ToolResultView& r) {
    if (!results_shown.insert(call_id).second || json_lines) return;
    end_output();
    screen().line_break();
    screen().text(tool_result_text(r));
  };
  for (;;) {
    if (!interrupted && interrupt && interrupt()) {
      interrupted = true;
      if (on_interrupt) on_interrupt();
    }
    auto fr = f.next(milliseconds(100));
    if (!fr) return tl::unexpected(fr.error());
    if (!*fr) {
      if (f.finished()) return cli_fail(kExitServerError, "stream_ended", "the stream ended before the run did");
      continue;
    }
    const Frame& frame = **fr;
    if (frame.type == "snapshot") {
      // The run's steps so far (what this follower has not shown yet), then
      // its reply item if it ended, else the in-flight step.
      for (const auto& i : arr(frame.obj, "transcript_tail")) {
        const auto& o = obj(i);
        if (str(o, "run_id") != run_id) continue;
        auto role = str(o, "role");
        if (role == "tool") {
          show_result(str(o, "call_id"), ToolResultView::from_item(o));
        } else if (role == "assistant" && !arr(o, "tool_calls").empty()) {
          bool fresh = false;
          for (const auto& c : arr(o, "tool_calls")) fresh = fresh || !calls_shown.contains(str(obj(c), "call_id"));
          if (!fresh) continue;
          emit_text(str(o, "content"));
          for (const auto& c : arr(o, "tool_calls"))
            show_call(str(obj(c), "call_id"), str(obj(c), "name"), obj(c).if_contains("arguments"));
        } else if (role == "assistant") {
          emit_text(str(o, "content"));
          end.result = str(o, "result", "completed");
          end.error = run_error(end.result, obj(o, "error"), run_id);
          return end;
        }
      }
      const auto& fl = obj(frame.obj, "in_flight");
      if (str(fl, "run_id") == run_id) emit_text(in_flight_step_text(fl, arr(frame.obj, "transcript_tail")));
      for (const auto& p : pending_approvals(frame.obj))
        if (str(p, "run_id", run_id) == run_id && !show_request(p)) return detached();
      continue;
    }
    if (frame.type == "diagnostic") {
      bool fatal = str(frame.obj, "action") == "fatal";
      if (json_lines)
        std::cout << frame.raw << "\n" << std::flush;
      else if (!fatal)  // a fatal one is the command's result, printed once by run()
        if (auto text = words.text(frame)) screen().note(*text);
      if (fatal) return cli_fail(kExitServerError, str(frame.obj, "code"), str(frame.obj, "message"));
      continue;
    }
    if (frame.type != "event") continue;
    const auto& e = obj(frame.obj, "event");
    auto type = str(e, "type");
    if (type == "worker_stopped") {
      if (json_lines) std::cout << frame.raw << "\n" << std::flush;
      return cli_fail(kExitServerError, "worker_stopped", "the worker was stopped during the run");
    }
    if (str(e, "run_id") != run_id) continue;
    if (json_lines) std::cout << frame.raw << "\n" << std::flush;
    if (type == "text_delta") {
      auto d = str(e, "delta");
      printed += d;
      if (!json_lines) screen().text(d);
    } else if (type == "text_done") {
      emit_text(str(e, "text"));
    } else if (type == "tool_call") {
      show_call(str(e, "call_id"), str(e, "name"), e.if_contains("arguments"));
    } else if (type == "tool_output") {
      if (!json_lines) screen().text(indent.feed(str(e, "delta")));
    } else if (type == "tool_result") {
      show_result(str(e, "call_id"), ToolResultView::from_event(e));
    } else if (type == "approval_requested") {
      if (!show_request(e)) return detached();
    } else if (type == "approval_resolved") {
      if (!json_lines) {
        end_output();
        screen().line_break();
        screen().text(approval_resolved_text(e, names.of(str(e, "call_id"))));
      }
    } else if (type == "run_finished") {
      end_output();
      end.result = str(e, "result");
      end.error = run_error(end.result, obj(e, "error"), run_id);
      return end;
    }
  }
}

// Waits for the stream's first frame (the snapshot that fixes our position).
CliResult<void> await_position(Follower& f, milliseconds timeout) {
  auto fr = f.next(timeout);
  if (!fr) return tl::unexpected(fr.error());
  if (!*fr) return cli_fail(kExitConnection, "timeout", "the event stream sent nothing");
  if ((*fr)->type == "diagnostic" && str((*fr)->obj, "action") == "fatal")
    return cli_fail(kExitServerError, str((*fr)->obj, "code"), str((*fr)->obj, "message"));
  return {};
}

// Every message a worker gets passes Api::send_input (UTF-8 checked there).
CliResult<bj::value> post_input(Context& c, const WorkerRef& w, const std::string& text) {
  return c.api->send_input(w, text);
}

CliResult<std::string> read_all_stdin() {
  constexpr std::size_t kMax = 4u << 20;
  if (::isatty(0)) std::cerr << "yoi: reading the message from standard input; end it with Ctrl-D\n";
  std::string text;
  char buf[65536];
  for (;;) {
    auto n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(usage("cannot read standard input"));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMax) return tl::unexpected(usage("the message on standard input is over 4 MiB"));
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

CliResult<void> cmd_send(Context& c, const WorkerRef& w, std::string text, bool from_stdin, bool wait) {
  if (from_stdin) {
    auto t = read_all_stdin();
    if (!t) return tl::unexpected(t.error());
    text = std::move(*t);
  }
  if (text.empty()) return tl::unexpected(usage("nothing to send (the message is empty)"));
  if (!wait) {
    auto v = post_input(c, w, text);
    if (!v) return tl::unexpected(v.error());
    if (c.json()) return print_json(*v), CliResult<void>{};
    screen().text("accepted run " + str(obj(*v), "run_id") + "\n");
    return {};
  }
  // Subscribe first: the snapshot fixes a position before the input exists,
  // so every event of the run comes after it and nothing is missed.
  Follower f(*c.api, w, note_to_stderr);
  if (auto s = f.start(std::nullopt, false); !s) return s;
  if (auto p = await_position(f, c.http->timeout()); !p) return p;
  auto v = post_input(c, w, text);
  if (!v) return tl::unexpected(v.error());
  if (c.json()) print_json(*v);
  auto run_id = str(obj(*v), "run_id");
  DiagnosticWords words;
  auto end = follow_run(f, words, w, run_id, c.json(), {}, {});
  // Ends the reply's line; a run that printed nothing prints no empty line.
  if (!c.json()) screen().line_break();
  if (!end) return tl::unexpected(end.error());
  if (end->error) return tl::unexpected(*end->error);
  return {};
}

// chat's input: on a terminal, libedit (line editing, history); piped, plain
// lines. Either way stdin is read with poll() so the event stream keeps being
// served (pings, heartbeats) while the prompt waits.
class LineReader {
 public:
  enum class Got { line, eof, interrupted, superseded };
  // While a run waits at a prompt (chat's approval question), the stream's
  // frames are kept for the run's follower instead of dropped, and a frame
  // for which `stop` says true (the call answered elsewhere, the run ended)
  // ends the prompt: superseded.
  struct Keep {
    std::vector<Frame> frames;
    std::function<bool(const Frame&)> stop;
  };
  LineReader() {
    if (::isatty(0)) editor_.emplace();
  }
  bool editing() const { return editor_.has_value(); }

  Got read(const std::string& prompt, std::string& line, Follower& f, CliResult<void>& stream_error,
           Keep* keep = nullptr) {
    if (editor_)
      editor_->start(prompt);
    else
      screen().text(prompt);
    auto got = read_line(line, f, stream_error, keep);
    if (editor_) editor_->stop();
    return got;
  }

 private:
  Got read_line(std::string& line, Follower& f, CliResult<void>& stream_error, Keep* keep) {
    for (;;) {
      if (!editor_) {
        if (auto nl = buf_.find('\n'); nl != std::string::npos) {
          line = buf_.substr(0, nl);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          buf_.erase(0, nl + 1);
          return Got::line;
        }
        if (eof_) {
          if (buf_.empty()) return Got::eof;
          line = std::move(buf_);
          buf_.clear();
          return Got::line;
        }
      }
      if (g_interrupted) return Got::interrupted;
      pollfd p{0, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0 && editor_) {
        switch (editor_->feed(line)) {
          case LineEditor::Got::line: return Got::line;
          case LineEditor::Got::eof: return Got::eof;
          case LineEditor::Got::nothing: break;
        }
      } else if (r > 0) {
        char tmp[4096];
        auto n = ::read(0, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
          eof_ = true;
        else
          buf_.append(tmp, static_cast<std::size_t>(n));
        if (buf_.size() > (4u << 20)) {
          buf_.clear();
          screen().note("line too long; dropped");
        }
      }
      // Keep the stream served while the user types.
      for (;;) {
        auto fr = f.next(milliseconds(0));
        if (!fr) {
          stream_error = tl::unexpected(fr.error());
          return Got::eof;
        }
        if (!*fr) break;
        if (keep) {
          bool fatal = (*fr)->type == "diagnostic" && str((*fr)->obj, "action") == "fatal";
          bool stop = fatal || (keep->stop && keep->stop(**fr));
          keep->frames.push_back(std::move(**fr));
          if (stop) return Got::superseded;
          continue;
        }
        if ((*fr)->type == "diagnostic" && str((*fr)->obj, "action") == "fatal") {
          stream_error = fatal_result(**fr);
          if (stream_error) stream_error = cli_fail(kExitServerError, "worker_stopped", "the worker was stopped");
          return Got::eof;
        }
      }
    }
  }

  std::optional<LineEditor> editor_;
  std::string buf_;
  bool eof_ = false;
};

// chat's inline answer to a call waiting for a person (§15):
// `[y]es / [n]o / [a]lways`, and for no an optional reason the model is
// told. It answers through the approval route (post_approval), the same call
// `yoi approve` makes; the run's approval_resolved then shows the decision.
// Answered elsewhere or the run ended meanwhile: the question is dropped.
// false: standard input ended; the call stays pending.
bool ask_approval(Context& c, const WorkerRef& w, LineReader& reader, Follower& f, const std::string& run_id,
                  const bj::object& request) {
  auto call_id = str(request, "call_id");
  auto settled = [&](const Frame& fr) {
    if (fr.type == "snapshot") return true;  // resynced: the follower looks again
    if (fr.type != "event") return false;
    const auto& e = obj(fr.obj, "event");
    auto type = str(e, "type");
    return (type == "approval_resolved" && str(e, "call_id") == call_id) ||
           (type == "run_finished" && str(e, "run_id") == run_id) || type == "worker_stopped";
  };
  // One prompt; nullopt when the question is over (answered elsewhere,
  // Ctrl-C, end of input: `ended` then says so).
  bool ended = false;
  auto prompt = [&](const std::string& text) -> std::optional<std::string> {
    LineReader::Keep keep{{}, settled};
    std::string line;
    CliResult<void> stream_error;
    auto got = reader.read(text, line, f, stream_error, &keep);
    f.requeue(std::move(keep.frames));
    if (got == LineReader::Got::eof) ended = true;
    if (got != LineReader::Got::line) {
      screen().line_break();
      return std::nullopt;
    }
    if (!reader.editing()) screen().text(line + "\n");  // piped: show the answer
    return line;
  };
  for (;;) {
    auto line = prompt("approve? [y]es / [n]o / [a]lways: ");
    if (!line) break;
    auto answer = parse_approval_answer(*line);
    if (answer == ApprovalAnswer::unknown) {
      screen().text("answer y (yes, run it), n (no, refuse it) or a (always allow it for this worker)\n");
      continue;
    }
    ApprovalRequest a;
    a.approve = answer != ApprovalAnswer::deny;
    a.remember = answer == ApprovalAnswer::always;
    if (!a.approve) {
      auto reason = prompt("reason (optional, told to the model; Enter for none): ");
      if (!reason && !ended) break;
      if (reason) {
        auto b = reason->find_first_not_of(" \t");
        if (b != std::string::npos) a.reason = reason->substr(b, reason->find_last_not_of(" \t") - b + 1);
      }
    }
    if (auto r = post_approval(*c.api, w, call_id, a); !r) {
      // Not pending any more (answered elsewhere), not supported, or the
      // server is gone: said, and the run's own events decide what follows.
      print_error(r.error());
      screen().text(approval_hint_text(ref_text(w), call_id));
    }
    return true;
  }
  if (ended) {
    screen().note(fmt::format("standard input ended; call {} stays pending: yoi approve {} {}", call_id, ref_text(w),
                              call_id));
    return false;
  }
  return true;
}

CliResult<void> cmd_chat(Context& c, const WorkerRef& w) {
  if (c.json()) return tl::unexpected(usage("chat is interactive and has no --json output; use send --wait --json"));
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: interrupt poll()
  struct sigaction old {};
  sigaction(SIGINT, &sa, &old);
  struct Restore {
    struct sigaction old;
    ~Restore() { sigaction(SIGINT, &old, nullptr); }
  } restore{old};

  Follower f(*c.api, w, note_to_stderr);
  if (auto s = f.start(std::nullopt, false); !s) return s;
  if (auto p = await_position(f, c.http->timeout()); !p) return p;
  screen().note(fmt::format("chatting with {}/{}. Ctrl-C cancels a reply; Ctrl-D or Ctrl-C at the prompt quits.",
                            w.runtime_id, w.worker_id));
  LineReader reader;
  DiagnosticWords words;
  for (;;) {
    // Cleared before the prompt shows: a Ctrl-C typed at it must count.
    g_interrupted = 0;
    std::string line;
    CliResult<void> stream_error;
    auto got = reader.read("> ", line, f, stream_error);
    if (got != LineReader::Got::line) {
      screen().text("\n");
      return stream_error;
    }
    if (!reader.editing()) screen().text(line + "\n");  // piped: show what was sent
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto v = post_input(c, w, line);
    if (!v) {
      if (v.error().exit_code == kExitConnection) return tl::unexpected(v.error());
      print_error(v.error());
      if (v.error().code == "worker_stopped" || v.error().code == "worker_not_found")
        return tl::unexpected(v.error());
      continue;
    }
    auto run_id = str(obj(*v), "run_id");
    g_interrupted = 0;
    auto end = follow_run(
        f, words, w, run_id, false, [] { return g_interrupted != 0; },
        [&] {
          auto r = c.api->call("POST", worker_path(w) + "/cancel", "{}");
          if (!r) print_error(r.error());
        },
        [&](const bj::object& r) { return ask_approval(c, w, reader, f, run_id, r); });
    g_interrupted = 0;
    screen().line_break();
    if (!end) return tl::unexpected(end.error());
    if (end->result == "detached") return {};
    if (end->result == "cancelled") screen().text("[cancelled]\n");
    if (end->result == "failed" && end->error)
      screen().text("[failed: " + end->error->code + ": " + end->error->message + "]\n");
  }
}

}  // namespace

// ------------------------------------------------------------ main

namespace {

// What the command line chose: CLI11 writes it while parsing, the chosen
// command reads it.
struct Parsed {
  Globals g;
  std::string ref_text;         // RUNTIME/WORKER, for the commands that take one
  std::string runtime, status;  // workers
  CreateArgs create;            // create
  std::string text;             // send
  bool wait = false;            // send
  std::string cursor;           // attach
  bool from_start = false;      // attach
  std::string call_id;          // approve
  bool deny = false;            // approve
  std::optional<std::string> reason;  // approve
  bool remember = false;        // approve
};

// One subcommand: its help, its own options, and what runs once it is parsed.
struct Command {
  const char* name;
  const char* description;
  const char* footer;  // "": the app's
  bool takes_worker;   // a required RUNTIME/WORKER positional, checked before `run`
  void (*add_options)(CLI::App&, Parsed&);  // nullptr: none of its own
  // `worker` is set iff takes_worker.
  CliResult<void> (*run)(Context&, const Parsed&, const WorkerRef* worker);
};

void add_workers_options(CLI::App& s, Parsed& p) {
  s.add_option("-r,--runtime", p.runtime, "only this runtime's workers")->type_name("RUNTIME");
  s.add_option("--status", p.status, "only workers in this status")
      ->check(CLI::IsMember({"idle", "running", "awaiting_approval", "stopped"}))
      ->type_name("idle|running|awaiting_approval|stopped");
}

void add_approve_options(CLI::App& s, Parsed& p) {
  s.add_option("call_id", p.call_id, "the call awaiting approval (see 'yoi show')")
      ->required()
      ->type_name("CALL_ID");
  s.add_flag("--deny", p.deny, "refuse the call (the model is told, with --reason)");
  s.add_option("--reason", p.reason, "why; shown to the model when denying")->type_name("TEXT");
  s.add_flag("--remember", p.remember, "always allow this tool with this exact command or path for this worker");
}

void add_create_options(CLI::App& s, Parsed& p) {
  CreateArgs& ca = p.create;
  s.add_option("-r,--runtime", ca.runtime, "the runtime to create it on")
      ->required()
      ->type_name("RUNTIME");
  s.add_option("-p,--profile", ca.profile,
               "one of yoi-server's profiles ('yoi profiles'), else a profile of the runtime "
               "(default runtime_default)")
      ->type_name("PROFILE");
  s.add_option("-n,--name", ca.name, "display name")->type_name("NAME");
  s.add_option("--intent", ca.intent, "what the worker is for (default assistant)")
      ->check(CLI::IsMember({"assistant", "task", "role"}))
      ->type_name("assistant|task|role");
  s.add_option("--objective", ca.objective, "the task's objective (implies --intent task)")
      ->type_name("TEXT");
  s.add_option("--role", ca.role, "the role's name (implies --intent role)")->type_name("NAME");
  s.add_option("--id", ca.id, "choose the worker id instead of letting the runtime pick one")
      ->type_name("WORKER");
}

void add_send_options(CLI::App& s, Parsed& p) {
  s.add_flag("-w,--wait", p.wait, "stream the reply to standard output until the run ends");
  // CLI11 fills positionals in declaration order; add_commands declared the
  // worker already, so the text comes after it.
  s.add_option("text", p.text, "the message; '-' or absent: read it from standard input")
      ->type_name("TEXT");
}

void add_tui_options(CLI::App& s, Parsed& p) {
  s.add_option("worker", p.ref_text, "open this worker with the composer focused")->type_name("RUNTIME/WORKER");
}

CliResult<void> run_tui_command(Context& c, const Parsed& p) {
  std::optional<WorkerRef> start;
  if (!p.ref_text.empty()) {
    auto w = ref_arg(p.ref_text);
    if (!w) return tl::unexpected(w.error());
    start = *w;
  }
  if (c.json()) return tl::unexpected(usage("tui is interactive and has no --json output"));
  return run_tui(*c.api, start);
}

void add_attach_options(CLI::App& s, Parsed& p) {
  s.add_option("--cursor", p.cursor, "resume after this cursor (from a previous --json run)")
      ->type_name("CURSOR");
  s.add_flag("--from-start", p.from_start, "replay every retained event first");
}

// Every subcommand, in the order 'yoi --help' lists them.
const Command kCommands[] = {
    {"runtimes", "List the runtimes and their health", "", false, nullptr,
     [](Context& c, const Parsed&, const WorkerRef*) { return cmd_runtimes(c); }},
    {"workers", "List workers, of every runtime or of one", "", false, add_workers_options,
     [](Context& c, const Parsed& p, const WorkerRef*) {
       return cmd_workers(c, p.runtime, p.status);
     }},
    {"profiles", "List yoi-server's profiles (for 'yoi create --profile')", "", false, nullptr,
     [](Context& c, const Parsed&, const WorkerRef*) { return cmd_profiles(c); }},
    {"create", "Create a worker; prints RUNTIME/WORKER", "", false, add_create_options,
     [](Context& c, const Parsed& p, const WorkerRef*) { return cmd_create(c, p.create); }},
    {"show", "Show a worker's details", "", true, nullptr,
     [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_show(c, *w); }},
    {"send", "Send a message to a worker",
     "Exit status with --wait: 0 when the run completes; 1 when it fails or is cancelled\n"
     "(printed as code: message).",
     true, add_send_options,
     [](Context& c, const Parsed& p, const WorkerRef* w) {
       return cmd_send(c, *w, p.text, p.text.empty() || p.text == "-", p.wait);
     }},
    {"attach", "Follow a worker's events live (reconnects and resumes by itself)",
     "Text output shows the conversation as it happens; --json prints every snapshot, event and\n"
     "diagnostic frame on its own line (each carries a cursor to resume from). A dropped\n"
     "connection is retried with backoff and resumed from the last cursor without gaps or\n"
     "duplicates. Ends when the worker stops, or on Ctrl-C.",
     true, add_attach_options,
     [](Context& c, const Parsed& p, const WorkerRef* w) {
       return cmd_attach(c, *w, p.cursor, p.from_start);
     }},
    {"chat", "Talk to a worker interactively",
     "Type a line and press Enter to send it; the reply streams back. Ctrl-C cancels the reply\n"
     "in flight; Ctrl-C at the prompt or Ctrl-D quits.",
     true, nullptr, [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_chat(c, *w); }},
    {"tui", "A full-screen console: every worker, live, with single keys",
     "Left: runtimes and their workers; right: the selected worker's console and a composer.\n"
     "Press ? inside for every key. Ctrl-C quits; NO_COLOR turns colours off.",
     false, add_tui_options, [](Context& c, const Parsed& p, const WorkerRef*) { return run_tui_command(c, p); }},
    {"transcript", "Print a worker's whole transcript", "", true, nullptr,
     [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_transcript(c, *w); }},
    {"approve", "Answer a tool call awaiting approval (approve, or --deny)",
     "The worker's pending calls and their CALL_IDs are listed by 'yoi show'. Answering the\n"
     "same call twice the same way is fine; the other way is approval_resolved (exit 1); a\n"
     "call not pending is approval_not_found (exit 1).",
     true, add_approve_options,
     [](Context& c, const Parsed& p, const WorkerRef* w) {
       return cmd_approve(c, *w, p.call_id, p.deny, p.reason, p.remember);
     }},
    {"cancel", "Cancel a worker's run in flight", "", true, nullptr,
     [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_cancel(c, *w); }},
    {"stop", "Stop a worker for good", "", true, nullptr,
     [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_stop(c, *w); }},
    {"rm", "Delete a stopped worker: its state, events and transcript",
     "Only a stopped worker can be deleted ('yoi stop' it first); otherwise the server answers\n"
     "worker_not_stopped and yoi exits 1. The worker id may be used again afterwards.",
     true, nullptr, [](Context& c, const Parsed&, const WorkerRef* w) { return cmd_rm(c, *w); }},
};

void add_global_options(CLI::App& app, Globals& g) {
  app.add_option("-s,--server", g.server,
                 "yoi-server URL (default $YOI_SERVER or http://127.0.0.1:8787)")
      ->type_name("URL");
  app.add_option("--token-file", g.token_file,
                 "read the access token from FILE (else $YOI_ACCESS_TOKEN, $YOI_DATA_DIR/access-token, "
                 "./.yoi-data/access-token)")
      ->type_name("FILE");
  app.add_flag("--json", g.json, "print JSON: one document, or one frame per line for streams");
  app.add_option("--timeout", g.timeout_s, "seconds to wait for each request (default 30)")
      ->type_name("SECONDS");
}

void add_commands(CLI::App& app, Parsed& p) {
  for (const Command& cmd : kCommands) {
    auto* s = app.add_subcommand(cmd.name, cmd.description);
    s->fallthrough();
    // Before the command's own options: a positional of its own follows the worker.
    if (cmd.takes_worker)
      s->add_option("worker", p.ref_text, "the worker, as RUNTIME/WORKER")
          ->required()
          ->type_name("RUNTIME/WORKER");
    if (cmd.add_options) cmd.add_options(*s, p);
    // Without a footer of its own a command keeps the app's (CLI11 copies it
    // in add_subcommand). CLI11 lists only a subcommand's own options; say
    // where the rest are.
    if (*cmd.footer) s->footer(cmd.footer);
    std::string f = s->get_footer();
    s->footer(
        (f.empty() ? "" : f + "\n\n") +
        "Global options (before or after the command): --server URL, --token-file FILE, --json,\n"
        "--timeout SECONDS; see 'yoi --help'.");
  }
}

// Connects, then runs the one command that was parsed (require_subcommand(1)).
CliResult<void> run_parsed(const CLI::App& app, const Parsed& p, Context& ctx) {
  if (auto c = connect_context(ctx); !c) return c;
  for (const Command& cmd : kCommands) {
    if (!app.get_subcommand(cmd.name)->parsed()) continue;
    if (!cmd.takes_worker) return cmd.run(ctx, p, nullptr);
    auto w = ref_arg(p.ref_text);
    if (!w) return tl::unexpected(w.error());
    return cmd.run(ctx, p, &*w);
  }
  return tl::unexpected(usage("no command"));
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "yoi drives yoi workers through a yoi-server: list runtimes and workers, create\n"
      "workers, send them input and follow their replies live.",
      "yoi"};
  app.footer(
      "A worker is named RUNTIME/WORKER, e.g. local/w-1a2b.\n\n"
      "Environment:\n"
      "  YOI_SERVER        server URL when --server is not given (default http://127.0.0.1:8787)\n"
      "  YOI_ACCESS_TOKEN  the server's access token when --token-file is not given\n"
      "  YOI_DATA_DIR      then the token in $YOI_DATA_DIR/access-token, then ./.yoi-data/access-token\n\n"
      "Exit status: 0 ok, 1 the server answered with an error (printed as code: message),\n"
      "2 usage error, 3 the server could not be reached.\n\n"
      "Run 'yoi COMMAND --help' for a command's options.");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  Parsed p;
  add_global_options(app, p.g);
  add_commands(app, p);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `yoi frob`: CLI11 sees no subcommand and says one is required; name
    // the word it did not know instead.
    auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && !extra.front().starts_with("-")) {
      std::string names;
      for (const Command& cmd : kCommands) names += fmt::format("{}{}", names.empty() ? "" : ", ", cmd.name);
      std::cerr << "yoi: unknown command '" << extra.front() << "' (commands: " << names
                << ")\nRun 'yoi --help' for usage.\n";
      return kExitUsage;
    }
    app.exit(e);
    return kExitUsage;
  }

  Context ctx;
  ctx.g = p.g;
  auto r = run_parsed(app, p, ctx);
  if (!r) {
    std::cout << std::flush;
    if (r.error().exit_code == kExitUsage)
      std::cerr << "yoi: " << r.error().message << "\nRun 'yoi --help' for usage.\n";
    else
      print_error(r.error());
    return r.error().exit_code;
  }
  return kExitOk;
}

}  // namespace yoi::cli
