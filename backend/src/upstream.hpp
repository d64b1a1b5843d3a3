#pragma once
// The two EventStream implementations (source.hpp), private to backend/src:
// each source hands out its own (Source::event_stream).
//   embedded_upstream.cpp: Runtime::subscribe wakes a drain of read_after;
//     snapshots from Runtime::snapshot.
//   remote_upstream.cpp: a WebSocket client of yoi-runtime's
//     /v1/workers/{id}/events/ws, over TLS for https runtimes: Beast makes the
//     upgrade, ws_reader.hpp parses the frames.

#include <memory>
#include <string>

#include "yoi/backend/http_client.hpp"
#include "yoi/backend/source.hpp"
#include "yoi/secret.hpp"

namespace boost::asio {
class io_context;
}
namespace yoi::rt {
class Runtime;
}

namespace yoi::backend::detail {

std::unique_ptr<EventStream> make_embedded_upstream(boost::asio::io_context& io, rt::Runtime& runtime,
                                                    std::string worker_id);

// What a remote upstream dials: the runtime's endpoint, its bearer token and
// extra trust anchors for https (`ca_file`).
struct RemoteEndpoint {
  http::Endpoint endpoint;
  Secret token;
  std::string ca_file;
};

// `options` arrive capped by the remote source (its runtime's timeouts).
std::unique_ptr<EventStream> make_remote_upstream(boost::asio::io_context& io, RemoteEndpoint remote,
                                                  std::string worker_id, const StreamOptions& options);

}  // namespace yoi::backend::detail
