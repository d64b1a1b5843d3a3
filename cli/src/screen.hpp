#pragma once
// What people see: every human-output path of the CLI (attach, transcript,
// chat, send --wait, tables, notes and errors) writes through here, so text
// from a model, a worker or a server can never drive the terminal (issue 18,
// item 2). --json output does not come here: it stays exact JSON.
//
// printable() is the one rule, applied whether or not stdout is a terminal
// (a file written today is `cat`ed tomorrow):
// - `\n` and `\t` stay; other C0 controls and DEL become caret escapes
//   (ESC → `^[`, CR → `^M`, DEL → `^?`);
// - C1 controls (U+0080–U+009F) become `\u0080`-style escapes;
// - bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)
//   become `\u202e`-style escapes, so text cannot reorder what follows it;
// - bytes that are not well-formed UTF-8 become U+FFFD.
#include <optional>
#include <string>
#include <string_view>

namespace yoi::cli {

// printable() for text that arrives in pieces (a reply's deltas): a UTF-8
// sequence cut between two pieces is held back until the next one.
class Printable {
 public:
  std::string feed(std::string_view piece);
  std::string finish();  // what is still held back (an incomplete sequence: U+FFFD)

 private:
  std::string held_;
};

std::string printable(std::string_view text);

// The offset of the first byte that is not well-formed UTF-8, or nullopt
// (the same reading printable() makes).
std::optional<std::size_t> invalid_utf8_at(std::string_view s);

// Standard output for people, and the notes on standard error.
class Screen {
 public:
  // Writes `text` made printable (a stream: see Printable).
  void text(std::string_view text);
  // Ends the open line, if one is.
  void line_break();
  bool mid_line() const { return mid_line_; }
  // "yoi: <note>" on stderr. When stdout is a terminal with a line still
  // open (a reply half streamed), the line is ended first so the note does
  // not land in the middle of it.
  void note(std::string_view note);

 private:
  Printable p_;
  bool mid_line_ = false;
};

// The process's one screen.
Screen& screen();

}  // namespace yoi::cli
