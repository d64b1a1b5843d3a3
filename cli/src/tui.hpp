#pragma once
// `yoi tui`: the full-screen console (cli/README.md, "yoi tui"). The ncurses
// shell and its one event loop live in tui.cpp; the state and the picture in
// tui_model / tui_view, which know nothing of the terminal.
#include <optional>

#include "api.hpp"

namespace yoi::cli {

// Runs until the person quits (q, Ctrl-C, SIGTERM/SIGHUP). A usage error
// when stdin or stdout is not a terminal. The terminal is restored on every
// way out, a crash included.
CliResult<void> run_tui(Api& api, std::optional<WorkerRef> start);

}  // namespace yoi::cli
