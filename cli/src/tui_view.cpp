#include "tui_view.hpp"

#include <fmt/format.h>
#include <wchar.h>

#include <algorithm>

#include "screen.hpp"

namespace yoi::cli::tui {

namespace {

struct Line {
  std::u32string text;
  Style style = Style::normal;
};

// The newest part of a long text is what a console shows; earlier bytes are
// skipped so a redraw costs the same after an hour of streaming.
constexpr std::size_t kMaxEntryBytes = 64u << 10;
// Lines of a tool's output shown expanded, and while a tool runs.
constexpr std::size_t kExpandedLines = 200;
constexpr std::size_t kLiveLines = 5;
constexpr int kComposerRows = 5;

// What a streamed text can show now: a character cut between two deltas is
// held back rather than shown as U+FFFD for one frame.
std::string_view complete_utf8(std::string_view s) {
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    auto b = static_cast<unsigned char>(s[s.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    std::size_t len = b < 0x80         ? 1
                      : (b >> 5) == 6  ? 2
                      : (b >> 4) == 14 ? 3
                      : (b >> 3) == 30 ? 4
                                       : 1;
    return len > back ? s.substr(0, s.size() - back) : s;
  }
  return s;
}

// Splits printable text into lines, tabs as spaces.
std::vector<std::u32string> split_lines(std::string_view raw, bool streaming) {
  std::string_view view = streaming ? complete_utf8(raw) : raw;
  std::string prefix;
  if (view.size() > kMaxEntryBytes) {
    auto cut = view.size() - kMaxEntryBytes;
    while (cut < view.size() && (static_cast<unsigned char>(view[cut]) & 0xC0) == 0x80) ++cut;
    view = view.substr(cut);
    prefix = "… ";
  }
  auto text = utf32(prefix + printable(view));
  std::vector<std::u32string> out(1);
  for (char32_t c : text) {
    if (c == U'\n')
      out.emplace_back();
    else if (c == U'\t')
      out.back() += U"    ";
    else
      out.back() += c;
  }
  return out;
}

// Wraps one line to `width` columns; `first` / `rest` prefix the pieces.
void wrap(std::u32string_view text, int width, std::u32string_view first, std::u32string_view rest,
          Style style, std::vector<Line>& out) {
  std::u32string cur(first);
  int col = 0;
  for (char32_t c : first) col += char_width(c);
  int rest_w = 0;
  for (char32_t c : rest) rest_w += char_width(c);
  bool any = false;
  for (char32_t c : text) {
    int w = char_width(c);
    if (col + w > width && col > rest_w) {
      out.push_back({std::move(cur), style});
      cur = std::u32string(rest);
      col = rest_w;
    }
    cur += c;
    col += w;
    any = true;
  }
  if (any || out.empty() || !cur.empty()) out.push_back({std::move(cur), style});
}

std::u32string u(std::string_view s) {
  return utf32(s);
}

const char* state_text(Entry::State s) {
  switch (s) {
    case Entry::State::running:
      return "…";
    case Entry::State::awaiting_approval:
      return "waiting for approval";
    case Entry::State::denied:
      return "denied";
    default:
      return "";
  }
}

// One entry as lines of `width` columns.
std::vector<Line> entry_lines(const Entry& e, int width, bool expanded) {
  std::vector<Line> out;
  switch (e.kind) {
    case Entry::user: {
      bool first = true;
      for (const auto& l : split_lines(e.text, false)) {
        wrap(l, width, first ? U"> " : U"  ", U"  ", Style::user, out);
        first = false;
      }
      break;
    }
    case Entry::assistant: {
      // Code blocks (``` fences) are set apart: a rule for each fence and a
      // bar before each line of code.
      bool code = false;
      auto lines = split_lines(e.text, e.streaming);
      if (lines.size() == 1 && lines[0].empty() && !e.mark.empty()) lines.clear();
      for (const auto& l : lines) {
        auto trimmed = std::u32string_view(l);
        while (!trimmed.empty() && trimmed.front() == U' ') trimmed.remove_prefix(1);
        if (trimmed.starts_with(U"```")) {
          auto lang = trimmed.substr(3);
          std::u32string rule = code ? U"└──" : U"┌── " + std::u32string(lang);
          code = !code;
          wrap(rule, width, U"", U"", Style::dim, out);
          continue;
        }
        if (code)
          wrap(l, width, U"│ ", U"│ ", Style::code, out);
        else
          wrap(l, width, U"", U"", Style::normal, out);
      }
      if (!e.mark.empty()) wrap(u("[" + e.mark + "]"), width, U"", U"", Style::failed, out);
      break;
    }
    case Entry::tool: {
      auto head = u(printable("→ " + e.name + (e.main_arg.empty() ? "" : " " + e.main_arg)));
      for (auto& c : head)
        if (c == U'\n') c = U'⏎';
      std::string state = e.summary.empty() || e.state == Entry::State::awaiting_approval ||
                                  e.state == Entry::State::running
                              ? state_text(e.state)
                              : e.summary;
      Style st = e.state == Entry::State::ok ? Style::ok
                 : e.state == Entry::State::failed || e.state == Entry::State::denied
                     ? Style::failed
                 : e.state == Entry::State::awaiting_approval ? Style::waiting
                                                              : Style::tool;
      // One line: the call, then how it went, cut to fit; the line takes the
      // state's colour once the call is done.
      std::u32string line;
      int col = 0;
      auto full = head + u("  " + printable(state));
      for (char32_t c : full) {
        if (c == U'\n') c = U' ';
        int w = char_width(c);
        if (col + w > width) {
          if (!line.empty()) line.back() = U'…';
          break;
        }
        line += c;
        col += w;
      }
      out.push_back({line, st});
      bool live = e.state == Entry::State::running && !e.output.empty();
      if (expanded || live) {
        auto lines = split_lines(e.output, live);
        while (!lines.empty() && lines.back().empty()) lines.pop_back();
        std::size_t max = expanded ? kExpandedLines : kLiveLines;
        std::size_t from = 0;
        if (lines.size() > max) {
          if (live && !expanded) {
            from = lines.size() - max;  // a running command: its newest lines
          }
        }
        std::size_t to = std::min(lines.size(), from + max);
        if (from > 0) out.push_back({u(fmt::format("  │ … {} earlier lines", from)), Style::dim});
        for (std::size_t i = from; i < to; ++i)
          wrap(lines[i], width, U"  │ ", U"  │ ", Style::dim, out);
        if (to < lines.size())
          out.push_back({u(fmt::format("  │ … {} more lines", lines.size() - to)), Style::dim});
      }
      break;
    }
    case Entry::note:
      for (const auto& l : split_lines(e.text, false)) wrap(l, width, U"", U"", Style::notice, out);
      break;
  }
  return out;
}

std::string ago(std::int64_t now_ms, std::int64_t then_ms) {
  if (then_ms <= 0 || now_ms <= 0) return "-";
  auto s = std::max<std::int64_t>(0, (now_ms - then_ms) / 1000);
  if (s < 60) return fmt::format("{}s ago", s);
  if (s < 3600) return fmt::format("{}m ago", s / 60);
  if (s < 86400) return fmt::format("{}h ago", s / 3600);
  return fmt::format("{}d ago", s / 86400);
}

const char* marker(const std::string& status) {
  if (status == "awaiting_approval") return "!";
  if (status == "running") return "●";
  if (status == "stopped") return "■";
  return "·";
}

struct Keys {
  const char* keys;
  const char* what;
};
// The help screen; cli/README.md has the same table.
const std::vector<std::pair<const char*, std::vector<Keys>>>& help_table() {
  static const std::vector<std::pair<const char*, std::vector<Keys>>> t{
      {"Anywhere",
       {{"Ctrl-C", "quit"},
        {"Tab", "switch between the list and the composer"},
        {"Esc", "cancel the selected worker's run"},
        {"Ctrl-O", "expand or collapse tool output"},
        {"PgUp PgDn", "scroll the console"},
        {"F1", "this help"}}},
      {"Worker list",
       {{"Up Down j k", "move; Enter opens the worker"},
        {"/", "filter (Enter keeps it, Esc clears it)"},
        {"c  s  d", "create, stop, delete a worker (asks first)"},
        {"? q", "this help; quit"}}},
      {"Composer",
       {{"Enter", "send; Alt-Enter or Ctrl-J: a new line"},
        {"Left Right Home End", "move; Up Down: history"},
        {"Ctrl-A E U K W", "start, end, kill before, after, word"},
        {"?", "this help, when the composer is empty"}}},
      {"A call waiting for approval",
       {{"y", "approve"},
        {"n", "deny (asks for an optional reason)"},
        {"a", "always allow this tool here"}}},
  };
  return t;
}

void draw_help(Grid& g, int top, int bottom) {
  std::vector<std::pair<std::string, Style>> lines;
  lines.push_back({"Keys (any key closes this)", Style::bold});
  for (const auto& [group, keys] : help_table()) {
    lines.push_back({group, Style::bold});
    for (const auto& k : keys)
      lines.push_back({fmt::format("  {:<20} {}", k.keys, k.what), Style::normal});
  }
  int h = std::min(static_cast<int>(lines.size()) + 2, bottom - top + 1);
  int w = std::min(g.width - 2, 72);
  int r0 = top + std::max(0, (bottom - top + 1 - h) / 2);
  int c0 = (g.width - w) / 2;
  for (int r = r0; r < r0 + h; ++r) g.fill(r, c0, c0 + w, Style::normal);
  for (int c = c0; c < c0 + w; ++c) {
    g.at(r0, c) = {U'─', Style::dim};
    g.at(r0 + h - 1, c) = {U'─', Style::dim};
  }
  for (int r = r0; r < r0 + h; ++r) {
    g.at(r, c0) = {U'│', Style::dim};
    g.at(r, c0 + w - 1) = {U'│', Style::dim};
  }
  g.at(r0, c0) = {U'┌', Style::dim};
  g.at(r0, c0 + w - 1) = {U'┐', Style::dim};
  g.at(r0 + h - 1, c0) = {U'└', Style::dim};
  g.at(r0 + h - 1, c0 + w - 1) = {U'┘', Style::dim};
  for (int i = 0; i < h - 2 && i < static_cast<int>(lines.size()); ++i)
    g.put(r0 + 1 + i, c0 + 2, lines[static_cast<std::size_t>(i)].first,
          lines[static_cast<std::size_t>(i)].second, c0 + w - 1);
}

}  // namespace

int char_width(char32_t c) {
  if (c < 0x80) return 1;
  int w = ::wcwidth(static_cast<wchar_t>(c));
  return w == 2 ? 2 : 1;
}

int Grid::put(int row, int col, std::u32string_view text, Style style, int max_col) {
  if (max_col < 0 || max_col > width) max_col = width;
  if (row < 0 || row >= height) return col;
  for (char32_t c : text) {
    int w = char_width(c);
    if (col + w > max_col) break;
    at(row, col) = {c, style};
    if (w == 2) at(row, col + 1) = {0, style};
    col += w;
  }
  return col;
}

int Grid::put(int row, int col, std::string_view text, Style style, int max_col) {
  return put(row, col, std::u32string_view(utf32(text)), style, max_col);
}

void Grid::fill(int row, int col, int max_col, Style style) {
  if (row < 0 || row >= height) return;
  for (int c = std::max(0, col); c < std::min(max_col, width); ++c) at(row, c) = {U' ', style};
}

std::string Grid::row_text(int row) const {
  std::u32string s;
  for (int c = 0; c < width; ++c)
    if (at(row, c).ch != 0) s += at(row, c).ch;
  while (!s.empty() && s.back() == U' ') s.pop_back();
  return utf8(s);
}

Grid render(const Model& m, int width, int height) {
  Grid g(std::max(1, width), std::max(1, height));
  if (width < kMinWidth || height < kMinHeight) {
    g.put(0, 0,
          fmt::format("terminal too small ({}x{}); yoi tui needs {}x{}", width, height, kMinWidth,
                      kMinHeight),
          Style::notice);
    return g;
  }
  const auto& con = m.console();
  // ---- header
  g.fill(0, 0, width, Style::bar);
  int hc = g.put(0, 1, u("yoi tui · " + printable(m.server())), Style::bar);
  std::string keys = "? keys · Ctrl-C quit";
  int kw = static_cast<int>(u(keys).size());
  if (hc + 2 + kw < width) g.put(0, width - kw - 1, keys, Style::bar);

  const int top = 1, bottom = height - 3;  // the panes' rows, inclusive
  const int left_w = std::clamp(width * 3 / 10, 22, 36);
  const int rc = left_w + 1;  // the console's first column
  const int rw = width - rc;
  for (int r = top; r <= bottom; ++r) g.at(r, left_w) = {U'│', Style::dim};
  g.list_width = left_w;

  // ---- left pane: runtimes and their workers
  {
    struct L {
      std::string text;
      Style style;
      int worker = -1;  // index into visible workers
      std::string right = {};
    };
    std::vector<L> lines;
    auto vis = m.visible_workers();
    std::vector<std::string> rids;
    for (const auto& r : m.catalog().runtimes) rids.push_back(r.runtime_id);
    for (const auto* w : vis)
      if (std::find(rids.begin(), rids.end(), w->runtime_id) == rids.end())
        rids.push_back(w->runtime_id);
    for (const auto& rid : rids) {
      const RuntimeRow* rt = nullptr;
      for (const auto& r : m.catalog().runtimes)
        if (r.runtime_id == rid) rt = &r;
      lines.push_back({rid, Style::bold, -1, rt ? rt->status : ""});
      if (rt && !rt->note.empty()) lines.push_back({"  " + rt->note, Style::notice});
      for (std::size_t i = 0; i < vis.size(); ++i) {
        const auto& w = *vis[i];
        if (w.runtime_id != rid) continue;
        lines.push_back({std::string(marker(w.status)) + " " + w.worker_id,
                         w.waiting() ? Style::waiting : Style::normal, static_cast<int>(i),
                         w.status == "awaiting_approval" ? "approval?" : w.status});
        std::string sub = "  " + (w.profile.empty() ? std::string("-") : w.profile);
        if (!w.display_name.empty() && w.display_name != w.worker_id)
          sub = "  " + w.display_name + " ·" + sub.substr(1);
        lines.push_back({sub, Style::dim, static_cast<int>(i), ago(m.now_ms(), w.updated_ms)});
      }
    }
    if (!m.catalog().error.empty()) lines.push_back({m.catalog().error, Style::notice});
    if (m.catalog().workers.empty() && m.catalog().runtimes.empty() && m.catalog().error.empty())
      lines.push_back({"loading…", Style::dim});
    else if (vis.empty() && m.catalog().error.empty())
      lines.push_back(
          {m.filter().empty() ? "no workers (c creates one)" : "no worker matches", Style::dim});
    bool filtering = m.mode() == Model::Mode::filter || !m.filter().empty();
    int rows = bottom - top + 1 - (filtering ? 1 : 0);
    // Keep the highlighted worker in view.
    int first_sel = 0;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (lines[i].worker == m.cursor()) {
        first_sel = static_cast<int>(i);
        break;
      }
    int offset = std::max(0, first_sel + 2 - rows);
    for (int r = 0; r < rows && offset + r < static_cast<int>(lines.size()); ++r) {
      const auto& l = lines[static_cast<std::size_t>(offset + r)];
      g.worker_at_row[static_cast<std::size_t>(top + r)] = l.worker;
      bool sel = l.worker >= 0 && l.worker == m.cursor();
      Style st = sel ? Style::selected : l.style;
      if (sel) g.fill(top + r, 0, left_w, Style::selected);
      // The right-hand word (status, last activity) first; the text is cut to leave it room.
      auto right = u(printable(l.right));
      int rwid = static_cast<int>(right.size());
      int text_end = left_w;
      if (rwid > 0 && rwid + 4 < left_w) {
        g.put(top + r, left_w - rwid, right, sel ? st : Style::dim, left_w);
        text_end = left_w - rwid - 1;
      }
      auto text = u(printable(l.text));
      int end = g.put(top + r, 0, text, st, text_end);
      if (end == text_end && static_cast<int>(text.size()) > text_end)
        g.at(top + r, text_end - 1) = {U'…', st};
    }
    if (filtering) {
      int r = bottom;
      g.fill(r, 0, left_w, Style::normal);
      g.put(r, 0, u("/" + printable(utf8(m.filter()))), Style::bold, left_w);
    }
  }

  // ---- right pane: the console
  {
    if (con.ref)
      g.put(top, rc + 1,
            u(printable(con.ref->runtime_id + "/" + con.ref->worker_id) +
              (con.status.empty() ? "" : " · " + con.status)),
            Style::bold);
    else
      g.put(top, rc + 1, "no worker open: pick one in the list, Enter opens it", Style::dim);

    // The composer (or the approval prompt) at the bottom.
    std::vector<Line> comp;
    int cur_line = 0, cur_col = 0;
    bool show_cursor = false;
    if (m.approving()) {
      const auto& p = con.pending.front();
      std::string what = p.name + (p.main_arg.empty() ? "" : " " + p.main_arg);
      wrap(u(printable("⚠ " + what + " waits for approval" +
                       (p.rule.empty() ? "" : " (" + p.rule + ")"))),
           rw - 1, U"", U"  ", Style::waiting, comp);
      std::string more =
          con.pending.size() > 1 ? fmt::format(" · {} more waiting", con.pending.size() - 1) : "";
      wrap(u("y approve · n deny · a always allow" + more), rw - 1, U"", U"", Style::waiting, comp);
    } else {
      const auto& s = m.composer();
      std::u32string prompt = m.focus() == Model::Focus::composer ? U"> " : U"  ";
      // Wrap line by line, following the cursor.
      std::size_t idx = 0;
      std::u32string cur = prompt;
      int col = 2;
      auto push = [&] {
        comp.push_back({cur, m.focus() == Model::Focus::composer ? Style::normal : Style::dim});
        cur = U"  ";
        col = 2;
      };
      for (; idx <= s.size(); ++idx) {
        if (idx == m.composer_pos()) {
          cur_line = static_cast<int>(comp.size());
          cur_col = col;
        }
        if (idx == s.size()) break;
        char32_t c = s[idx];
        if (c == U'\n') {
          push();
          continue;
        }
        auto shown =
            c < 0x20 || c == 0x7F ? u(printable(utf8(std::u32string(1, c)))) : std::u32string(1, c);
        int w = 0;
        for (char32_t x : shown) w += char_width(x);
        if (col + w > rw - 1) {
          push();
          if (idx == m.composer_pos()) {
            cur_line = static_cast<int>(comp.size());
            cur_col = col;
          }
        }
        cur += shown;
        col += w;
      }
      comp.push_back({cur, m.focus() == Model::Focus::composer ? Style::normal : Style::dim});
      if (s.empty() && m.focus() != Model::Focus::composer) comp.back().text = U"  (Tab to write)";
      show_cursor = m.focus() == Model::Focus::composer && m.mode() == Model::Mode::normal;
    }
    int comp_rows = std::min(kComposerRows, static_cast<int>(comp.size()));
    int comp_first = 0;  // the first composer line shown
    if (static_cast<int>(comp.size()) > comp_rows)
      comp_first =
          std::clamp(cur_line - comp_rows + 1, 0, static_cast<int>(comp.size()) - comp_rows);
    int comp_top = bottom - comp_rows + 1;
    for (int c = rc; c < width; ++c) g.at(comp_top - 1, c) = {U'─', Style::dim};
    for (int i = 0; i < comp_rows; ++i) {
      const auto& l = comp[static_cast<std::size_t>(comp_first + i)];
      g.put(comp_top + i, rc + 1, l.text, l.style);
    }
    if (show_cursor && cur_line >= comp_first && cur_line < comp_first + comp_rows) {
      g.cursor_row = comp_top + cur_line - comp_first;
      g.cursor_col = std::min(width - 1, rc + 1 + cur_col);
    }

    // The transcript, newest at the bottom, built from the end.
    int t_top = top + 1, t_bottom = comp_top - 2;
    int rows = t_bottom - t_top + 1;
    if (rows > 0) {
      std::size_t need = static_cast<std::size_t>(rows + m.scroll());
      std::vector<Line> lines;  // newest first, by entry
      for (auto it = con.entries.rbegin(); it != con.entries.rend() && lines.size() < need; ++it) {
        auto el = entry_lines(*it, rw - 1, m.expanded());
        for (auto l = el.rbegin(); l != el.rend(); ++l) lines.push_back(std::move(*l));
      }
      int scroll = std::min(m.scroll(), std::max(0, static_cast<int>(lines.size()) - rows));
      // lines[scroll] is the bottom row.
      for (int r = 0; r < rows; ++r) {
        std::size_t i = static_cast<std::size_t>(scroll + r);
        if (i >= lines.size()) break;
        g.put(t_bottom - r, rc + 1, lines[i].text, lines[i].style);
      }
      if (scroll > 0) {
        auto more = u(fmt::format(" ↓ {} newer lines (PgDn) ", scroll));
        g.put(t_bottom, width - static_cast<int>(more.size()) - 1, more, Style::bar);
      }
    }
  }

  if (m.mode() == Model::Mode::help) draw_help(g, top, bottom);

  // ---- status line
  {
    int r = height - 2;
    g.fill(r, 0, width, Style::bar);
    std::string s;
    if (con.ref) {
      s = con.ref->runtime_id + "/" + con.ref->worker_id + " · " +
          (con.status.empty() ? "connecting…" : con.status);
      if (!con.run_id.empty()) s += " · run " + con.run_id;
      if (con.have_usage)
        s += fmt::format(" · tokens {} in / {} out", con.input_tokens, con.output_tokens);
    } else {
      s = fmt::format("{} workers", m.catalog().workers.size());
    }
    int c = g.put(r, 1, u(printable(s)), Style::bar);
    if (!con.stream_note.empty())
      g.put(r, c + 1, u("⚠ " + printable(con.stream_note)), Style::notice);
  }
  // ---- bottom line
  {
    int r = height - 1;
    switch (m.mode()) {
      case Model::Mode::confirm:
        g.put(r, 1, u(printable(m.confirm_text())), Style::waiting);
        break;
      case Model::Mode::filter: {
        int c = g.put(r, 1, "filter: ", Style::bold);
        c = g.put(r, c, u(printable(utf8(m.filter()))), Style::normal);
        g.cursor_row = r;
        g.cursor_col = std::min(width - 1, c);
        break;
      }
      case Model::Mode::reason: {
        int c = g.put(r, 1, "deny; reason (Enter sends, Esc goes back): ", Style::waiting);
        c = g.put(r, c, u(printable(utf8(m.reason()))), Style::normal);
        g.cursor_row = r;
        g.cursor_col = std::min(width - 1, c);
        break;
      }
      case Model::Mode::help:
        g.put(r, 1, "any key closes the help", Style::dim);
        break;
      case Model::Mode::normal:
        if (!m.flash().empty())
          g.put(r, 1, u(printable(m.flash())), Style::notice);
        else if (m.approving())
          g.put(r, 1, "y approve · n deny · a always · Esc cancel run · Ctrl-C quit", Style::dim);
        else if (m.focus() == Model::Focus::composer)
          g.put(r, 1,
                "Enter send · Alt-Enter newline · Esc cancel · Tab list · ? keys · Ctrl-C quit",
                Style::dim);
        else
          g.put(r, 1,
                "↑↓ pick · Enter open · / filter · c new · s stop · d delete · Tab write · q quit",
                Style::dim);
        break;
    }
  }
  return g;
}

}  // namespace yoi::cli::tui
