#pragma once
// Logging: spdlog, to stderr (stdout carries only the "listening" line).
// Use the spdlog free functions (spdlog::info(...)) after init().
// Never pass a Secret's exposed value to a log call; Secret formats as
// <redacted> on its own.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace yoi::log {

// The names --log-level accepts, in any case.
inline constexpr std::string_view kLevelNames = "trace|debug|info|warn|error|off";

// The lower-case level name when `name` is one of kLevelNames in any case;
// nullopt otherwise (spdlog would quietly read it as "off").
std::optional<std::string> level_name(std::string_view name);

// Sets up the default logger: stderr, level from `level` (a level_name).
// An unknown level logs at "info" and says so: a typo must never silence
// the errors. The binaries refuse one as a usage error before this.
void init(std::string_view level = "info");

// A fatal error the process exits on (bad configuration, a port in use):
// logged at error level, and written to stderr even when the level (say
// "off") would drop it, because the exit code alone explains nothing.
void fatal(std::string_view message);

// Adds a sink that receives every formatted log line (tests scan these for
// canary secrets). Returns an id for remove_capture.
int add_capture(std::function<void(std::string_view)> line);
void remove_capture(int id);

}  // namespace yoi::log
