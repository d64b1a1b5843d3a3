#pragma once
// Backend cursors (ARCHITECTURE §5): self-contained and authenticated. A
// cursor names (runtime_id, worker_id, runtime epoch, seq) under an
// HMAC-SHA256 keyed by a backend secret, so any backend process holding the
// same key can resume any client, and a tampered or foreign cursor is
// rejected. Runtime cursors never reach a browser.
//
//   "b1.<base64url(epoch)>.<seq>.<base64url(mac[0..16))>"
//
// The runtime and worker ids are inside the MAC but not in the text: the
// route names them, and a cursor presented for another worker fails the MAC.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "yoi/backend/source.hpp"
#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace yoi::backend {

class CursorCodec {
 public:
  // `key` must be non-empty (32 random bytes from the data dir, or per process).
  explicit CursorCodec(Secret key);

  std::string encode(std::string_view runtime_id, std::string_view worker_id,
                     const Position& pos) const;
  // The cursors of one (runtime, worker, epoch), minted with as little work
  // as the MAC allows (issue 22; every relayed event carries one): the MAC's
  // fixed prefix is absorbed into the inner digest once and the epoch's
  // base64 made once, so a cursor costs the seq's digits, two digest finals
  // and the MAC's base64. Exactly encode()'s text. Cheap to copy (shared).
  class Minter {
   public:
    std::string operator()(std::uint64_t seq) const;
    // The same cursor appended to `out`: a caller reusing one buffer mints
    // without allocating.
    void append_to(std::string& out, std::uint64_t seq) const;
    const std::string& epoch() const;

   private:
    friend class CursorCodec;
    struct State;
    std::shared_ptr<const State> state_;
  };
  Minter minter(std::string_view runtime_id, std::string_view worker_id, std::string_view epoch) const;

  // cursor_invalid when malformed, forged, or for another runtime or worker.
  Result<Position> decode(std::string_view runtime_id, std::string_view worker_id,
                          std::string_view cursor) const;

 private:
  std::array<unsigned char, 16> mac(std::string_view runtime_id, std::string_view worker_id,
                                    std::string_view epoch, std::uint64_t seq) const;
  // HMAC keyed once: the SHA-256 states after the inner and outer key pads.
  // Every event frame carries a cursor, so re-keying per MAC (OpenSSL's
  // one-shot HMAC) was the relay's largest cost. Immutable, shared by copies.
  struct Keyed;
  std::shared_ptr<const Keyed> keyed_;
};

}  // namespace yoi::backend
