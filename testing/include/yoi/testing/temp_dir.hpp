#pragma once
// A fresh directory under the system's temp dir for one test, removed with
// everything in it when the test ends.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace yoi::testing {

struct TempDir {
  // `prefix` names the directory (yoi-PREFIX-XXXXXX), so a leftover says
  // which test made it.
  explicit TempDir(std::string_view prefix = "test") {
    std::string t = (std::filesystem::temp_directory_path() / ("yoi-" + std::string(prefix) + "-XXXXXX")).string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~TempDir() {
    std::error_code ec;  // best effort: a test that failed half-way may leave anything behind
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path path;
};

}  // namespace yoi::testing
