#include "accepted_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <utility>

#include "yoi/json_sax.hpp"

namespace yoi::backend::detail {
namespace {

// Checks is_plain_accepted's shape while the parser checks the grammar,
// keeping nothing. Returning false stops the parser: the text is declined.
struct AcceptedChecker : json::NullHandler {
  enum Field : unsigned { accepted = 1, run_id = 2, seq = 4, cmid = 8, duplicate = 16 };
  unsigned seen = 0;
  Field field = accepted;
  bool started = false;

  // Arrays are declined, so any object after the first is nested.
  bool on_object_begin(ec_t&) { return !std::exchange(started, true); }
  bool on_array_begin(ec_t&) { return false; }
  // A key the parser splits or unescapes is declined: the five names are
  // plain ASCII, so a runtime's encoder never escapes them.
  bool on_key_part(sv, std::size_t, ec_t&) { return false; }
  bool on_key(sv k, std::size_t, ec_t&) {
    std::string_view name(k.data(), k.size());
    if (name == "accepted") field = accepted;
    else if (name == "run_id") field = run_id;
    else if (name == "seq") field = seq;
    else if (name == "client_message_id") field = cmid;
    else if (name == "duplicate") field = duplicate;
    else return false;
    if (seen & field) return false;  // repeated
    seen |= field;
    return true;
  }
  // Strings: only run_id and client_message_id, not empty (`n` is the
  // whole string's size: a split or escaped one is fine, its bytes pass on).
  bool on_string_part(sv, std::size_t, ec_t&) { return field == run_id || field == cmid; }
  bool on_string(sv, std::size_t n, ec_t&) { return (field == run_id || field == cmid) && n > 0; }
  bool on_int64(std::int64_t v, sv, ec_t&) { return field == seq && v >= 0; }
  bool on_uint64(std::uint64_t, sv, ec_t&) { return field == seq; }
  bool on_double(double, sv, ec_t&) { return false; }
  bool on_bool(bool b, ec_t&) { return (field == accepted && b) || field == duplicate; }
  bool on_null(ec_t&) { return false; }
};

}  // namespace

bool is_plain_accepted(std::string_view text) {
  if (text.empty() || text.front() != '{') return false;
  boost::json::basic_parser<AcceptedChecker> p(boost::json::parse_options{});
  boost::system::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  if (ec || !p.done() || n != text.size()) return false;
  constexpr unsigned required = AcceptedChecker::accepted | AcceptedChecker::run_id | AcceptedChecker::seq |
                                AcceptedChecker::duplicate;
  return (p.handler().seen & required) == required;
}

}  // namespace yoi::backend::detail
