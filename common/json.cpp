#include "yoi/json.hpp"

#include "yoi/json_sax.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace yoi::json {
namespace {

std::string_view kind_name(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null: return "null";
    case bj::kind::bool_: return "a boolean";
    case bj::kind::int64:
    case bj::kind::uint64:
    case bj::kind::double_: return "a number";
    case bj::kind::string: return "a string";
    case bj::kind::array: return "an array";
    case bj::kind::object: return "an object";
  }
  return "a value";
}

Error wrong_type(std::string_view key, std::string_view want, const bj::value& got) {
  return Error{Code::invalid_request,
               fmt::format("field '{}' must be {}, not {}", key, want, kind_name(got))};
}

// nullptr when absent or null.
const bj::value* find(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

}  // namespace

Result<bj::value> parse(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes)
    return fail(Code::payload_too_large,
                fmt::format("body of {} bytes exceeds the limit of {} bytes", text.size(), max_bytes));
  bj::parse_options opts;
  opts.max_depth = 32;
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec, {}, opts);
  if (ec) return fail(Code::invalid_request, "body is not valid JSON: " + ec.message());
  return v;
}

Result<bj::object> parse_object(std::string_view text, std::size_t max_bytes, bool empty_ok) {
  if (empty_ok && text.find_first_not_of(" \t\r\n") == std::string_view::npos) return bj::object{};
  auto v = parse(text, max_bytes);
  if (!v) return fail(v.error());
  if (!v->is_object()) return fail(Code::invalid_request, "body must be a JSON object");
  return std::move(v->as_object());
}

bool is_object_text(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || text[start] != '{') return false;
  bj::parse_options opts;
  opts.max_depth = 32;
  bj::basic_parser<NullHandler> p(opts);
  boost::system::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  return !ec && p.done() && n == text.size();
}

std::size_t leading_object_size(std::string_view text) {
  if (text.empty() || text.front() != '{') return 0;
  bj::parse_options opts;
  opts.max_depth = 32;
  bj::basic_parser<NullHandler> p(opts);
  boost::system::error_code ec;
  // With more to come, the parser stops after the first complete value (and
  // the whitespace after it, which is not the object's).
  auto n = p.write_some(true, text.data(), text.size(), ec);
  if (ec || !p.done()) return 0;
  while (n > 0 && text[n - 1] != '}') --n;
  return n;
}

std::string serialize(const bj::value& v) { return bj::serialize(v); }
std::string serialize(const bj::object& o) { return bj::serialize(o); }

Result<void> only_keys(const bj::object& o, std::initializer_list<std::string_view> allowed,
                       std::string_view what) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto a : allowed) ok = ok || kv.key() == a;
    if (!ok)
      return fail(Code::invalid_request,
                  fmt::format("unknown field '{}' in {}", std::string_view(kv.key()), what));
  }
  return {};
}

Result<std::string> req_string(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return fail(Code::invalid_request, fmt::format("field '{}' is required", key));
  if (!v->is_string()) return fail(wrong_type(key, "a string", *v));
  return std::string(v->get_string());
}

Result<std::optional<std::string>> opt_string(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return fail(wrong_type(key, "a string", *v));
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::optional<std::int64_t>> opt_int(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return std::optional<std::int64_t>{};
  if (v->is_int64()) return std::optional<std::int64_t>(v->get_int64());
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX)
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->get_uint64()));
  return fail(wrong_type(key, "an integer", *v));
}

Result<std::optional<bool>> opt_bool(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return std::optional<bool>{};
  if (!v->is_bool()) return fail(wrong_type(key, "a boolean", *v));
  return std::optional<bool>(v->get_bool());
}

Result<std::optional<bj::array>> opt_array(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return std::optional<bj::array>{};
  if (!v->is_array()) return fail(wrong_type(key, "an array", *v));
  return std::optional<bj::array>(v->get_array());
}

Result<std::optional<bj::object>> opt_object(const bj::object& o, std::string_view key) {
  const bj::value* v = find(o, key);
  if (!v) return std::optional<bj::object>{};
  if (!v->is_object()) return fail(wrong_type(key, "an object", *v));
  return std::optional<bj::object>(v->get_object());
}

bj::object error_body(const Error& e) {
  bj::object inner;
  inner["code"] = code_name(e.code);
  inner["message"] = e.message;
  bj::object outer;
  outer["error"] = std::move(inner);
  return outer;
}

std::string_view str_or_empty(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

const bj::object& obj_or_empty(const bj::object& o, std::string_view key) {
  static const bj::object empty;
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : empty;
}

const bj::array& arr_or_empty(const bj::object& o, std::string_view key) {
  static const bj::array empty;
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? v->get_array() : empty;
}

}  // namespace yoi::json
