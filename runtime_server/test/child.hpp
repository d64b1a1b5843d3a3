#pragma once
// The real yoi-runtime binary as a child process for fault tests
// (yoi::testing::Process: ready line, stderr to a file, signals, RSS).

#include <string>

#include "yoi/testing/process.hpp"

namespace yoi::runtime_server::test {

using Child = yoi::testing::Process;

// Path of the built yoi-runtime ($YOI_BUILD_DIR, else this build tree).
inline std::string runtime_binary() { return yoi::testing::binary("yoi-runtime"); }

}  // namespace yoi::runtime_server::test
