#pragma once
// The route idiom of both API servers, yoi-runtime (/v1) and yoi-server
// (/api), after pandaproxy's handlers: one named function per operation,
// `void op(Server&, const Request&, Respond)`, bound to its server's state
// with net::handler and declared in one short route table per server. What
// both servers read from a request (query integers, list queries, command
// bodies) and how they answer (net::reply) is decided here, once.
//
// Parsers fail with typed errors that name what was wrong: invalid_request
// (naming the query parameter or the body field), invalid_id,
// payload_too_large. Answers take their status from the one table of
// common/error.cpp. Threading: nothing here keeps state; handlers run on the
// server's io thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "yoi/net/http_server.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::net {

// ---- routes ----

// A handler `void f(Context&, const Request&, Respond)` bound to `context`
// (which must outlive the router), for Router::add.
template <class Context, class F>
Handler handler(Context& context, F f) {
  return
      [&context, f](const Request& req, Respond respond) { f(context, req, std::move(respond)); };
}

// ---- request parsers ----

// A non-negative integer query parameter; `fallback` when absent. Anything
// else (empty, signed, not a number, out of the type's range) is
// invalid_request naming the parameter.
Result<std::uint64_t> query_uint(const Request& req, std::string_view name,
                                 std::uint64_t fallback = 0);
// The same for a count (a page `limit`), bounded by what a size_t holds.
Result<std::size_t> query_size(const Request& req, std::string_view name, std::size_t fallback = 0);

// A worker list: ?after=<worker id>&limit=&status=idle|running|stopped;
// `default_limit` when there is no `limit`.
Result<rt::ListWorkers> list_query(const Request& req, std::size_t default_limit);

// Command bodies: a JSON object of at most `max_body` bytes, decoded by
// rt::wire. Create (the body may be empty) and input are checked against
// `limits`, those of the runtime that will run the command.
Result<rt::CreateWorker> create_body(const Request& req, std::size_t max_body,
                                     const rt::Limits& limits);
Result<rt::Input> input_body(const Request& req, std::size_t max_body, const rt::Limits& limits);
// cancel and stop: {"reason"?} or an empty body.
Result<std::optional<std::string>> reason_body(const Request& req, std::size_t max_body);
// An approval (ARCHITECTURE §15): {"decision": "approve"|"deny", "reason"?,
// "remember"?}.
Result<rt::ApprovalDecision> approval_body(const Request& req, std::size_t max_body);
// The call an approval route names ({call_id}): 1-256 bytes (a model's call
// ids are not ours to constrain further), else invalid_request.
Result<std::string> call_id_param(const Request& req);

// ---- answers ----

// How a route answers: the status of a success, and what an error is about.
// yoi-server names the runtime and the worker in its error bodies
// (ARCHITECTURE §7); yoi-runtime leaves both empty.
struct Reply {
  Reply(int status = 200, std::string runtime_id = {}, std::string worker_id = {})
      : status(status), runtime_id(std::move(runtime_id)), worker_id(std::move(worker_id)) {}
  int status;
  std::string runtime_id;  // named when a valid id
  std::string worker_id;   // named when a valid id
};

// {"error":{"code","message","runtime_id"?,"worker_id"?}} with
// http_status(e.code).
Response error_response(const Error& e, const Reply& about = {});

// A success body: an object, or JSON already serialised (pages spliced from
// stored event text).
Response json_response(int status, const boost::json::object& body);
Response json_response(int status, std::string serialised);

// How a success is encoded unless a route says otherwise: the wire's form.
struct WireJson {
  template <class T>
  boost::json::object operator()(const T& v) const {
    return rt::wire::to_json(v);
  }
};

// The one answer of an API route: an error by error_response, a success by
// `encode` under `how.status`.
template <class T, class Encode = WireJson>
void reply(const Respond& respond, const Result<T>& result, const Reply& how = {},
           const Encode& encode = {}) {
  if (!result) return respond(error_response(result.error(), how));
  respond(json_response(how.status, encode(*result)));
}

// reply() as the callback of an operation that answers later.
template <class T, class Encode = WireJson>
std::function<void(Result<T>)> replier(Respond respond, Reply how = {}, Encode encode = {}) {
  return [respond = std::move(respond), how = std::move(how),
          encode = std::move(encode)](Result<T> result) { reply(respond, result, how, encode); };
}

// The answer of an operation with nothing to say on success (delete): 204
// No Content, or error_response.
std::function<void(Result<void>)> no_content_replier(Respond respond, Reply how = {});

}  // namespace yoi::net
