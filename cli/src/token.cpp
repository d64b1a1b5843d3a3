#include "yoi/cli/token.hpp"

#include <filesystem>
#include <optional>

#include "yoi/config_file.hpp"

namespace yoi::cli {

namespace {

Result<Secret> read(const std::string& path, std::string_view what) {
  auto t = config::read_token_file(path, what);
  if (!t) return fail(Code::invalid_request, t.error().message);
  return t;
}

}  // namespace

Result<Secret> find_access_token(const std::string& token_file, const Getenv& getenv) {
  if (!token_file.empty()) return read(token_file, "--token-file");
  if (const char* env = getenv("YOI_ACCESS_TOKEN"); env && *env) return Secret(env);
  std::optional<std::filesystem::path> found;
  std::error_code ec;
  if (const char* dir = getenv("YOI_DATA_DIR"); dir && *dir) {
    auto p = std::filesystem::path(dir) / "access-token";
    if (std::filesystem::exists(p, ec)) found = p;
  }
  if (!found) {
    auto p = std::filesystem::path(".yoi-data") / "access-token";
    if (std::filesystem::exists(p, ec)) found = p;
  }
  if (found) return read(found->string(), "the access token file");
  return Secret();
}

}  // namespace yoi::cli
