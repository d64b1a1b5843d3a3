#pragma once
// THE upstream failure mapping of ARCHITECTURE §7 (private to backend/src):
// every way talking to a runtime can go wrong, a REST call of the remote
// source or the observation proxy's event stream, becomes one typed Error in
// map_failure and nowhere else. The table is in backend/README.md
// ("Failure mapping"); test/upstream_error_test.cpp holds one test per row.
//
// Messages are written here, never copied from transport errors: no URL,
// token, path or transport text. A runtime's own message passes only for
// request-shaped codes of a REST reply (bounded), and in the runtime's stream
// diagnostics, which pass as sent.

#include <string_view>
#include <variant>

#include "yoi/backend/http_client.hpp"
#include "yoi/error.hpp"

namespace yoi::backend::upstream {

// No HTTP answer at all (refused, reset, DNS, TLS, deadline, ...), from a
// REST call or while dialling the event stream.
struct NoReply {
  http::Failure kind = http::Failure::unreachable;
};
// A non-2xx HTTP answer: to a REST call, or to the event stream's WebSocket
// handshake. `body` is read for the runtime's typed error only.
struct Reply {
  int status = 0;
  std::string_view body;
};
// A 2xx reply or a stream frame that does not decode. `what` names it in the
// message: "the runtime's <what> could not be decoded".
struct Undecodable {
  std::string_view what;
};
// An open event stream ended: closed, reset, or silent past its idle timeout.
struct StreamLost {};
// A diagnostic frame of the runtime's own event stream: its `code` name and
// message as sent.
struct StreamDiagnostic {
  std::string_view code;
  std::string_view message;
};

using Failure = std::variant<NoReply, Reply, Undecodable, StreamLost, StreamDiagnostic>;

Error map_failure(const Failure& failure);

// The codes that say the runtime itself failed or could not be asked (as
// opposed to an answer about the worker or the request): an event stream
// waits for the runtime on these (runtime_unavailable, action wait) instead
// of ending.
bool runtime_down(Code code);

}  // namespace yoi::backend::upstream
