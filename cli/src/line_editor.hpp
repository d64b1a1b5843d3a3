#pragma once
// `yoi chat`'s prompt on a terminal: libedit (emacs keys, arrows, history of
// this session), driven one key at a time so the caller keeps its poll() loop
// and the event stream stays served while the user types. Only for a
// terminal on stdin; piped stdin is read as plain lines.
#include <optional>
#include <string>

namespace yoi::cli {

class LineEditor {
 public:
  LineEditor();
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // Shows `prompt` and puts the terminal in editing mode.
  void start(const std::string& prompt);
  // Reads what stdin has (call when poll() says it is readable).
  enum class Got { nothing, line, eof };
  Got feed(std::string& line);
  // Leaves editing mode without a line (Ctrl-C at the prompt, an error).
  void stop();

 private:
  bool active_ = false;
};

}  // namespace yoi::cli
