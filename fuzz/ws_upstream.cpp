// Fuzz target: the frames a runtime sends yoi-server's upstream WebSocket
// (backend/src/ws_reader.hpp; remote_upstream.cpp reads the socket with it).
// Byte 0 picks the message limit (1 << (byte % 17)) and seeds the slicing;
// the rest is the runtime's bytes, fed as the upstream feeds them (dropping
// what each item used, more bytes after need_more) in fuzz-chosen slices.
// Checks: every item makes progress or asks for more than it has; messages
// are within the limit, control payloads within 125 bytes; after an error
// nothing more is read; and slicing changes nothing (the same items as the
// whole input at once).

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "ws_reader.hpp"

namespace {

using yoi::backend::detail::WsReader;

struct Seen {
  std::vector<std::pair<WsReader::Kind, std::string>> items;
  bool failed = false;
};

// Feeds `bytes` in slices whose sizes come from `seed` (0: all at once).
Seen run(std::string_view bytes, std::size_t max, unsigned seed) {
  WsReader r(max);
  Seen s;
  std::string buf;
  std::size_t fed = 0;
  unsigned x = seed;
  while (!s.failed) {
    auto it = r.next(buf);
    FUZZ_CHECK(it.used <= buf.size());
    switch (it.kind) {
      case WsReader::Kind::error: s.failed = true; continue;
      case WsReader::Kind::need_more:
        FUZZ_CHECK(it.used == 0 && it.need > buf.size());
        if (fed == bytes.size()) return s;
        {
          x = x * 1103515245u + 12345u;
          std::size_t n = seed == 0 ? bytes.size() : 1 + (x >> 16) % 64;
          n = std::min(n, bytes.size() - fed);
          buf.append(bytes.substr(fed, n));
          fed += n;
        }
        continue;
      case WsReader::Kind::message: FUZZ_CHECK(it.payload.size() <= max); break;
      case WsReader::Kind::ping:
      case WsReader::Kind::pong:
      case WsReader::Kind::close: FUZZ_CHECK(it.payload.size() <= 125); break;
      case WsReader::Kind::fragment: break;
    }
    FUZZ_CHECK(it.used >= 2);
    s.items.emplace_back(it.kind, std::string(it.payload));
    buf.erase(0, it.used);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max = std::size_t{1} << (data[0] % 17);
  auto bytes = yoi::fuzz::as_text(data + 1, size - 1);
  auto whole = run(bytes, max, 0);
  auto sliced = run(bytes, max, data[0] | 1u);
  FUZZ_CHECK(whole.failed == sliced.failed);
  FUZZ_CHECK(whole.items == sliced.items);
  return 0;
}
