#include "yoi/net/params.hpp"

#include <fmt/format.h>

#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <limits>

#include "yoi/ids.hpp"
#include "yoi/json.hpp"
#include "yoi/json_sax.hpp"

namespace yoi::net {
namespace {

Result<std::uint64_t> bounded_uint(const Request& req, std::string_view name,
                                   std::uint64_t fallback, std::uint64_t max) {
  auto v = req.query_param(name);
  if (!v) return fallback;
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc() || p != v->data() + v->size())
    return fail(Code::invalid_request,
                fmt::format("query parameter '{}' must be a non-negative integer", name));
  if (out > max)
    return fail(Code::invalid_request,
                fmt::format("query parameter '{}' must be at most {}", name, max));
  return out;
}

// The common input body, {"content": "...", "client_message_id"?: "..."},
// read without a DOM (issue 22). It keeps the two strings and declines
// (returns false, so the parser stops) at anything else: another key, a
// repeated one, a value that is not a string, a nested value. A declined
// body is decoded the slow way, which makes the error (or, for what it
// tolerates, e.g. a null client_message_id, the value): the fast path
// accepts only bodies the slow path accepts with the same result.
struct InputReader : json::NullHandler {
  enum class Key { none, content, cmid };
  int depth = 0;
  Key key = Key::none;
  std::string key_text;  // a key's parts, when the parser splits or unescapes it
  std::string content;
  std::optional<std::string> cmid;
  bool has_content = false;

  bool on_object_begin(ec_t&) { return ++depth == 1; }
  bool on_object_end(std::size_t, ec_t&) { return --depth, true; }
  bool on_array_begin(ec_t&) { return false; }
  bool on_key_part(sv k, std::size_t, ec_t&) { return key_text.append(k.data(), k.size()), true; }
  bool on_key(sv k, std::size_t, ec_t&) {
    key_text.append(k.data(), k.size());
    if (key_text == "content" && !has_content) {
      key = Key::content;
      has_content = true;
    } else if (key_text == "client_message_id" && !cmid) {
      key = Key::cmid;
      cmid.emplace();
    } else {
      return false;
    }
    key_text.clear();
    return true;
  }
  // The string being read: a member's value, never a bare top-level string
  // (`"hi"`), which has no key (it declines: the slow path refuses it).
  std::string* target() {
    if (depth != 1) return nullptr;
    if (key == Key::content) return &content;
    if (key == Key::cmid) return &*cmid;
    return nullptr;
  }
  bool on_string_part(sv s, std::size_t, ec_t&) {
    auto* t = target();
    return t && (t->append(s.data(), s.size()), true);
  }
  bool on_string(sv s, std::size_t, ec_t&) {
    auto* t = target();
    if (!t) return false;
    t->append(s.data(), s.size());
    key = Key::none;  // the value is read; the next one needs its own key
    return true;
  }
  bool on_int64(std::int64_t, sv, ec_t&) { return false; }
  bool on_uint64(std::uint64_t, sv, ec_t&) { return false; }
  bool on_double(double, sv, ec_t&) { return false; }
  bool on_bool(bool, ec_t&) { return false; }
  bool on_null(ec_t&) { return false; }
};

// The input body read by InputReader, when it is the common form and valid
// (rt::wire::input_from_json's checks); nullopt for the slow path.
std::optional<rt::Input> plain_input(std::string_view text, std::size_t max_body, const rt::Limits& limits) {
  if (text.size() > max_body) return std::nullopt;
  boost::json::basic_parser<InputReader> p(boost::json::parse_options{});
  boost::system::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  if (ec || !p.done() || n != text.size()) return std::nullopt;
  auto& h = p.handler();
  if (!h.has_content || h.content.empty() || h.content.size() > limits.max_content_bytes) return std::nullopt;
  if (h.cmid && !is_valid_id(*h.cmid)) return std::nullopt;
  return rt::Input{std::move(h.content), std::move(h.cmid)};
}

}  // namespace

Result<std::uint64_t> query_uint(const Request& req, std::string_view name,
                                 std::uint64_t fallback) {
  return bounded_uint(req, name, fallback, std::numeric_limits<std::uint64_t>::max());
}

Result<std::size_t> query_size(const Request& req, std::string_view name, std::size_t fallback) {
  auto v = bounded_uint(req, name, fallback, std::numeric_limits<std::size_t>::max());
  if (!v) return fail(v.error());
  return static_cast<std::size_t>(*v);
}

Result<rt::ListWorkers> list_query(const Request& req, std::size_t default_limit) {
  rt::ListWorkers q;
  auto limit = query_size(req, "limit", default_limit);
  if (!limit) return fail(limit.error());
  q.limit = *limit;
  if (auto after = req.query_param("after")) {
    if (auto ok = validate_id(*after, "after"); !ok) return fail(ok.error());
    q.after = std::string(*after);
  }
  if (auto st = req.query_param("status")) {
    rt::WorkerStatus s;
    if (!rt::status_from_name(*st, s))
      return fail(Code::invalid_request, "status must be idle, running, awaiting_approval or stopped");
    q.status = s;
  }
  return q;
}

Result<rt::CreateWorker> create_body(const Request& req, std::size_t max_body,
                                     const rt::Limits& limits) {
  return json::parse_object(req.body, max_body, true)
      .and_then([&](const boost::json::object& body) {
        return rt::wire::create_from_json(body, limits);
      });
}

Result<rt::Input> input_body(const Request& req, std::size_t max_body, const rt::Limits& limits) {
  if (auto in = plain_input(req.body, max_body, limits)) return std::move(*in);
  return json::parse_object(req.body, max_body, false)
      .and_then(
          [&](const boost::json::object& body) { return rt::wire::input_from_json(body, limits); });
}

Result<std::optional<std::string>> reason_body(const Request& req, std::size_t max_body) {
  return json::parse_object(req.body, max_body, true).and_then(rt::wire::reason_from_json);
}

Result<rt::ApprovalDecision> approval_body(const Request& req, std::size_t max_body) {
  return json::parse_object(req.body, max_body, false).and_then(rt::wire::approval_decision_from_json);
}

Result<std::string> call_id_param(const Request& req) {
  std::string id(req.param("call_id"));
  if (id.empty() || id.size() > 256) return fail(Code::invalid_request, "call_id must be 1-256 bytes");
  return id;
}

Response error_response(const Error& e, const Reply& about) {
  auto body = json::error_body(e);
  auto& inner = body["error"].as_object();
  if (is_valid_id(about.runtime_id)) inner["runtime_id"] = about.runtime_id;
  if (is_valid_id(about.worker_id)) inner["worker_id"] = about.worker_id;
  auto r = Response::json(http_status(e.code), body);
  if (int s = retry_after_seconds(e.code)) r.headers.emplace_back("Retry-After", std::to_string(s));
  return r;
}

Response json_response(int status, const boost::json::object& body) {
  return Response::json(status, body);
}

std::function<void(Result<void>)> no_content_replier(Respond respond, Reply how) {
  return [respond = std::move(respond), how = std::move(how)](Result<void> result) {
    if (!result) return respond(error_response(result.error(), how));
    Response r;
    r.status = 204;
    r.content_type.clear();
    respond(std::move(r));
  };
}

Response json_response(int status, std::string serialised) {
  Response r;
  r.status = status;
  r.body = std::move(serialised);
  return r;
}

}  // namespace yoi::net
