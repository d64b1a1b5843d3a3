#pragma once
// The policy seam (ARCHITECTURE §2): one interface consulted by the registry
// for every browser operation and every event it hands out (REST pages and
// stream frames alike). Pass-through by default; a deployment plugs in its
// own (authorisation, redaction) without touching routes or sources.
//
// Threading: called on the backend's io thread; must not block.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "yoi/error.hpp"

namespace yoi::backend {

enum class ApiOp {
  list_runtimes,
  runtime_info,
  list_all_workers,
  list_workers,
  create,
  detail,
  input,
  cancel,
  stop,
  remove,  // deleting a worker
  approve,  // answering a call awaiting approval
  transcript,
  events,  // polling page
  stream,  // opening an event stream
};
std::string_view api_op_name(ApiOp op);

struct PolicyRequest {
  ApiOp op;
  std::string_view runtime_id;  // empty for cross-runtime operations
  std::string_view worker_id;   // empty unless the operation names a worker
  std::string_view principal;   // who is asking ("browser" until real auth exists)
};

class Policy {
 public:
  virtual ~Policy() = default;
  // Ok to proceed, or the error to answer (typically `unauthorized`). The
  // message reaches the client: keep it free of secrets.
  virtual Result<void> check(const PolicyRequest& request) const = 0;
  // Called for every event before it leaves the backend: return the event
  // JSON (unchanged or redacted) or nullopt to withhold it. Withheld events
  // still advance the client's cursor.
  virtual std::optional<std::string> filter_event(std::string_view runtime_id,
                                                  std::string_view worker_id,
                                                  std::string event_json) const = 0;
};

// Allows everything, changes nothing.
std::shared_ptr<const Policy> pass_through_policy();

}  // namespace yoi::backend
