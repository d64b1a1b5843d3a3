#pragma once
// Profiles: the one place where a profile's keys and rules are decided
// (ARCHITECTURE §4, §12, §16). Three places write profiles, with the same
// keys and the same validation:
//
//   - a yoi-runtime config file: `[profiles.NAME]` (Origin::runtime_config)
//   - yoi-server's config file:  `[profiles.NAME]` (Origin::server_config)
//   - a config bundle's JSON:    `"profiles": {"NAME": {...}}` (Origin::bundle)
//
// The rules live in one core over a neutral form (a JSON object whose keys
// are the TOML keys); the TOML and JSON entry points are thin front-ends
// that convert and name the error's place (the file and line for TOML).
//
// Secrets (ARCHITECTURE §8, §16): a provider key is never written anywhere,
// only the name of the environment variable that holds it (`api_key_env`);
// `api_key` is an error everywhere. A provider's base URL is private to the
// runtime's host: a runtime's own config may write `base_url`; yoi-server's
// config and bundles only name a variable (`base_url_env`), resolved on the
// runtime's host when the engine is built. Likewise only a runtime's own
// config may write `sandbox = "none"` (bash unsandboxed on its host, §14).
//
// Adding a key: one entry in the core's table (profile.cpp) and, if it has
// a setting, a field of engines::ProfileConfig.

#include <functional>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "yoi/config_file.hpp"
#include "yoi/engines/engine.hpp"
#include "yoi/error.hpp"

namespace yoi::profiles {

// Who wrote the profile: decides where a base URL may be written inline.
enum class Origin { runtime_config, server_config, bundle };

// The first problem found: the key inside the profile ("engine") and why,
// worded to follow the quoted key. For a list of entries (`permissions`),
// the 0-based entry at fault: the front-ends name it ("entry 2", and in
// TOML its line).
struct Problem {
  std::string key;
  std::string why;
  std::optional<std::size_t> entry;
};

// The core: applies every key of `body` to `p` (whose defaults stand for
// absent keys) and checks the whole. `p.name` must be set by the caller.
std::optional<Problem> apply(const boost::json::object& body, Origin origin, engines::ProfileConfig& p);

struct Parsed {
  engines::ProfileConfig profile;
  // The profile as written, in the neutral form (a system_prompt_file read
  // into system_prompt): what a bundle carries. Never holds a secret value:
  // origins that ship bundles accept none.
  boost::json::object body;
};

// TOML front-end: `node` is the table of `[profiles.NAME]`. Errors are
// config_invalid "FILE:LINE: 'profiles.NAME.KEY' why". `system_prompt_file`
// (TOML only) is read here, relative to the config file's folder.
Result<Parsed> from_toml(const std::string& name, const toml::node& node, const config::File& file, Origin origin);

// JSON front-end (a bundle's profile): invalid_request
// "'profiles.NAME.KEY' why".
Result<engines::ProfileConfig> from_json(const std::string& name, const boost::json::value& body);

// True for a valid profile name (the id alphabet, ARCHITECTURE §3).
bool is_valid_name(std::string_view name);

// Resolves the variables a profile names on this host: api_key_env into
// api_key, base_url_env into base_url. config_invalid naming the profile and
// the variable (never its value) when one is unset or empty. A message that
// may travel to a browser (a bundle's profile) names only the key:
// `name_variables` false.
Result<void> resolve_env(engines::ProfileConfig& p, const std::function<const char*(const char*)>& getenv,
                         bool name_variables = true);

}  // namespace yoi::profiles
