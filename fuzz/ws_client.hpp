#pragma once
// The client half of the WebSocket fuzz targets (ws_runtime.cpp,
// ws_backend.cpp): blocking POSIX sockets, no Beast, so the bytes on the wire
// are exactly what the fuzzer chose.
//
// Input layout (ws_exchange):
//   byte 0   flags: bits 0-1 pick the worker path (the target supplies four),
//            bit 2 raw mode (the rest is sent as-is after the handshake),
//            bit 3 a ?cursor= parameter (bytes up to the first '\n',
//            percent-encoded), bit 4 unmasked frames (a protocol error for a
//            client), bit 5 always use the 64-bit length form.
//   then     frames: [header byte: FIN|RSV|opcode][len byte; 0xff: two more
//            bytes of length][payload...], encoded and masked by the client.
//            A length beyond the input sends a truncated frame.
// After the bytes, the client half-closes and drains until the server closes.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace yoi::fuzz {

struct WsTarget {
  std::uint16_t port = 0;
  std::string paths[4];  // picked by flags bits 0-1
  // Open WebSocket sessions on the server (read on its io thread); must fall
  // back to zero after every exchange.
  std::function<std::size_t()> open_sessions;
  // A cursor the server accepts for path `path` at `seq` (flags bit 6).
  std::function<std::string(int path, std::uint64_t seq)> valid_cursor;
};

// One fuzz exchange. Aborts (a finding) when the server stops accepting,
// keeps a half-closed connection open, or leaks a session.
void ws_exchange(const WsTarget& t, const std::uint8_t* data, std::size_t size);

}  // namespace yoi::fuzz
