#pragma once
// What yoi-runtime and yoi-server share on the command line: how a bad
// --log-level and any other usage error are refused. Header-only, in its own
// target (yoi_usage), so only the binaries that parse flags with CLI11 pull
// it in; yoi_common itself does not depend on CLI11.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "yoi/log.hpp"

namespace yoi::usage {

// Lower-cases a known level; refuses an unknown one, naming the levels
// (spdlog alone would read a typo as "off" and hide every error).
inline CLI::Validator log_level_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto name = yoi::log::level_name(s);
        if (!name) return fmt::format("unknown log level '{}' (want {})", s, yoi::log::kLevelNames);
        s = *name;
        return {};
      },
      "LEVEL");
}

// Parses argv; returns the exit code when the process should stop here:
// 0 after --help, 2 (the documented usage-error code, not CLI11's 100+)
// after printing what was wrong.
inline std::optional<int> parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace yoi::usage
