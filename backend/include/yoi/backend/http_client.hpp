#pragma once
// A small async HTTP/1.1 client on Boost.Beast for talking to yoi-runtime
// processes (remote source, benchmarks). Asio/Beast stay in the .cpp.
//
// - keep-alive: at most `max_connections` connections per client (one
//   runtime); up to `max_idle` of them wait in the pool between requests.
//   More requests than connections wait in a queue of at most `max_queued`
//   (in order, each under its own deadline); past it a request fails at once
//   with `busy` (runtime_busy, 503 + Retry-After).
// - self-healing (issue 22): a pooled connection the server has closed
//   (its FIN or RST already here) is never used: each one is checked with a
//   non-blocking peek when taken from the pool. A reused connection that
//   fails before any byte of the reply (the server closed it while the
//   request was on its way) is retried once on a fresh connection, but only
//   for a request that is safe to send twice: a GET, or one the caller marks
//   `repeatable` (an input with a client_message_id, a create with a
//   worker_id: the runtime dedupes them). Nothing else is ever sent twice: not
//   after a byte of the reply, not a failure on a fresh connection, not a
//   cancel, stop or delete.
// - one deadline per request (`timeout`, covering DNS, connect, TLS, write
//   and read); DNS + connect additionally bounded by `connect_timeout`. One
//   timer per connection enforces it, re-armed only when it would fire late
//   (a warm pooled connection sets no timer per request); past the deadline
//   it closes the socket (or cancels the DNS lookup) and the request fails
//   with `timeout`.
// - https: TLS 1.2+, peer certificate verified against the system trust
//   store (plus `ca_file`), host name checked, SNI sent.
//
// Threading: create and use on one io_context's thread; completions run on
// it, never inline. The base URL is a Secret: it never reaches a log line or
// an error.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::backend::http {

struct Request {
  std::string method = "GET";
  std::string target;  // path + query, appended to the base URL's path
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  const Secret* bearer = nullptr;  // Authorization: Bearer <token>, if set and non-empty
  // Safe to send twice (the server dedupes it); GET always is.
  bool repeatable = false;
};

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
  // Sent twice: the first attempt's reused connection failed before any
  // byte of a reply, so whether the server acted on it is unknown.
  bool retried = false;
};

// Transport outcomes that are not an HTTP response. `step` names where it
// happened ("resolve", "connect", "tls", "write", "read"); there is no raw
// error text on purpose.
// `busy`: the client's queue of waiting requests was full (nothing sent).
enum class Failure { unreachable, timeout, tls, too_large, protocol, cancelled, busy };
std::string_view failure_name(Failure f);

struct TransportError {
  Failure kind = Failure::unreachable;
  std::string step;
};

using Outcome = tl::expected<Response, TransportError>;

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/'
};
// Parses http[s]://host[:port][/path]; config_invalid (naming no URL) otherwise.
Result<Endpoint> parse_base_url(const Secret& url);

struct ClientOptions {
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{3'000};
  std::size_t max_idle = 8;
  std::size_t max_connections = 8;  // open at once (busy + idle)
  std::size_t max_queued = 256;     // requests waiting for a connection
  std::size_t max_response_bytes = 8u << 20;
  std::string ca_file;
};

class Client {
 public:
  static Result<std::shared_ptr<Client>> make(boost::asio::io_context& io, const Secret& base_url,
                                              ClientOptions options);
  virtual ~Client() = default;

  virtual void request(Request request, std::function<void(Outcome)> done) = 0;
  // Drops idle connections and fails new requests with `cancelled`;
  // requests in flight finish with whatever outcome they reach.
  virtual void close() = 0;

  // Observability for tests and metrics.
  virtual std::size_t idle_connections() const = 0;
  virtual std::size_t connections_opened() const = 0;
  // Requests waiting for a connection now.
  virtual std::size_t queued() const = 0;
};

}  // namespace yoi::backend::http
