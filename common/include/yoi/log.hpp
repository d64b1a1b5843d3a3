#pragma once
// Logging: spdlog, to stderr (stdout carries only the "listening" line).
// Use the spdlog free functions (spdlog::info(...)) after init().
// Never pass a Secret's exposed value to a log call; Secret formats as
// <redacted> on its own.

#include <functional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace yoi::log {

// Sets up the default logger: stderr, level from `level` ("trace".."off").
void init(std::string_view level = "info");

// Adds a sink that receives every formatted log line (tests scan these for
// canary secrets). Returns an id for remove_capture.
int add_capture(std::function<void(std::string_view)> line);
void remove_capture(int id);

}  // namespace yoi::log
