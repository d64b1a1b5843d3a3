// Fuzz target: the SSE parser (engines/sse.hpp) that reads model providers'
// streams. The input is split into slices at fuzz-chosen points (byte 0 seeds
// the split), fed in order, then finish(). Checks: no crash; feeding the same
// bytes in one slice and in many slices yields the same events (the parser is
// slice-boundary independent); no event exceeds the limit; once failed, it
// stays failed.

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "yoi/engines/sse.hpp"

namespace {

using yoi::engines::SseEvent;
using yoi::engines::SseParser;

struct Run {
  std::vector<SseEvent> events;
  bool failed = false;
};

constexpr std::size_t kMax = 4096;

Run run(std::string_view bytes, unsigned seed, bool sliced) {
  Run out;
  SseParser p(kMax);
  auto sink = [&](const SseEvent& e) {
    FUZZ_CHECK(e.data.size() <= kMax);
    out.events.push_back(e);
    return true;
  };
  std::size_t pos = 0;
  unsigned s = seed | 1;
  while (pos < bytes.size()) {
    std::size_t n = bytes.size() - pos;
    if (sliced) {
      s = s * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (s >> 16) % 17);
    }
    auto r = p.feed(bytes.substr(pos, n), sink);
    if (!r) {
      FUZZ_CHECK(r.error().code == yoi::Code::payload_too_large);
      FUZZ_CHECK(p.failed());
      out.failed = true;
    }
    if (out.failed) {
      // Failed stays failed: a well-formed event afterwards is not delivered.
      auto before = out.events.size();
      (void)p.feed("data: x\n\n", sink);
      FUZZ_CHECK(p.failed() && out.events.size() == before);
      break;
    }
    pos += n;
  }
  if (!out.failed) p.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto bytes = yoi::fuzz::as_text(data + 1, size - 1);
  auto whole = run(bytes, data[0], false);
  auto sliced = run(bytes, data[0], true);
  if (!whole.failed && !sliced.failed) {
    FUZZ_CHECK(whole.events.size() == sliced.events.size());
    for (std::size_t i = 0; i < whole.events.size(); ++i) {
      FUZZ_CHECK(whole.events[i].type == sliced.events[i].type);
      FUZZ_CHECK(whole.events[i].data == sliced.events[i].data);
      FUZZ_CHECK(whole.events[i].id == sliced.events[i].id);
    }
  }
  return 0;
}
