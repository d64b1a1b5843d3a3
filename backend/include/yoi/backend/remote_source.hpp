#pragma once
// The remote source: an async client of one yoi-runtime (ARCHITECTURE §6)
// over HTTP/1.1 keep-alive (http_client.hpp). Capabilities and status come
// from GET /v1/runtime, cached with the time last seen; a background probe
// re-reads it every `probe_interval` and marks the runtime reachable or not.
//
// Failures (§7), REST or stream, are mapped in one place: map_failure in
// src/upstream_error.cpp (its table: backend/README.md). An operation the
// runtime does not list in its capabilities is `unsupported`, without
// calling it.
//
// Event streams (Source::event_stream): a WebSocket client of the runtime's
// /v1/workers/{id}/events/ws with the same endpoint, token and trust anchors.

#include <chrono>
#include <memory>
#include <string>

#include "yoi/backend/source.hpp"
#include "yoi/secret.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::backend {

struct RemoteConfig {
  std::string id;
  std::string display_name;
  Secret base_url;  // http://host:port[/prefix] or https://...
  Secret token;     // bearer token for the runtime (may be empty)
  std::chrono::milliseconds timeout{10'000};         // whole request
  std::chrono::milliseconds connect_timeout{3'000};  // DNS + connect
  std::chrono::milliseconds probe_interval{5'000};   // 0: no background probe
  std::size_t max_idle_connections = 8;
  std::size_t max_connections = 8;  // open to this runtime at once
  std::size_t max_queued = 256;     // requests waiting for one; more: runtime_busy
  std::string ca_file;  // extra trust anchors for https (tests, private CAs)
};

// config_invalid when the base URL does not parse (message names no URL).
Result<std::unique_ptr<Source>> make_remote_source(boost::asio::io_context& io,
                                                   RemoteConfig config);

}  // namespace yoi::backend
