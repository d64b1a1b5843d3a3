#pragma once
// JSON helpers on Boost.JSON: bounded parsing and typed field access, so that
// every request decoder reports a precise invalid_request instead of
// throwing. Request decoders are hand-written on top of these (Boost.JSON
// 1.81's described-struct conversion mishandles absent optional keys).

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "yoi/error.hpp"

namespace yoi::json {

namespace bj = boost::json;

// Parses `text`, which must be at most `max_bytes` (payload_too_large) and a
// well-formed JSON document of bounded depth (invalid_request).
Result<bj::value> parse(std::string_view text, std::size_t max_bytes = 1 << 20);
// Parses and requires an object. An empty `text` is an empty object when
// `empty_ok` (bodies such as cancel's that may be omitted).
Result<bj::object> parse_object(std::string_view text, std::size_t max_bytes = 1 << 20,
                                bool empty_ok = false);

// True when `text` is one well-formed JSON object (the depth bound of
// parse()), checked without building it: for text passed on as it is.
bool is_object_text(std::string_view text);
// The size of the well-formed JSON object (parse()'s depth bound) that
// `text` begins with; 0 when it does not begin with one. For a document read
// in place, value by value.
std::size_t leading_object_size(std::string_view text);

std::string serialize(const bj::value& v);
std::string serialize(const bj::object& o);

// Fails with invalid_request naming the first key of `o` not in `allowed`.
Result<void> only_keys(const bj::object& o, std::initializer_list<std::string_view> allowed,
                       std::string_view what);

// Typed field access. `opt_*` accept an absent key or JSON null as nullopt;
// a present value of the wrong type is invalid_request naming the key.
Result<std::string> req_string(const bj::object& o, std::string_view key);
Result<std::optional<std::string>> opt_string(const bj::object& o, std::string_view key);
Result<std::optional<std::int64_t>> opt_int(const bj::object& o, std::string_view key);
Result<std::optional<bool>> opt_bool(const bj::object& o, std::string_view key);
Result<std::optional<bj::array>> opt_array(const bj::object& o, std::string_view key);
Result<std::optional<bj::object>> opt_object(const bj::object& o, std::string_view key);

// `{"error": {"code": ..., "message": ...}}`
bj::object error_body(const Error& e);

// Reads a string field that is known to be present (already validated); ""
// otherwise. For projections of trusted internal records.
std::string_view str_or_empty(const bj::object& o, std::string_view key);
// The same for an object or an array field: an empty one when absent or of
// another type.
const bj::object& obj_or_empty(const bj::object& o, std::string_view key);
const bj::array& arr_or_empty(const bj::object& o, std::string_view key);

}  // namespace yoi::json
