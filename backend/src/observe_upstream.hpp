#pragma once
// Upstreams of the observation proxy (private to observe*.cpp): where one
// watched worker's events come from. Embedded: Runtime::subscribe +
// read_after/snapshot. Remote: a WebSocket client of yoi-runtime's
// /v1/workers/{id}/events/ws (Beast, in observe_upstream.cpp).
//
// Protocol of one connection: connect(after, handlers), then on the io
// thread, never inline: `connected` once the stream is open, then any number
// of `snapshot` / `event` / `diagnostic`, and finally `lost` exactly once
// (unless disconnect() came first: after disconnect() no handler runs).

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "yoi/backend/observe.hpp"
#include "yoi/backend/source.hpp"

namespace yoi::backend::detail {

// A runtime snapshot frame, runtime cursor removed: `frame` still names the
// runtime's own id (rewritten per hub), `epoch`/`seq` are its position.
struct UpSnapshot {
  std::string epoch;
  std::uint64_t seq = 0;
  boost::json::object frame;
};

struct UpHandlers {
  std::function<void()> connected;
  std::function<void(UpSnapshot)> snapshot;
  std::function<void(std::string epoch, SourceEvent)> event;
  // Everything the upstream had at hand has been delivered: it is about to
  // wait (for the network, or the runtime's next append). Events delivered
  // since the last idle() reach clients then, as one batch each.
  std::function<void()> idle;
  std::function<void(Error, std::string action)> diagnostic;
  std::function<void(Error)> lost;
};

class Upstream {
 public:
  virtual ~Upstream() = default;
  // Streams events strictly after `after`; without one the stream starts with
  // a snapshot. A position the runtime cannot honour yields a diagnostic
  // (cursor_expired / cursor_unknown, action resync) and then a snapshot.
  virtual void connect(std::optional<Position> after, UpHandlers handlers) = 0;
  virtual void disconnect() = 0;
  // A fresh snapshot, independent of the stream (one-shot).
  virtual void snapshot(std::function<void(Result<UpSnapshot>)> done) = 0;
};

std::unique_ptr<Upstream> make_embedded_upstream(boost::asio::io_context& io, rt::Runtime& runtime,
                                                 std::string worker_id);
std::unique_ptr<Upstream> make_remote_upstream(boost::asio::io_context& io, const RemoteConfig& config,
                                               std::string worker_id, const ObserveOptions& options);

}  // namespace yoi::backend::detail
