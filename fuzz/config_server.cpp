// Fuzz target: yoi-server's TOML config (backend/src/config.cpp), from a
// string: backend::parse_config. Checks: no crash, no exception escapes,
// every error is config_invalid, and an accepted config has unique runtime
// ids.
//
// Note: a config may name a token_file / token_env; the parser reads them
// (the fuzzer would need to guess a path or variable). Nothing is written.

#include <set>

#include "fuzz_check.hpp"
#include "yoi/backend/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace yoi;
  auto c = backend::parse_config(yoi::fuzz::as_text(data, size), "fuzz.toml");
  if (!c) {
    FUZZ_CHECK(c.error().code == Code::config_invalid);
    return 0;
  }
  std::set<std::string> ids;
  for (const auto& r : c->runtimes) FUZZ_CHECK(ids.insert(r.id).second);
  return 0;
}
