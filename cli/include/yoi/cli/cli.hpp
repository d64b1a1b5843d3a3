#pragma once
// The yoi CLI: command-line parsing and the commands (apps/yoi/main.cpp only
// calls run()). It talks to yoi-server's browser API (/api, ARCHITECTURE §7)
// and never to a runtime.
//
// Exit codes: 0 ok, 1 a typed error from the server (printed `code: message`
// on stderr), 2 a usage error, 3 a connection failure.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/error.hpp"

namespace yoi::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConnection = 3;

int run(int argc, char** argv);

// "RUNTIME/WORKER" → the pair; invalid_id (naming the part) otherwise.
struct WorkerRef {
  std::string runtime_id;
  std::string worker_id;
};
Result<WorkerRef> parse_worker_ref(std::string_view text);

// Left-aligned columns separated by two spaces; the header row first.
std::string format_table(const std::vector<std::vector<std::string>>& rows);


}  // namespace yoi::cli
