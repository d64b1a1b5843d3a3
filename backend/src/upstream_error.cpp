#include "upstream_error.hpp"

#include <string>

#include <fmt/format.h>

#include "yoi/json.hpp"

namespace yoi::backend::upstream {
namespace {

constexpr std::size_t kMaxPassThroughMessage = 300;

// Codes whose remote message is safe and useful to pass on as is: they
// describe the request, not the runtime's environment.
bool passes_through(Code c) {
  switch (c) {
    case Code::invalid_request:
    case Code::invalid_id:
    case Code::payload_too_large:
    case Code::worker_exists:
    case Code::worker_busy:
    case Code::worker_stopped:
    case Code::worker_not_stopped:
    case Code::bundle_missing:
    case Code::bundle_digest_mismatch:
    case Code::approval_not_found:
    case Code::approval_resolved:
    case Code::limit_exceeded:
    case Code::cursor_invalid:
    case Code::cursor_expired:
    case Code::cursor_unknown:
      return true;
    default:
      return false;
  }
}

Error no_reply(http::Failure kind) {
  switch (kind) {
    case http::Failure::unreachable:
      return {Code::runtime_unreachable, "the runtime could not be reached"};
    case http::Failure::tls:
      return {Code::runtime_unreachable, "a secure connection to the runtime could not be established"};
    case http::Failure::timeout:
      return {Code::runtime_timeout, "the runtime did not answer in time"};
    case http::Failure::too_large:
      return {Code::runtime_bad_response, "the runtime's reply was too large"};
    case http::Failure::protocol:
      return {Code::runtime_bad_response, "the runtime's reply was not valid HTTP"};
    case http::Failure::cancelled:
      return {Code::shutting_down, "the backend is shutting down"};
    case http::Failure::busy:
      return {Code::runtime_busy, "too many requests are waiting for the runtime; try again shortly"};
  }
  return {Code::runtime_unreachable, "the runtime could not be reached"};
}

Error reply(int status, std::string_view body) {
  if (status == 401 || status == 403)
    return {Code::runtime_auth_failed, "the runtime rejected the backend's credential"};
  if (status >= 500) return {Code::runtime_error, fmt::format("the runtime failed the request (HTTP {})", status)};

  // A 4xx: expect the runtime's typed error body.
  Code code = Code::runtime_bad_response;
  std::string message;
  bool typed = false;
  if (auto v = json::parse(body, 64 * 1024); v && v->is_object()) {
    if (auto* e = v->as_object().if_contains("error"); e && e->is_object()) {
      typed = code_from_name(json::str_or_empty(e->as_object(), "code"), code);
      message = std::string(json::str_or_empty(e->as_object(), "message"));
    }
  }
  if (!typed) {
    if (status == 404) return {Code::runtime_bad_response, "the runtime does not offer this operation"};
    return {Code::runtime_bad_response, fmt::format("the runtime answered HTTP {} without a typed error", status)};
  }
  if (code == Code::worker_not_found) return {Code::worker_not_found, "worker not found"};
  if (code == Code::unsupported) return {Code::unsupported, "the runtime does not support this operation"};
  if (code == Code::unauthorized) return {Code::runtime_auth_failed, "the runtime rejected the backend's credential"};
  if (passes_through(code)) {
    if (message.size() > kMaxPassThroughMessage) message.resize(kMaxPassThroughMessage);
    return {code, message.empty() ? std::string(code_name(code)) : message};
  }
  // Anything else a runtime says (its own not_found, runtime_* codes, ...) is
  // not something the browser can act on as such.
  if (status == 404) return {Code::runtime_bad_response, "the runtime does not offer this operation"};
  return {Code::runtime_bad_response, fmt::format("the runtime answered with an unexpected error ({})", code_name(code))};
}

}  // namespace

Error map_failure(const Failure& failure) {
  if (auto* f = std::get_if<NoReply>(&failure)) return no_reply(f->kind);
  if (auto* f = std::get_if<Reply>(&failure)) return reply(f->status, f->body);
  if (auto* f = std::get_if<Undecodable>(&failure))
    return {Code::runtime_bad_response, fmt::format("the runtime's {} could not be decoded", f->what)};
  if (std::holds_alternative<StreamLost>(failure))
    return {Code::runtime_unavailable, "the runtime's event stream was lost"};
  // The runtime's own stream diagnostic: its code (an unknown one is
  // runtime_error). Its message passes on, bounded, under the same rule as a
  // REST error's: only for codes about the request (worker_not_found,
  // worker_stopped, cursor_*); any other could name the runtime's
  // environment (a store path, say), so it gets the backend's own words.
  const auto& d = std::get<StreamDiagnostic>(failure);
  Code code = Code::runtime_error;
  if (!code_from_name(d.code, code)) return {Code::runtime_error, "the runtime's event stream reported an error"};
  if (code == Code::worker_not_found || passes_through(code)) {
    std::string message = d.message.empty() ? std::string(code_name(code)) : std::string(d.message);
    if (message.size() > kMaxPassThroughMessage) message.resize(kMaxPassThroughMessage);
    return {code, std::move(message)};
  }
  return {code, fmt::format("the runtime's event stream reported {}", code_name(code))};
}

bool runtime_down(Code code) {
  switch (code) {
    case Code::runtime_unreachable:
    case Code::runtime_timeout:
    case Code::runtime_error:
    case Code::runtime_bad_response:
    case Code::runtime_unavailable:
    case Code::runtime_auth_failed:
      return true;
    default:
      return false;
  }
}

}  // namespace yoi::backend::upstream
