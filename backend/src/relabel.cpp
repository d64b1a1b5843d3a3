#include "relabel.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include "yoi/json_sax.hpp"

namespace yoi::backend::detail {
namespace {

// Finds the top-level "runtime_id" string of one JSON object while the
// parser checks the grammar, keeping nothing else. `bad` when the field is
// absent, repeated, not a plain string, or split or unescaped by the parser
// (then its bytes are not a slice of the input, and the caller takes the
// slow path).
struct RuntimeIdFinder : json::NullHandler {
  int depth = 0;
  bool key_is_runtime_id = false;
  bool in_parts = false;
  int found = 0;
  bool bad = false;
  std::string_view value;

  bool on_object_begin(ec_t&) { return ++depth, true; }
  bool on_object_end(std::size_t, ec_t&) { return --depth, true; }
  bool on_array_begin(ec_t&) { return ++depth, true; }
  bool on_array_end(std::size_t, ec_t&) { return --depth, true; }
  bool on_key_part(sv, std::size_t, ec_t&) {
    in_parts = depth == 1;
    return true;
  }
  bool on_key(sv k, std::size_t, ec_t&) {
    if (depth == 1) {
      key_is_runtime_id = k == "runtime_id";
      if (key_is_runtime_id && in_parts) bad = true;  // an escaped or split key: decline
      in_parts = false;
    }
    return true;
  }
  bool take_scalar() {  // a non-string value for runtime_id
    if (depth == 1 && key_is_runtime_id) bad = true;
    key_is_runtime_id = false;
    return true;
  }
  bool on_string_part(sv, std::size_t, ec_t&) {
    if (depth == 1 && key_is_runtime_id) bad = true;
    return true;
  }
  bool on_string(sv s, std::size_t, ec_t&) {
    if (depth == 1 && key_is_runtime_id) {
      ++found;
      value = std::string_view(s.data(), s.size());
    }
    key_is_runtime_id = false;
    return true;
  }
  bool on_int64(std::int64_t, sv, ec_t&) { return take_scalar(); }
  bool on_uint64(std::uint64_t, sv, ec_t&) { return take_scalar(); }
  bool on_double(double, sv, ec_t&) { return take_scalar(); }
  bool on_bool(bool, ec_t&) { return take_scalar(); }
  bool on_null(ec_t&) { return take_scalar(); }
};

}  // namespace

std::optional<std::string> relabel_detail_text(std::string_view text, std::string_view runtime_id) {
  if (text.empty() || text.front() != '{') return std::nullopt;
  boost::json::parse_options opts;
  opts.max_depth = 32;  // json::parse's bound
  boost::json::basic_parser<RuntimeIdFinder> p(opts);
  boost::system::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  if (ec || !p.done() || n != text.size()) return std::nullopt;
  const auto& h = p.handler();
  if (h.bad || h.found != 1) return std::nullopt;
  // The value must be the input's own bytes, between its quotes.
  const char* b = text.data();
  const char* v = h.value.data();
  if (v <= b || v + h.value.size() >= b + text.size() || v[-1] != '"' || v[h.value.size()] != '"')
    return std::nullopt;
  if (h.value == runtime_id) return std::string(text);
  const auto at = static_cast<std::size_t>(v - b);
  std::string out;
  out.reserve(text.size() + runtime_id.size());
  out.append(text.substr(0, at));
  out.append(runtime_id);  // a valid id: nothing to escape
  out.append(text.substr(at + h.value.size()));
  return out;
}

}  // namespace yoi::backend::detail
