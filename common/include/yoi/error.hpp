#pragma once
// The one error model of yoi: a Code, an Error{code, message}, Result<T>.
// Every component returns these; exceptions never cross a component boundary.
// The code registry and the code -> HTTP status table live in error.cpp, and
// nowhere else.

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace yoi {

enum class Code {
  // request shape
  invalid_request,
  invalid_id,
  payload_too_large,
  not_found,           // unknown route
  method_not_allowed,  // known route, wrong method
  unauthorized,
  forbidden_host,          // a Host that is not this server's (DNS rebinding)
  forbidden_origin,        // a cross-site Origin / Sec-Fetch-Site
  unsupported_media_type,  // a body that is not application/json
  // catalog / state conflicts
  runtime_not_found,
  worker_not_found,
  worker_exists,
  worker_busy,
  worker_stopped,
  worker_not_stopped,  // delete of a worker that is not stopped (§17)
  bundle_missing,          // create names a config bundle the runtime lacks (§16)
  bundle_digest_mismatch,  // a bundle that does not hash to its digest (§16)
  approval_not_found,  // an approval for a call that is not pending (§15)
  approval_resolved,   // a different answer to a call already resolved (§15)
  limit_exceeded,  // a configured capacity limit (workers per runtime, ...)
  unsupported,
  // cursors and streams (diagnostic vocabulary, ARCHITECTURE §5)
  cursor_invalid,
  cursor_expired,
  cursor_unknown,
  runtime_unavailable,
  runtime_recovered,
  subscriber_lagged,
  observation_only,
  // remote runtime failures as seen by the backend (ARCHITECTURE §7)
  runtime_auth_failed,
  runtime_unreachable,
  runtime_error,
  runtime_bad_response,
  runtime_timeout,
  runtime_busy,  // too many requests queued for one runtime (503 + Retry-After)
  // model providers (engines)
  provider_unreachable,
  provider_auth_failed,
  provider_error,
  provider_timeout,
  provider_bad_response,
  // runs
  cancelled,
  interrupted,
  max_steps_exceeded,
  // process and storage
  config_invalid,
  store_corrupt,
  store_io,
  shutting_down,
  internal,
};

struct Error {
  Code code = Code::internal;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

template <class T>
using Result = tl::expected<T, Error>;

// Shorthand for returning a failure: `return fail(Code::invalid_id, "...")`.
inline tl::unexpected<Error> fail(Code code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Wire name of a code ("worker_busy"), stable and part of the API.
std::string_view code_name(Code code);
// Inverse of code_name; false when the name is not a known code.
bool code_from_name(std::string_view name, Code& out);
// The one table from code to HTTP status (ARCHITECTURE §7).
int http_status(Code code);
// Seconds a client should wait before trying again (the Retry-After header
// of the answer), from the same table; 0 when the code does not say.
int retry_after_seconds(Code code);

}  // namespace yoi
