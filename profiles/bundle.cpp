#include "yoi/profiles/bundle.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "yoi/profiles/profile.hpp"

namespace yoi::profiles {
namespace {

namespace bj = boost::json;

void write_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// ECMAScript Number::toString (RFC 8785 §3.2.2.3) from the shortest
// round-trip digits.
void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {  // JSON has none; Boost.JSON never parses one
    out += "null";
    return;
  }
  if (d == 0) {
    out += '0';
    return;
  }
  if (d < 0) {
    out += '-';
    d = -d;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));  // d[.ddd]e[+-]xx
  auto e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exp);
  int k = static_cast<int>(digits.size());
  int n = exp + 1;  // the decimal point sits after n digits
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += fmt::format("e{}{}", n - 1 > 0 ? "+" : "-", std::abs(n - 1));
  }
}

void write(std::string& out, const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null: out += "null"; break;
    case bj::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case bj::kind::int64: write_number(out, static_cast<double>(v.get_int64())); break;
    case bj::kind::uint64: write_number(out, static_cast<double>(v.get_uint64())); break;
    case bj::kind::double_: write_number(out, v.get_double()); break;
    case bj::kind::string: write_string(out, v.get_string()); break;
    case bj::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write(out, item);
      }
      out += ']';
      break;
    }
    case bj::kind::object: {
      // RFC 8785 sorts by UTF-16 code units; for the keys a bundle may hold
      // (profile names and keys, ASCII) that is byte order.
      std::vector<const bj::key_value_pair*> members;
      for (const auto& kv : v.get_object()) members.push_back(&kv);
      std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
      out += '{';
      bool first = true;
      for (const auto* kv : members) {
        if (!first) out += ',';
        first = false;
        write_string(out, kv->key());
        out += ':';
        write(out, kv->value());
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string canonical(const bj::value& v) {
  std::string out;
  write(out, v);
  return out;
}

std::string digest(const bj::object& profiles) {
  auto text = canonical(profiles);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xf];
  }
  return hex;
}

bool is_valid_digest(std::string_view d) {
  return d.size() == 64 &&
         std::all_of(d.begin(), d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<Bundle> parse_bundle(std::string_view want, const bj::value& body) {
  if (!is_valid_digest(want))
    return fail(Code::invalid_request, "a bundle digest is 64 lowercase hex digits (SHA-256)");
  if (!body.is_object()) return fail(Code::invalid_request, "a bundle is an object {\"digest\", \"profiles\"}");
  const auto& o = body.get_object();
  for (const auto& kv : o)
    if (kv.key() != "digest" && kv.key() != "profiles")
      return fail(Code::invalid_request, fmt::format("'{}' is not a known key of a bundle", std::string_view(kv.key())));
  if (auto* d = o.if_contains("digest"); d && (!d->is_string() || d->get_string() != want))
    return fail(Code::bundle_digest_mismatch, "the body's 'digest' is not the digest it was sent for");
  auto* p = o.if_contains("profiles");
  if (!p || !p->is_object()) return fail(Code::invalid_request, "a bundle needs 'profiles', an object");
  if (p->get_object().empty()) return fail(Code::invalid_request, "a bundle needs at least one profile");
  Bundle b;
  b.digest = std::string(want);
  b.profiles = p->get_object();
  if (digest(b.profiles) != want)
    return fail(Code::bundle_digest_mismatch, "the bundle's profiles do not hash to its digest");
  for (const auto& kv : b.profiles) {
    auto parsed = from_json(std::string(kv.key()), kv.value());
    if (!parsed) return fail(parsed.error());
    b.parsed.emplace(std::string(kv.key()), std::move(*parsed));
  }
  return b;
}

bj::object to_json(const Bundle& b) {
  return bj::object{{"digest", b.digest}, {"profiles", b.profiles}};
}

}  // namespace yoi::profiles
