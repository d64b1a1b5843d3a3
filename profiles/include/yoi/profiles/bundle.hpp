#pragma once
// Config bundles (ARCHITECTURE §16): yoi-server's profiles, shipped to a
// runtime content-addressed. A bundle is `{"digest", "profiles": {NAME:
// {...}}}`; `digest` is the lowercase hex SHA-256 of canonical(profiles).
//
// The canonical form (docs/API.md, "Config bundles") is RFC 8785 (JSON
// Canonicalization Scheme): object members sorted by key, no whitespace,
// strings with only the required escapes (\" \\ \b \f \n \r \t, other
// controls as \u00xx), numbers as ECMAScript writes them (integers without a
// fraction, 0.5, 1e-7, 1e+21). Any JSON library plus that rule reproduces
// a digest; profiles/test/bundle_test.cpp pins one computed by Python.

#include <map>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "yoi/engines/engine.hpp"
#include "yoi/error.hpp"

namespace yoi::profiles {

// The canonical text of `v` (RFC 8785).
std::string canonical(const boost::json::value& v);
// Lowercase hex SHA-256 of canonical(profiles).
std::string digest(const boost::json::object& profiles);
// 64 lowercase hex digits.
bool is_valid_digest(std::string_view digest);

struct Bundle {
  std::string digest;
  boost::json::object profiles;  // as shipped (what the digest covers)
  std::map<std::string, engines::ProfileConfig, std::less<>> parsed;  // by name, validated
};

// Reads a bundle body `{"digest"?, "profiles": {...}}` sent for `digest`.
// invalid_request: not that shape, no profiles, a bad profile (naming it
// and its key, profiles::from_json); bundle_digest_mismatch: the profiles
// do not hash to `digest`, or the body's "digest" is another.
Result<Bundle> parse_bundle(std::string_view digest, const boost::json::value& body);

// The bundle's wire body: {"digest", "profiles"}.
boost::json::object to_json(const Bundle& b);

}  // namespace yoi::profiles
