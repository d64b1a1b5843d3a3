// Fuzz target: request JSON decoding — the bodies of the runtime REST routes
// (POST /v1/workers create, .../input, .../cancel and .../stop), exactly as
// yoi-runtime (server/runtime_server.cpp) and yoi-server (backend/src/api.cpp)
// decode them: json::parse_object with the body limit, then the wire
// decoders. Also the backend's decoders of a runtime's replies (the remote
// source reads bodies from another process), and its in-place read of an
// events page (rt::wire::scan_event_page), checked against the general
// parser.
//
// Input: byte 0 picks the decoder, the rest is the body.
// Checks: no crash / sanitizer report; errors are typed with the documented
// codes; a decoded create or input re-encodes (to_json, what the remote
// source sends) into a body that decodes to the same thing.

#include <boost/json/value.hpp>

#include "fuzz_check.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace {

using namespace yoi;
namespace wire = yoi::rt::wire;

bool request_code(Code c) {
  return c == Code::invalid_request || c == Code::invalid_id || c == Code::payload_too_large;
}

template <class T>
void response(const Result<T>& r) {
  if (!r) FUZZ_CHECK(r.error().code == Code::runtime_bad_response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned which = data[0] % 11;
  auto text = yoi::fuzz::as_text(data + 1, size - 1);
  constexpr std::size_t kMaxBody = 64 * 1024;  // small, so the limit path is reachable
  rt::Limits limits;
  limits.max_content_bytes = 4096;
  limits.max_display_name = 64;

  if (which <= 3) {
    // input requires a body; create, cancel and stop accept an empty one.
    auto body = json::parse_object(text, kMaxBody, which != 1);
    if (!body) {
      FUZZ_CHECK(request_code(body.error().code));
      return 0;
    }
    switch (which) {
      case 0: {
        auto c = wire::create_from_json(*body, limits);
        if (!c) {
          FUZZ_CHECK(request_code(c.error().code));
          break;
        }
        auto again = wire::create_from_json(wire::to_json(*c), limits);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(wire::to_json(*again) == wire::to_json(*c));
        break;
      }
      case 1: {
        auto in = wire::input_from_json(*body, limits);
        if (!in) {
          FUZZ_CHECK(request_code(in.error().code));
          break;
        }
        FUZZ_CHECK(in->content.size() <= limits.max_content_bytes);
        auto again = wire::input_from_json(wire::to_json(*in), limits);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(again->content == in->content && again->client_message_id == in->client_message_id);
        break;
      }
      default: {
        auto r = wire::reason_from_json(*body);
        if (!r) FUZZ_CHECK(request_code(r.error().code));
        break;
      }
    }
    return 0;
  }

  if (which == 10) {
    // An events page as the remote source reads it (catch-up pages): in
    // place when the scan takes it, and then exactly what the general
    // parser reads from it.
    auto view = wire::scan_event_page(text);
    if (!view) return 0;
    auto page = json::parse(text, text.size() + 1);
    FUZZ_CHECK(page && page->is_object());
    const auto& o = page->as_object();
    FUZZ_CHECK(o.size() == 3 && o.at("cursor").as_string() == view->cursor);
    FUZZ_CHECK(o.at("last_seq").to_number<std::uint64_t>() == view->last_seq);
    const auto& items = o.at("events").as_array();
    FUZZ_CHECK(items.size() == view->events.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& item = items[i].as_object();
      const auto& seen = view->events[i];
      FUZZ_CHECK(item.size() == 3 && item.at("cursor").as_string() == seen.cursor);
      FUZZ_CHECK(item.at("seq").to_number<std::uint64_t>() == seen.seq);
      auto event = json::parse(seen.event, seen.event.size() + 1);
      FUZZ_CHECK(event && event->is_object() && *event == item.at("event"));
    }
    return 0;
  }

  // A runtime's replies, as the remote source decodes them.
  auto v = json::parse(text, kMaxBody);
  if (!v) return 0;
  switch (which) {
    case 4: response(wire::detail_from_json(*v)); break;
    case 5: response(wire::worker_page_from_json(*v)); break;
    case 6: response(wire::accepted_from_json(*v)); break;
    case 7: response(wire::cancel_from_json(*v)); break;
    case 8: response(wire::transcript_from_json(*v)); break;
    default: {
      response(wire::summary_from_json(*v));
      if (v->is_object()) {
        auto r = wire::record_from_json(v->as_object());
        (void)r;  // the fs store's state document: typed error or a record
      }
      break;
    }
  }
  return 0;
}
