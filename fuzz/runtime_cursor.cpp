// Fuzz target: runtime cursor decoding (runtime/cursor.hpp), the
// "r1.<epoch>.<tag>.<seq>" strings yoi-runtime accepts in ?cursor= and
// ?after=. Checks: no crash; a cursor that parses has a non-empty hex epoch,
// a 12-hex-digit tag, and re-encodes to a cursor that parses to the same
// parts; an encoded cursor always parses back.

#include <cctype>
#include <cstring>
#include <string>

#include "yoi/runtime/cursor.hpp"
#include "fuzz_check.hpp"

namespace {

bool all_hex(std::string_view s) {
  for (unsigned char c : s)
    if (!std::isxdigit(c)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace yoi::rt;
  auto text = yoi::fuzz::as_text(data, size);

  auto p = parse_cursor(text);
  if (p) {
    FUZZ_CHECK(!p->epoch.empty() && all_hex(p->epoch));
    FUZZ_CHECK(p->tag.size() == 12 && all_hex(p->tag));
    // CursorParts views the text it parsed: keep the encoded cursor alive.
    const auto text2 = encode_cursor(p->epoch, p->tag, p->seq);
    auto again = parse_cursor(text2);
    FUZZ_CHECK(again && again->epoch == p->epoch && again->tag == p->tag && again->seq == p->seq);
  } else {
    FUZZ_CHECK(p.error().code == yoi::Code::cursor_invalid);
  }

  // Round trip from the other side: a worker id and seq taken from the input.
  if (size >= 8) {
    std::uint64_t seq;
    std::memcpy(&seq, data, sizeof seq);
    auto wid = text.substr(8, 120);
    auto tag = worker_tag(wid);
    auto c = encode_cursor("0123456789abcdef", tag, seq);
    auto q = parse_cursor(c);
    FUZZ_CHECK(q && q->seq == seq && q->tag == tag);
  }
  return 0;
}
