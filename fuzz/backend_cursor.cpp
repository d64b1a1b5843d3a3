// Fuzz target: backend cursor decoding (backend/src/cursor.cpp), the MAC'd
// "b1.<base64url(epoch)>.<seq>.<base64url(mac)>" strings any browser may send
// to yoi-server's events routes. Checks: no crash; garbage is cursor_invalid;
// a cursor accepted for (runtime, worker) is rejected for another worker;
// encode → decode is the identity for any epoch and seq; and a decoded
// cursor re-encodes to one that decodes to the same position.

#include <cstring>
#include <string>

#include "fuzz_check.hpp"
#include "yoi/backend/cursor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace yoi;
  using namespace yoi::backend;
  static const CursorCodec codec(Secret(std::string("fuzz-backend-secret-0123456789abcdef")));
  auto text = yoi::fuzz::as_text(data, size);

  auto p = codec.decode("local", "w1", text);
  if (p) {
    // Only a forged MAC could get here with fuzz input; still, it must be
    // self-consistent.
    auto again = codec.decode("local", "w1", codec.encode("local", "w1", *p));
    FUZZ_CHECK(again && again->epoch == p->epoch && again->seq == p->seq);
  } else {
    FUZZ_CHECK(p.error().code == Code::cursor_invalid);
  }

  // Encode a position built from the input, then decode it.
  if (size >= 8) {
    Position pos;
    std::memcpy(&pos.seq, data, sizeof pos.seq);
    pos.epoch = std::string(text.substr(8, 64));
    auto c = codec.encode("local", "w1", pos);
    auto q = codec.decode("local", "w1", c);
    FUZZ_CHECK(q && q->epoch == pos.epoch && q->seq == pos.seq);
    FUZZ_CHECK(!codec.decode("local", "w2", c));
    FUZZ_CHECK(!codec.decode("other", "w1", c));
    // One flipped character of the cursor text is never accepted as another position.
    if (!c.empty()) {
      std::string t = c;
      std::size_t i = data[0] % t.size();
      t[i] = static_cast<char>(t[i] ^ (1 + data[1] % 63));
      auto r = codec.decode("local", "w1", t);
      FUZZ_CHECK(!r || (r->epoch == pos.epoch && r->seq == pos.seq));
    }
  }
  return 0;
}
