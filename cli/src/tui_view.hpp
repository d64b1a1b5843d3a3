#pragma once
// `yoi tui`'s picture: the model laid out on a grid of cells, with no
// terminal in it. The shell (tui.cpp) paints the grid with ncurses; tests
// read it as text (Grid::row_text).
//
//   header: server, keys
//   left pane: runtimes and their workers (status, profile, last activity;
//              `!` marks a worker waiting for a person), the filter
//   right pane: the console (transcript, live reply, tool entries, code
//               blocks set apart), the composer or the approval prompt
//   status line: worker, run, tokens, the stream's trouble
//   bottom line: the keys of the moment, a question, the filter or a reason
//
// Every piece of server text passes printable() (screen.hpp) before it is
// placed, so it cannot drive the terminal.
#include <cstdint>
#include <string>
#include <vector>

#include "tui_model.hpp"

namespace yoi::cli::tui {

enum class Style : std::uint8_t {
  normal,
  dim,
  bold,
  bar,       // header and status lines
  selected,  // the highlighted worker
  user,      // the person's messages
  code,      // lines of a code block
  tool,      // a tool entry
  ok,
  failed,
  waiting,  // a call or a worker waiting for a person
  notice,   // the stream's trouble, flashes
};

struct Cell {
  char32_t ch = U' ';  // 0: the right half of a wide character
  Style style = Style::normal;
};

struct Grid {
  int width = 0, height = 0;
  std::vector<Cell> cells;
  int cursor_row = -1, cursor_col = -1;  // where the terminal cursor shows; -1: hidden
  int list_width = 0;                    // the worker list's columns (a click left of it picks)
  std::vector<int> worker_at_row;        // per row: the visible worker drawn there, or -1
  Grid(int w, int h)
      : width(w),
        height(h),
        cells(static_cast<std::size_t>(w * h)),
        worker_at_row(static_cast<std::size_t>(h), -1) {}
  Cell& at(int row, int col) { return cells[static_cast<std::size_t>(row * width + col)]; }
  const Cell& at(int row, int col) const {
    return cells[static_cast<std::size_t>(row * width + col)];
  }
  // Writes `text` (already printable, one line) from `col`, clipped at
  // `max_col` (exclusive; -1: the width); the column after it.
  int put(int row, int col, std::u32string_view text, Style style, int max_col = -1);
  int put(int row, int col, std::string_view utf8_text, Style style, int max_col = -1);
  void fill(int row, int col, int max_col, Style style);
  // The row as UTF-8 (tests).
  std::string row_text(int row) const;
};

// Columns a character takes (wcwidth; 1 for what it does not know).
int char_width(char32_t c);

// The smallest terminal drawn; below it a one-line "too small" notice.
inline constexpr int kMinWidth = 40;
inline constexpr int kMinHeight = 10;

Grid render(const Model& m, int width, int height);

}  // namespace yoi::cli::tui
