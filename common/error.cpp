#include "yoi/error.hpp"

#include <array>
#include <utility>

namespace yoi {
namespace {

struct Row {
  Code code;
  std::string_view name;
  int status;
  int retry_after = 0;  // seconds; 0: no Retry-After
};

// The registry: wire name and HTTP status of every code, in one place.
constexpr std::array kRows{
    Row{Code::invalid_request, "invalid_request", 400},
    Row{Code::invalid_id, "invalid_id", 400},
    Row{Code::payload_too_large, "payload_too_large", 413},
    Row{Code::not_found, "not_found", 404},
    Row{Code::method_not_allowed, "method_not_allowed", 405},
    Row{Code::unauthorized, "unauthorized", 401},
    Row{Code::forbidden_host, "forbidden_host", 403},
    Row{Code::forbidden_origin, "forbidden_origin", 403},
    Row{Code::unsupported_media_type, "unsupported_media_type", 415},
    Row{Code::runtime_not_found, "runtime_not_found", 404},
    Row{Code::worker_not_found, "worker_not_found", 404},
    Row{Code::worker_exists, "worker_exists", 409},
    Row{Code::worker_busy, "worker_busy", 409},
    Row{Code::worker_stopped, "worker_stopped", 409},
    Row{Code::worker_not_stopped, "worker_not_stopped", 409},
    Row{Code::bundle_missing, "bundle_missing", 409},
    Row{Code::bundle_digest_mismatch, "bundle_digest_mismatch", 400},
    Row{Code::approval_not_found, "approval_not_found", 404},
    Row{Code::approval_resolved, "approval_resolved", 409},
    Row{Code::limit_exceeded, "limit_exceeded", 429},
    Row{Code::unsupported, "unsupported", 501},
    Row{Code::cursor_invalid, "cursor_invalid", 400},
    Row{Code::cursor_expired, "cursor_expired", 410},
    Row{Code::cursor_unknown, "cursor_unknown", 410},
    Row{Code::runtime_unavailable, "runtime_unavailable", 503},
    Row{Code::runtime_recovered, "runtime_recovered", 200},
    Row{Code::subscriber_lagged, "subscriber_lagged", 429},
    Row{Code::observation_only, "observation_only", 400},
    Row{Code::runtime_auth_failed, "runtime_auth_failed", 401},
    Row{Code::runtime_unreachable, "runtime_unreachable", 502},
    Row{Code::runtime_error, "runtime_error", 502},
    Row{Code::runtime_bad_response, "runtime_bad_response", 502},
    Row{Code::runtime_timeout, "runtime_timeout", 504},
    Row{Code::runtime_busy, "runtime_busy", 503, 1},
    Row{Code::provider_unreachable, "provider_unreachable", 502},
    Row{Code::provider_auth_failed, "provider_auth_failed", 502},
    Row{Code::provider_error, "provider_error", 502},
    Row{Code::provider_timeout, "provider_timeout", 504},
    Row{Code::provider_bad_response, "provider_bad_response", 502},
    Row{Code::cancelled, "cancelled", 409},
    Row{Code::interrupted, "interrupted", 500},
    Row{Code::max_steps_exceeded, "max_steps_exceeded", 500},
    Row{Code::config_invalid, "config_invalid", 500},
    Row{Code::store_corrupt, "store_corrupt", 500},
    Row{Code::store_io, "store_io", 500},
    Row{Code::shutting_down, "shutting_down", 503},
    Row{Code::internal, "internal", 500},
};

constexpr const Row& row(Code code) {
  for (const auto& r : kRows)
    if (r.code == code) return r;
  return kRows.back();
}

}  // namespace

std::string_view code_name(Code code) { return row(code).name; }

bool code_from_name(std::string_view name, Code& out) {
  for (const auto& r : kRows)
    if (r.name == name) {
      out = r.code;
      return true;
    }
  return false;
}

int http_status(Code code) { return row(code).status; }

int retry_after_seconds(Code code) { return row(code).retry_after; }

}  // namespace yoi
