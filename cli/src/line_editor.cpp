#include "line_editor.hpp"

#include <cstdio>
#include <cstdlib>

#include <editline/readline.h>

namespace yoi::cli {
namespace {

// libedit's callback interface hands the line to a plain function.
std::optional<std::string> g_line;
bool g_done = false;

void on_line(char* line) {
  g_done = true;
  if (line) {
    g_line = std::string(line);
    std::free(line);
  } else {
    g_line.reset();  // Ctrl-D on an empty line
  }
}

}  // namespace

LineEditor::LineEditor() {
  rl_catch_signals = 0;  // SIGINT stays the caller's (chat cancels or quits)
  rl_readline_name = "yoi";
  rl_instream = stdin;
  rl_outstream = stdout;
  using_history();
}

LineEditor::~LineEditor() { stop(); }

void LineEditor::start(const std::string& prompt) {
  g_done = false;
  g_line.reset();
  rl_callback_handler_install(prompt.c_str(), on_line);
  active_ = true;
}

LineEditor::Got LineEditor::feed(std::string& line) {
  if (!active_) return Got::eof;
  rl_callback_read_char();
  if (!g_done) return Got::nothing;
  stop();
  if (!g_line) return Got::eof;
  line = std::move(*g_line);
  if (line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
  return Got::line;
}

void LineEditor::stop() {
  if (!active_) return;
  active_ = false;
  rl_callback_handler_remove();
}

}  // namespace yoi::cli
