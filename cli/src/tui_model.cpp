#include "tui_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "tools_view.hpp"
#include "yoi/json.hpp"

namespace yoi::cli::tui {

namespace bj = boost::json;

namespace {

std::string str(const bj::object& o, std::string_view key) {
  return std::string(json::str_or_empty(o, key));
}
const bj::object& obj(const bj::object& o, std::string_view key) {
  static const bj::object empty;
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : empty;
}
const bj::array& arr(const bj::object& o, std::string_view key) {
  static const bj::array empty;
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? v->as_array() : empty;
}
std::int64_t num(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}
const bj::value& args_of(const bj::object& o) {
  static const bj::value none;
  const auto* v = o.if_contains("arguments");
  return v ? *v : none;
}

// "cancelled" / "failed: CODE" for a reply that did not complete; "" else.
std::string mark_of(std::string_view result, const bj::object& error) {
  if (result.empty() || result == "completed") return "";
  if (result == "failed") {
    auto code = str(error, "code");
    return "failed: " + (code.empty() ? std::string("error") : code);
  }
  return std::string(result);
}

// Which rule asked: a name, or the rule itself {tool, pattern?, action}
// ("write *.md ask"); "" when the event names none.
std::string rule_text(const bj::object& o) {
  const auto* r = o.if_contains("rule");
  if (!r) return "";
  if (r->is_string()) return std::string(r->as_string());
  if (!r->is_object()) return "";
  const auto& ro = r->as_object();
  std::string out = str(ro, "tool");
  if (auto p = str(ro, "pattern"); !p.empty()) out += " " + p;
  if (auto a = str(ro, "action"); !a.empty()) out += (out.empty() ? "" : " ") + a;
  return out;
}

bool contains_folded(std::string_view hay, std::u32string_view needle) {
  auto h = utf32(hay);
  auto lower = [](char32_t c) {
    return c < 128 ? static_cast<char32_t>(std::tolower(static_cast<int>(c))) : c;
  };
  auto it = std::search(h.begin(), h.end(), needle.begin(), needle.end(),
                        [&](char32_t a, char32_t b) { return lower(a) == lower(b); });
  return it != h.end();
}

}  // namespace

std::u32string utf32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80         ? 1
                      : (b >> 5) == 6  ? 2
                      : (b >> 4) == 14 ? 3
                      : (b >> 3) == 30 ? 4
                                       : 0;
    if (len == 0 || i + len > s.size()) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? b : b & (0x7F >> len);
    bool ok = true;
    for (std::size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    out += cp;
    i += len;
  }
  return out;
}

std::string utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c <= 0x10FFFF) {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

Catalog catalog_from(const bj::value& runtimes, const bj::value& workers) {
  Catalog c;
  if (runtimes.is_object())
    for (const auto& r : arr(runtimes.as_object(), "runtimes")) {
      if (!r.is_object()) continue;
      const auto& o = r.as_object();
      RuntimeRow row{
          str(o, "runtime_id"), str(o, "display_name"), str(o, "kind"), str(o, "status"), {}};
      if (const auto& d = obj(o, "diagnostic"); !d.empty())
        row.note = str(d, "code") + ": " + str(d, "message");
      c.runtimes.push_back(std::move(row));
    }
  if (workers.is_object()) {
    for (const auto& w : arr(workers.as_object(), "workers")) {
      if (!w.is_object()) continue;
      const auto& o = w.as_object();
      c.workers.push_back({str(o, "runtime_id"), str(o, "worker_id"), str(o, "display_name"),
                           str(o, "status"), str(o, "profile"), num(o, "updated_at")});
    }
    // A runtime the workers list could not read says why.
    for (const auto& r : arr(workers.as_object(), "runtimes")) {
      if (!r.is_object()) continue;
      const auto& err = obj(r.as_object(), "error");
      if (err.empty()) continue;
      for (auto& row : c.runtimes)
        if (row.runtime_id == str(r.as_object(), "runtime_id") && row.note.empty())
          row.note = str(err, "code") + ": " + str(err, "message");
    }
  }
  // Runtimes in their order, each one's workers by id.
  auto rank = [&](const std::string& rid) {
    for (std::size_t i = 0; i < c.runtimes.size(); ++i)
      if (c.runtimes[i].runtime_id == rid) return i;
    return c.runtimes.size();
  };
  std::stable_sort(c.workers.begin(), c.workers.end(), [&](const WorkerRow& a, const WorkerRow& b) {
    auto ra = rank(a.runtime_id), rb = rank(b.runtime_id);
    if (ra != rb) return ra < rb;
    if (a.runtime_id != b.runtime_id) return a.runtime_id < b.runtime_id;
    return a.worker_id < b.worker_id;
  });
  return c;
}

// ------------------------------------------------------------ stream

void Model::select(const WorkerRef& ref) {
  if (console_.ref && console_.ref->runtime_id == ref.runtime_id &&
      console_.ref->worker_id == ref.worker_id)
    return;
  console_ = Console{};
  console_.ref = ref;
  scroll_ = 0;
  auto vis = visible_workers();
  for (std::size_t i = 0; i < vis.size(); ++i)
    if (vis[i]->runtime_id == ref.runtime_id && vis[i]->worker_id == ref.worker_id)
      cursor_ = static_cast<int>(i);
}

void Model::apply(const Frame& f) {
  if (f.type == "snapshot") {
    on_snapshot(f.obj);
  } else if (f.type == "event") {
    on_event(obj(f.obj, "event"));
  } else if (f.type == "diagnostic") {
    auto code = str(f.obj, "code");
    if (str(f.obj, "action") == "fatal") {
      if (code == "worker_stopped") {
        console_.status = "stopped";
        console_.stream_note.clear();
      } else {
        console_.stream_note = code + ": " + str(f.obj, "message");
      }
    } else {
      // The same words attach prints (DiagnosticWords), kept as the status line.
      DiagnosticWords words;
      if (code == "runtime_recovered")
        console_.stream_note.clear();
      else if (auto w = words.text(f))
        console_.stream_note = *w;
    }
  } else if (f.type == "heartbeat") {
    // Nothing to show.
  }
}

void Model::add(Entry e) {
  console_.entries.push_back(std::move(e));
  if (console_.entries.size() > kMaxEntries)
    console_.entries.erase(console_.entries.begin(),
                           console_.entries.begin() + (console_.entries.size() - kMaxEntries));
}

Entry* Model::find_tool(const std::string& call_id) {
  for (auto it = console_.entries.rbegin(); it != console_.entries.rend(); ++it)
    if (it->kind == Entry::tool && it->call_id == call_id) return &*it;
  return nullptr;
}

Entry& Model::tool_entry(const std::string& call_id, const std::string& name,
                         const std::string& main_arg, const std::string& run_id) {
  if (auto* e = find_tool(call_id)) return *e;
  Entry e;
  e.kind = Entry::tool;
  e.call_id = call_id;
  e.name = name;
  e.main_arg = main_arg;
  e.run_id = run_id;
  add(std::move(e));
  return console_.entries.back();
}

Entry* Model::streaming_reply(const std::string& run_id) {
  if (console_.entries.empty()) return nullptr;
  auto& last = console_.entries.back();
  if (last.kind == Entry::assistant && last.streaming && last.run_id == run_id) return &last;
  return nullptr;
}

void Model::end_reply(const std::string& run_id) {
  for (auto& e : console_.entries)
    if (e.kind == Entry::assistant && e.run_id == run_id) e.streaming = false;
}

void Model::on_snapshot(const bj::object& f) {
  const auto& w = obj(f, "worker");
  console_.entries.clear();
  console_.pending.clear();
  console_.status = str(w, "status");
  console_.run_id.clear();
  console_.stream_note.clear();
  const auto& tail = arr(f, "transcript_tail");
  for (const auto& i : tail) {
    if (!i.is_object()) continue;
    const auto& o = i.as_object();
    auto role = str(o, "role");
    if (role == "user") {
      Entry e;
      e.kind = Entry::user;
      e.run_id = str(o, "run_id");
      e.text = str(o, "content");
      add(std::move(e));
    } else if (role == "tool") {
      auto r = ToolResultView::from_item(o);
      auto& t = tool_entry(str(o, "call_id"), r.name, "", str(o, "run_id"));
      t.state = r.ok ? Entry::State::ok : Entry::State::failed;
      t.summary = tool_result_summary(r);
      t.output = r.output;
    } else {
      auto content = str(o, "content");
      const auto& calls = arr(o, "tool_calls");
      if (!content.empty() || calls.empty() || !str(o, "result").empty()) {
        Entry e;
        e.kind = Entry::assistant;
        e.run_id = str(o, "run_id");
        e.text = content;
        e.mark = mark_of(str(o, "result"), obj(o, "error"));
        add(std::move(e));
      }
      for (const auto& c : calls) {
        if (!c.is_object()) continue;
        const auto& co = c.as_object();
        auto name = str(co, "name");
        tool_entry(str(co, "call_id"), name, tool_main_arg(name, args_of(co)), str(o, "run_id"));
      }
    }
  }
  const auto& fl = obj(f, "in_flight");
  if (!fl.empty()) {
    console_.run_id = str(fl, "run_id");
    for (const auto& c : arr(fl, "calls")) {
      if (!c.is_object()) continue;
      const auto& co = c.as_object();
      auto name = str(co, "name");
      auto& t =
          tool_entry(str(co, "call_id"), name, tool_main_arg(name, args_of(co)), console_.run_id);
      if (t.main_arg.empty()) t.main_arg = tool_main_arg(name, args_of(co));
      if (str(co, "state") == "awaiting_approval") {
        t.state = Entry::State::awaiting_approval;
        console_.pending.push_back({t.call_id, t.name, t.main_arg, ""});
      }
    }
    auto text = in_flight_step_text(fl, tail);
    Entry e;
    e.kind = Entry::assistant;
    e.run_id = console_.run_id;
    e.text = std::move(text);
    e.streaming = true;
    add(std::move(e));
  }
  // The detail's list, when the runtime keeps one, is the authority on what waits.
  if (const auto* p = w.if_contains("pending_approvals"); p && p->is_array()) {
    console_.pending.clear();
    for (const auto& a : p->as_array()) {
      if (!a.is_object()) continue;
      const auto& ao = a.as_object();
      auto name = str(ao, "name");
      PendingApproval pa{str(ao, "call_id"), name, tool_main_arg(name, args_of(ao)), rule_text(ao)};
      if (auto* t = find_tool(pa.call_id)) t->state = Entry::State::awaiting_approval;
      console_.pending.push_back(std::move(pa));
    }
  }
}

void Model::on_event(const bj::object& e) {
  auto type = str(e, "type");
  auto run_id = str(e, "run_id");
  if (type == "input_accepted") {
    Entry u;
    u.kind = Entry::user;
    u.run_id = run_id;
    u.text = str(e, "content");
    add(std::move(u));
  } else if (type == "run_started") {
    console_.run_id = run_id;
    console_.have_usage = false;
    console_.input_tokens = console_.output_tokens = 0;
  } else if (type == "text_delta") {
    auto* r = streaming_reply(run_id);
    if (!r) {
      Entry a;
      a.kind = Entry::assistant;
      a.run_id = run_id;
      a.streaming = true;
      add(std::move(a));
      r = &console_.entries.back();
    }
    r->text += json::str_or_empty(e, "delta");
  } else if (type == "text_done") {
    auto text = str(e, "text");
    if (auto* r = streaming_reply(run_id)) {
      // The step's whole text, unless it is less than was streamed: a run
      // interrupted by a runtime restart ends with an empty text_done, and
      // what was shown stays shown (as attach keeps what it printed).
      if (text.size() >= r->text.size()) r->text = std::move(text);
      r->streaming = false;
    } else if (!text.empty()) {
      Entry a;
      a.kind = Entry::assistant;
      a.run_id = run_id;
      a.text = std::move(text);
      add(std::move(a));
    }
  } else if (type == "tool_call") {
    end_reply(run_id);
    auto name = str(e, "name");
    tool_entry(str(e, "call_id"), name, tool_main_arg(name, args_of(e)), run_id);
  } else if (type == "tool_output") {
    if (auto* t = find_tool(str(e, "call_id"))) {
      t->output += json::str_or_empty(e, "delta");
      if (t->output.size() > kMaxToolOutputBytes) {
        auto cut = t->output.size() - kMaxToolOutputBytes;
        while (cut < t->output.size() &&
               (static_cast<unsigned char>(t->output[cut]) & 0xC0) == 0x80)
          ++cut;
        t->output.erase(0, cut);
      }
    }
  } else if (type == "tool_result") {
    auto r = ToolResultView::from_event(e);
    auto& t = tool_entry(str(e, "call_id"), r.name, "", run_id);
    t.state = r.ok ? Entry::State::ok : Entry::State::failed;
    if (!r.ok && r.error_code == "denied") t.state = Entry::State::denied;
    t.summary = tool_result_summary(r);
    t.output = r.output;
  } else if (type == "approval_requested") {
    auto name = str(e, "name");
    auto main = tool_main_arg(name, args_of(e));
    auto& t = tool_entry(str(e, "call_id"), name, main, run_id);
    t.state = Entry::State::awaiting_approval;
    auto rule = rule_text(e);
    auto id = t.call_id;
    if (std::none_of(console_.pending.begin(), console_.pending.end(),
                     [&](const PendingApproval& p) { return p.call_id == id; }))
      console_.pending.push_back({id, name, main, rule});
  } else if (type == "approval_resolved") {
    auto id = str(e, "call_id");
    std::erase_if(console_.pending, [&](const PendingApproval& p) { return p.call_id == id; });
    if (auto* t = find_tool(id))
      t->state = str(e, "decision") == "approved" ? Entry::State::running : Entry::State::denied;
  } else if (type == "usage") {
    console_.input_tokens = num(e, "input_tokens");
    console_.output_tokens = num(e, "output_tokens");
    console_.have_usage = true;
  } else if (type == "run_finished") {
    end_reply(run_id);
    auto mark = mark_of(str(e, "result"), obj(e, "error"));
    if (!mark.empty()) {
      Entry n;
      n.kind = Entry::note;
      n.run_id = run_id;
      auto msg = str(obj(e, "error"), "message");
      n.text = "[" + mark + (msg.empty() ? "" : ": " + msg) + "]";
      add(std::move(n));
    }
    std::erase_if(console_.pending, [&](const PendingApproval&) { return true; });
    if (console_.run_id == run_id) console_.run_id.clear();
  } else if (type == "status") {
    console_.status = str(e, "status");
  } else if (type == "worker_stopped") {
    console_.status = "stopped";
    console_.pending.clear();
    Entry n;
    n.kind = Entry::note;
    n.text = "[worker stopped]";
    add(std::move(n));
  }
}

// ------------------------------------------------------------ catalog

void Model::set_catalog(Catalog c) {
  // The highlight stays on its worker; before there was one, it goes to the
  // worker that is open (yoi tui RUNTIME/WORKER).
  std::optional<WorkerRef> keep = catalog_.workers.empty() ? console_.ref : highlighted();
  catalog_ = std::move(c);
  if (keep) {
    auto vis = visible_workers();
    for (std::size_t i = 0; i < vis.size(); ++i)
      if (vis[i]->runtime_id == keep->runtime_id && vis[i]->worker_id == keep->worker_id)
        cursor_ = static_cast<int>(i);
  }
  clamp_cursor();
}

std::vector<const WorkerRow*> Model::visible_workers() const {
  std::vector<const WorkerRow*> out;
  for (const auto& w : catalog_.workers) {
    if (!filter_.empty() && !contains_folded(w.runtime_id + "/" + w.worker_id, filter_) &&
        !contains_folded(w.display_name, filter_) && !contains_folded(w.status, filter_) &&
        !contains_folded(w.profile, filter_))
      continue;
    out.push_back(&w);
  }
  return out;
}

void Model::clamp_cursor() {
  auto n = static_cast<int>(visible_workers().size());
  cursor_ = std::clamp(cursor_, 0, std::max(0, n - 1));
}

std::optional<WorkerRef> Model::highlighted() const {
  auto vis = visible_workers();
  if (cursor_ < 0 || cursor_ >= static_cast<int>(vis.size())) return std::nullopt;
  return WorkerRef{vis[cursor_]->runtime_id, vis[cursor_]->worker_id};
}

// ------------------------------------------------------------ keys

Action Model::ask(std::string text, Action then) {
  mode_ = Mode::confirm;
  confirm_text_ = std::move(text);
  confirm_action_ = std::move(then);
  return {};
}

Action Model::on_key(const Key& k) {
  // Ctrl-C quits from anywhere.
  if (k.kind == Key::ctrl && k.ch == 'c') return Action{Action::quit};
  flash_.clear();
  switch (mode_) {
    case Mode::help:
      mode_ = Mode::normal;
      return {};
    case Mode::confirm: {
      mode_ = Mode::normal;
      if (k.kind == Key::character && (k.ch == 'y' || k.ch == 'Y'))
        return std::exchange(confirm_action_, Action{});
      flash_ = "not done";
      return {};
    }
    case Mode::filter:
      if (k.kind == Key::enter || k.kind == Key::tab) {
        mode_ = Mode::normal;
      } else if (k.kind == Key::esc) {
        filter_.clear();
        mode_ = Mode::normal;
      } else if (k.kind == Key::backspace) {
        if (!filter_.empty()) filter_.pop_back();
      } else if (k.kind == Key::character && filter_.size() < 200) {
        filter_ += k.ch;
      } else if (k.kind == Key::up || k.kind == Key::down) {
        mode_ = Mode::normal;
        return key_list(k);
      }
      clamp_cursor();
      return {};
    case Mode::reason:
      if (k.kind == Key::enter) {
        mode_ = Mode::normal;
        if (console_.pending.empty() || !console_.ref) return {};
        Action a{Action::deny};
        a.ref = *console_.ref;
        a.call_id = console_.pending.front().call_id;
        a.text = utf8(reason_);
        reason_.clear();
        return a;
      }
      if (k.kind == Key::esc) {
        mode_ = Mode::normal;
        reason_.clear();
      } else if (k.kind == Key::backspace) {
        if (!reason_.empty()) reason_.pop_back();
      } else if (k.kind == Key::character && reason_.size() < 2000) {
        reason_ += k.ch;
      }
      return {};
    case Mode::normal:
      return key_normal(k);
  }
  return {};
}

Action Model::key_normal(const Key& k) {
  if (k.kind == Key::f1) {
    mode_ = Mode::help;
    return {};
  }
  if (k.kind == Key::ctrl && k.ch == 'o') {
    expanded_ = !expanded_;
    return {};
  }
  if (k.kind == Key::page_up) {
    scroll_ += 10;
    return {};
  }
  if (k.kind == Key::page_down) {
    scroll_ = std::max(0, scroll_ - 10);
    return {};
  }
  if (k.kind == Key::tab) {
    focus_ = focus_ == Focus::list ? Focus::composer : Focus::list;
    return {};
  }
  if (k.kind == Key::esc) {
    // Esc cancels the run in flight (and, in the list, nothing else).
    if (console_.ref && !console_.run_id.empty()) return Action{Action::cancel, *console_.ref};
    if (console_.ref && (console_.status == "running" || console_.status == "awaiting_approval"))
      return Action{Action::cancel, *console_.ref};
    return {};
  }
  if (approving() && k.kind == Key::character && console_.ref) {
    const auto& p = console_.pending.front();
    if (k.ch == 'y') {
      Action a{Action::approve, *console_.ref};
      a.call_id = p.call_id;
      return a;
    }
    if (k.ch == 'a') {
      Action a{Action::approve, *console_.ref};
      a.call_id = p.call_id;
      a.remember = true;
      return a;
    }
    if (k.ch == 'n') {
      mode_ = Mode::reason;
      reason_.clear();
      return {};
    }
  }
  if (focus_ == Focus::composer && !approving()) return key_composer(k);
  return key_list(k);
}

Action Model::click_worker(int index) {
  if (mode_ != Mode::normal) return {};
  auto vis = visible_workers();
  if (index < 0 || index >= static_cast<int>(vis.size())) return {};
  cursor_ = index;
  return key_list(key(Key::enter));
}

void Model::wheel(int lines) {
  scroll_ = std::max(0, scroll_ + lines);
}

Action Model::key_list(const Key& k) {
  auto vis = visible_workers();
  int n = static_cast<int>(vis.size());
  auto sel = highlighted();
  switch (k.kind) {
    case Key::up:
      cursor_ = std::max(0, cursor_ - 1);
      return {};
    case Key::down:
      cursor_ = std::min(std::max(0, n - 1), cursor_ + 1);
      return {};
    case Key::enter:
      if (!sel) return {};
      select(*sel);
      focus_ = Focus::composer;
      return Action{Action::open, *sel};
    default:
      break;
  }
  if (k.kind != Key::character) return {};
  switch (k.ch) {
    case 'k':
      cursor_ = std::max(0, cursor_ - 1);
      return {};
    case 'j':
      cursor_ = std::min(std::max(0, n - 1), cursor_ + 1);
      return {};
    case 'q':
      return Action{Action::quit};
    case '?':
      mode_ = Mode::help;
      return {};
    case '/':
      mode_ = Mode::filter;
      return {};
    case 'c': {
      std::string rid = sel                          ? sel->runtime_id
                        : !catalog_.runtimes.empty() ? catalog_.runtimes.front().runtime_id
                                                     : "";
      if (rid.empty()) {
        flash_ = "no runtime to create a worker on";
        return {};
      }
      Action a{Action::create};
      a.runtime_id = rid;
      return ask(fmt::format("create a worker on {}? (y/n)", rid), a);
    }
    case 's':
      if (!sel) return {};
      return ask(fmt::format("stop {}/{} for good? (y/n)", sel->runtime_id, sel->worker_id),
                 Action{Action::stop, *sel});
    case 'd':
      if (!sel) return {};
      return ask(
          fmt::format("delete {}/{} and its history? (y/n)", sel->runtime_id, sel->worker_id),
          Action{Action::remove, *sel});
    case 'i':
      focus_ = Focus::composer;
      return {};
    default:
      return {};
  }
}

Action Model::key_composer(const Key& k) {
  auto& s = composer_;
  switch (k.kind) {
    case Key::character:
      if (k.ch == '?' && s.empty()) {
        mode_ = Mode::help;
        return {};
      }
      if (s.size() < (1u << 20)) s.insert(pos_++, 1, k.ch);
      return {};
    case Key::alt_enter:
      s.insert(pos_++, 1, U'\n');
      return {};
    case Key::enter: {
      if (s.find_first_not_of(U" \t\n") == std::u32string::npos) return {};
      if (!console_.ref) {
        flash_ = "pick a worker first (Tab, then Enter on one)";
        return {};
      }
      Action a{Action::send, *console_.ref};
      a.text = utf8(s);
      if (history_.empty() || history_.back() != s) history_.push_back(s);
      if (history_.size() > 500) history_.erase(history_.begin());
      history_at_ = history_.size();
      s.clear();
      pos_ = 0;
      scroll_ = 0;
      return a;
    }
    case Key::backspace:
      if (pos_ > 0) s.erase(--pos_, 1);
      return {};
    case Key::del:
      if (pos_ < s.size()) s.erase(pos_, 1);
      return {};
    case Key::left:
      if (pos_ > 0) --pos_;
      return {};
    case Key::right:
      if (pos_ < s.size()) ++pos_;
      return {};
    case Key::home:
      if (pos_ > 0) {
        auto nl = s.rfind(U'\n', pos_ - 1);
        pos_ = nl == std::u32string::npos ? 0 : nl + 1;
      }
      return {};
    case Key::end: {
      auto nl = s.find(U'\n', pos_);
      pos_ = nl == std::u32string::npos ? s.size() : nl;
      return {};
    }
    case Key::up:
    case Key::down: {
      if (history_.empty()) return {};
      if (history_at_ == history_.size()) draft_ = s;
      if (k.kind == Key::up && history_at_ > 0) --history_at_;
      if (k.kind == Key::down && history_at_ < history_.size()) ++history_at_;
      s = history_at_ == history_.size() ? draft_ : history_[history_at_];
      pos_ = s.size();
      return {};
    }
    case Key::ctrl:
      switch (k.ch) {
        case 'a':
          return key_composer(key(Key::home));
        case 'e':
          return key_composer(key(Key::end));
        case 'b':
          return key_composer(key(Key::left));
        case 'f':
          return key_composer(key(Key::right));
        case 'd':
          return key_composer(key(Key::del));
        case 'u':
          s.erase(0, pos_);
          pos_ = 0;
          return {};
        case 'k': {
          auto nl = s.find(U'\n', pos_);
          s.erase(pos_, nl == std::u32string::npos ? std::u32string::npos : nl - pos_);
          return {};
        }
        case 'w': {
          auto p = pos_;
          while (p > 0 && s[p - 1] == U' ') --p;
          while (p > 0 && s[p - 1] != U' ' && s[p - 1] != U'\n') --p;
          s.erase(p, pos_ - p);
          pos_ = p;
          return {};
        }
        default:
          return {};
      }
    default:
      return {};
  }
}

}  // namespace yoi::cli::tui
