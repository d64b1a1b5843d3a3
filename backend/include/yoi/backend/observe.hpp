#pragma once
// The observation proxy (ARCHITECTURE §5, §7): yoi-server's client-facing
// event stream `GET /api/runtimes/{rid}/workers/{wid}/events/ws?cursor=` for
// every worker of every source, embedded and remote alike. Design note:
// backend/OBSERVE.md.
//
// - Upstreams come from the registry's sources (Source::event_stream): every
//   runtime of the registry is observable; nothing is registered here.
// - Backend cursors only (cursor.hpp): a runtime cursor never reaches a client.
// - One upstream per watched worker (a `Feed`), shared by all its clients; a
//   bounded ring of recent events; each client pulls by position (the net
//   layer's writer pulls, so nothing queues per client). A client behind the
//   ring is caught up from the polling route (Source::events via the
//   registry); one whose gap to the head has not shrunk for `lag_timeout`
//   gets `subscriber_lagged` and is closed.
// - Upstream lost: clients stay connected and get `runtime_unavailable`
//   (wait), then `runtime_recovered`; reconnects use jittered exponential
//   backoff (yoi::Backoff, randomness injected) while anyone watches; the upstream
//   is dropped `grace` after the last client leaves.
//
// Threading: everything on the backend's io thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "yoi/backend/cursor.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/backoff.hpp"
#include "yoi/clock.hpp"

namespace boost::asio {
class io_context;
}
namespace yoi::net {
class Router;
struct Request;
}  // namespace yoi::net

namespace yoi::backend {

struct ObserveOptions {
  std::size_t ring_events = 1024;            // recent events kept per watched worker
  std::size_t ring_bytes = 4u << 20;         // ... and their bytes
  std::size_t catchup_page = 256;            // events per polling page for a client behind the ring
  std::chrono::milliseconds lag_timeout{10'000};  // behind the ring, not gaining this long: subscriber_lagged
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds grace{10'000};   // keep an unwatched upstream this long
  BackoffPolicy backoff;
  // Remote upstreams (StreamOptions, source.hpp): connect + handshake
  // deadline, silence after which the upstream counts as lost, largest frame.
  // A remote source caps both deadlines by its runtime's configured timeouts.
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds upstream_idle_timeout{30'000};
  std::size_t max_upstream_frame = 8u << 20;
  Clock* clock = &Clock::system();
  Random* random = &Random::system();
};

// Counters for tests and /metrics.
struct ObserveStats {
  std::size_t feeds = 0;             // watched workers (upstreams held)
  std::size_t clients = 0;           // open client streams
  std::uint64_t upstream_connects = 0;  // successful upstream (re)connections
  std::uint64_t catchup_pages = 0;
  std::uint64_t lagged = 0;
};

class ObservationHub {
 public:
  ObservationHub(boost::asio::io_context& io, RuntimeRegistry& registry, const CursorCodec& cursors,
                 ObserveOptions options = {});
  ~ObservationHub();
  ObservationHub(const ObservationHub&) = delete;
  ObservationHub& operator=(const ObservationHub&) = delete;

  // Registers the WS route (runtime_not_found for a runtime the registry
  // does not hold). `authorize` is the server's auth filter; it is
  // applied here (the route is registered with auth off) so a browser can
  // also authenticate with the `yoi-token.<token>` subprotocol.
  void add_routes(net::Router& router,
                  std::function<std::optional<Error>(const net::Request&)> authorize = {});

  ObserveStats stats() const;
  // Drops every upstream and closes every client (1001). Idempotent.
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace yoi::backend
