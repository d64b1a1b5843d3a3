#pragma once
// `yoi tui`'s state, with no terminal in it (cli/README.md, "yoi tui").
//
// The model is a reducer: the shell (tui.cpp) feeds it the frames of the
// selected worker's stream (Follower), the catalog the list thread fetched,
// notes and keys; a key may answer an Action the shell carries out against
// the browser API. render() (tui_view.hpp) turns the model into a grid of
// cells. Nothing here reads a clock, a socket or the terminal, so all of it
// is unit-tested (cli/test/tui_model_test.cpp).
//
// Text from the server (replies, tool output, names) is kept raw here and
// made printable only when it is drawn (screen.hpp's printable()).
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "follow.hpp"
#include "yoi/cli/cli.hpp"

namespace yoi::cli::tui {

// A key, as the shell read it.
struct Key {
  enum Kind {
    character,  // `ch` is the character (Unicode)
    enter,      // Enter / Return
    alt_enter,  // Alt-Enter or Ctrl-J: a newline in the composer
    backspace,
    del,
    left,
    right,
    up,
    down,
    home,
    end,
    page_up,
    page_down,
    tab,
    esc,
    ctrl,  // Ctrl-<ch>, `ch` the lowercase letter
    f1,
  } kind = character;
  char32_t ch = 0;
};
inline Key key_char(char32_t c) {
  return Key{Key::character, c};
}
inline Key key_ctrl(char c) {
  return Key{Key::ctrl, static_cast<char32_t>(c)};
}
inline Key key(Key::Kind k) {
  return Key{k, 0};
}

// What the shell does for a key.
struct Action {
  enum Kind { none, quit, open, send, cancel, approve, deny, create, stop, remove } kind = none;
  Action() = default;
  Action(Kind k, WorkerRef r = {}) : kind(k), ref(std::move(r)) {}
  WorkerRef ref;           // open, send, cancel, approve, deny, stop, remove
  std::string text;        // send: the message; deny: the reason
  std::string call_id;     // approve, deny
  bool remember = false;   // approve: always allow this tool and pattern
  std::string runtime_id;  // create
};

struct RuntimeRow {
  std::string runtime_id, display_name, kind, status;
  std::string note;  // a diagnostic ("runtime_unreachable: …")
};

struct WorkerRow {
  std::string runtime_id, worker_id, display_name, status, profile;
  std::int64_t updated_ms = 0;
  bool waiting() const { return status == "awaiting_approval"; }
};

// What the list thread fetched: GET /api/runtimes and GET /api/workers.
struct Catalog {
  std::vector<RuntimeRow> runtimes;
  std::vector<WorkerRow> workers;
  std::string error;  // the last fetch failed: why ("" when it worked)
};
Catalog catalog_from(const boost::json::value& runtimes, const boost::json::value& workers);

// One thing in the console: a message, a reply, a tool call or a note.
struct Entry {
  enum Kind { user, assistant, tool, note } kind = note;
  std::string run_id;
  std::string text;        // user / assistant / note
  bool streaming = false;  // assistant: deltas still arriving
  std::string mark;        // assistant: "cancelled", "failed: CODE"
  // tool
  std::string call_id, name, main_arg;
  enum class State { running, awaiting_approval, ok, failed, denied } state = State::running;
  std::string summary;  // "ok (2 lines, 3 ms)", "failed: CODE: MESSAGE"
  std::string output;   // streamed tool_output, then the result's output
};

struct PendingApproval {
  std::string call_id, name, main_arg, rule;
};

// The selected worker's console.
struct Console {
  std::optional<WorkerRef> ref;
  std::string status;  // the worker's, as its stream says
  std::string run_id;  // the run in flight, if any
  std::vector<Entry> entries;
  std::vector<PendingApproval> pending;
  std::int64_t input_tokens = 0, output_tokens = 0;
  bool have_usage = false;
  std::string stream_note;  // the stream's trouble ("" when it flows)
};

// Bounds: the console keeps the newest entries; a tool's streamed output
// keeps its tail.
inline constexpr std::size_t kMaxEntries = 2000;
inline constexpr std::size_t kMaxToolOutputBytes = 64u << 10;

class Model {
 public:
  enum class Focus { list, composer };
  enum class Mode { normal, filter, confirm, reason, help };

  // ---- inputs
  void set_catalog(Catalog c);
  // Opens `ref`'s console (empty until its snapshot); the shell opens its stream.
  void select(const WorkerRef& ref);
  // One frame of the selected worker's stream.
  void apply(const Frame& f);
  // The stream's own notes (reconnecting, resumed) and the shell's results.
  void stream_note(std::string note) { console_.stream_note = std::move(note); }
  void flash(std::string text) { flash_ = std::move(text); }
  Action on_key(const Key& k);
  // The mouse (optional): a click on a worker of the list opens it; the
  // wheel scrolls the console by `lines` (positive: back in time).
  Action click_worker(int visible_index);
  void wheel(int lines);
  void set_now_ms(std::int64_t now) { now_ms_ = now; }
  void set_focus(Focus f) { focus_ = f; }
  void set_server(std::string s) { server_ = std::move(s); }

  // ---- what the view reads
  const Catalog& catalog() const { return catalog_; }
  const Console& console() const { return console_; }
  // The catalog's workers that pass the filter, in list order.
  std::vector<const WorkerRow*> visible_workers() const;
  int cursor() const { return cursor_; }  // index into visible_workers()
  Focus focus() const { return focus_; }
  Mode mode() const { return mode_; }
  const std::u32string& composer() const { return composer_; }
  std::size_t composer_pos() const { return pos_; }
  const std::u32string& filter() const { return filter_; }
  const std::u32string& reason() const { return reason_; }
  const std::string& confirm_text() const { return confirm_text_; }
  const std::string& flash() const { return flash_; }
  const std::string& server() const { return server_; }
  bool expanded() const { return expanded_; }
  int scroll() const { return scroll_; }  // lines up from the bottom
  std::int64_t now_ms() const { return now_ms_; }
  // The composer yields to y / n / a while a call waits for a person.
  bool approving() const { return !console_.pending.empty() && console_.status != "stopped"; }

 private:
  void on_snapshot(const boost::json::object& f);
  void on_event(const boost::json::object& e);
  Entry& tool_entry(const std::string& call_id, const std::string& name,
                    const std::string& main_arg, const std::string& run_id);
  Entry* find_tool(const std::string& call_id);
  Entry* streaming_reply(const std::string& run_id);
  void add(Entry e);
  void end_reply(const std::string& run_id);
  Action key_normal(const Key& k);
  Action key_composer(const Key& k);
  Action key_list(const Key& k);
  Action ask(std::string text, Action then);
  std::optional<WorkerRef> highlighted() const;
  void clamp_cursor();

  Catalog catalog_;
  Console console_;
  Focus focus_ = Focus::list;
  Mode mode_ = Mode::normal;
  int cursor_ = 0;
  std::u32string composer_;
  std::size_t pos_ = 0;
  std::vector<std::u32string> history_;
  std::size_t history_at_ = 0;  // == history_.size(): the line being typed
  std::u32string draft_;        // the line being typed while history is browsed
  std::u32string filter_;
  std::u32string reason_;
  std::string confirm_text_;
  Action confirm_action_;
  std::string flash_;
  std::string server_;
  bool expanded_ = false;
  int scroll_ = 0;
  std::int64_t now_ms_ = 0;
};

// UTF-8 <-> UTF-32 for the composer (invalid bytes become U+FFFD).
std::u32string utf32(std::string_view s);
std::string utf8(std::u32string_view s);

}  // namespace yoi::cli::tui
