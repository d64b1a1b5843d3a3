#pragma once
// An input's acceptance as a runtime sent it, passed on without a DOM
// (issue 22): the reply of `POST /v1/workers/{id}/input` names no runtime,
// so nothing in it is the backend's to rewrite.

#include <string_view>

namespace yoi::backend::detail {

// True when `text` is exactly what decoding it (rt::wire::accepted_from_json)
// and encoding it again (rt::wire::to_json) would say, in any key order:
// one JSON object with "accepted": true, "run_id" a non-empty string, "seq"
// a non-negative integer, "duplicate" a boolean and, optionally,
// "client_message_id" a non-empty string; each once, no other key, nothing
// nested. Then the text may be passed on as it is. Anything else: false, and
// the caller decodes it the slow way, which decides what is an error and
// drops what the contract does not name.
bool is_plain_accepted(std::string_view text);

}  // namespace yoi::backend::detail
