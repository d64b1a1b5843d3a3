// Fuzz target: a model provider's streamed chat completion as the openai
// engine decodes it — SSE (engines/sse.hpp) carrying chunks that
// engines/chat_stream.hpp turns into reply text and assembled tool calls.
// Byte 0 seeds where the bytes are sliced (as network reads would), the rest
// is the raw stream; the same bytes are also fed in one slice. Checks: no
// crash; every text piece handed on is UTF-8; a turn that ends ok has at most
// kMaxCalls calls, each with a non-empty id and name, arguments of at most
// kMaxArgs bytes, all UTF-8; errors are typed provider_* codes; slicing
// changes nothing (same text, same calls, same outcome).

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "yoi/engines/chat_stream.hpp"
#include "yoi/engines/sse.hpp"
#include "yoi/utf8.hpp"

namespace {

using namespace yoi::engines;

constexpr std::size_t kMaxCalls = 4;
constexpr std::size_t kMaxArgs = 256;

struct Run {
  std::string text;
  std::vector<yoi::engines::ToolCall> calls;
  bool ok = false;
  yoi::Code code = yoi::Code::internal;
};

Run run(std::string_view bytes, unsigned seed, bool sliced) {
  Run out;
  SseParser sse(4096);
  ChatStreamDecoder dec("fuzz", ToolCallLimits{kMaxCalls, kMaxArgs});
  std::optional<yoi::Error> err;
  bool done = false;
  auto on_text = [&](std::string_view t) {
    FUZZ_CHECK(!t.empty());
    FUZZ_CHECK(yoi::valid_utf8(t));
    out.text += t;
  };
  auto sink = [&](const SseEvent& ev) {
    if (ev.data == "[DONE]") {
      done = true;
      return false;
    }
    if (auto r = dec.chunk(ev.data, ev.type == "whole", on_text); !r) {
      err = r.error();
      return false;
    }
    return true;
  };
  std::size_t pos = 0;
  unsigned s = seed | 1;
  while (pos < bytes.size() && !err && !done) {
    std::size_t n = bytes.size() - pos;
    if (sliced) {
      s = s * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (s >> 16) % 23);
    }
    if (auto r = sse.feed(bytes.substr(pos, n), sink); !r) err = r.error();
    pos += n;
  }
  if (!err && !done) sse.finish();
  if (err) {
    out.code = err->code;
    FUZZ_CHECK(out.code == yoi::Code::provider_bad_response || out.code == yoi::Code::provider_error ||
               out.code == yoi::Code::payload_too_large);
    return out;
  }
  auto end = dec.finish();
  if (!end) {
    out.code = end.error().code;
    FUZZ_CHECK(out.code == yoi::Code::provider_bad_response);
    return out;
  }
  out.ok = true;
  out.calls = std::move(end->tool_calls);
  FUZZ_CHECK(out.calls.size() <= kMaxCalls);
  for (const auto& c : out.calls) {
    FUZZ_CHECK(!c.call_id.empty() && !c.name.empty());
    FUZZ_CHECK(c.arguments.size() <= kMaxArgs);
    FUZZ_CHECK(yoi::valid_utf8(c.call_id) && yoi::valid_utf8(c.name) && yoi::valid_utf8(c.arguments));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto bytes = yoi::fuzz::as_text(data + 1, size - 1);
  auto whole = run(bytes, data[0], false);
  auto sliced = run(bytes, data[0], true);
  FUZZ_CHECK(whole.ok == sliced.ok);
  FUZZ_CHECK(whole.code == sliced.code);
  FUZZ_CHECK(whole.text == sliced.text);
  FUZZ_CHECK(whole.calls.size() == sliced.calls.size());
  for (std::size_t i = 0; i < whole.calls.size(); ++i) {
    FUZZ_CHECK(whole.calls[i].call_id == sliced.calls[i].call_id);
    FUZZ_CHECK(whole.calls[i].name == sliced.calls[i].name);
    FUZZ_CHECK(whole.calls[i].arguments == sliced.calls[i].arguments);
  }
  return 0;
}
