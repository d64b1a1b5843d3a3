#pragma once
// Private to the CLI: typed calls on the browser API and the CLI's error type.
#include <initializer_list>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>
#include <tl/expected.hpp>

#include "yoi/cli/cli.hpp"
#include "yoi/cli/transport.hpp"

namespace yoi::cli {

// What a command failed with: printed `code: message`, exits `exit_code`.
struct CliError {
  int exit_code = kExitServerError;
  std::string code;
  std::string message;
};
template <class T>
using CliResult = tl::expected<T, CliError>;

inline tl::unexpected<CliError> cli_fail(int exit_code, std::string code, std::string message) {
  return tl::unexpected(CliError{exit_code, std::move(code), std::move(message)});
}

// Exit 3, with the server's address in the message (the user's own URL).
CliError transport_error(const TransportFailure& f, const Endpoint& ep);
// Exit 1 from a typed error body; a body that is not one still says what the
// status was (e.g. a proxy's 502 page).
CliError reply_error(int status, std::string_view body);

// Percent-encodes a query value (cursors are opaque and may hold anything).
std::string query_escape(std::string_view v);

class Api {
 public:
  explicit Api(HttpClient& http) : http_(http) {}
  // JSON body of a 2xx reply, or the typed error.
  CliResult<boost::json::value> call(std::string_view method, std::string_view target,
                                     std::string_view body = {});
  CliResult<boost::json::value> get(std::string_view target) { return call("GET", target); }
  // POST …/input with a fresh client_message_id. Text that is not UTF-8 is
  // a usage error before anything is sent (the server could only say its
  // JSON body is invalid).
  CliResult<boost::json::value> send_input(const WorkerRef& w, const std::string& text);
  HttpClient& http() { return http_; }

 private:
  HttpClient& http_;
};

// /api/runtimes/{rid}/workers/{wid}
std::string worker_path(const WorkerRef& w);

// Answers a pending tool call (ARCHITECTURE §15):
// POST …/approvals/{call_id} {"decision": "approve"|"deny", "reason"?, "remember"?}.
// The one client call every way of answering goes through (yoi approve,
// chat's inline prompt). The call id is percent-encoded as one path segment.
struct ApprovalRequest {
  bool approve = true;
  std::string reason;  // "" = none (told to the model with a denial)
  bool remember = false;
};
CliResult<boost::json::value> post_approval(Api& api, const WorkerRef& w, std::string_view call_id,
                                            const ApprovalRequest& a);

}  // namespace yoi::cli
