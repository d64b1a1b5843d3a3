#pragma once
// Decoding an OpenAI-compatible chat completion, streamed (the `data` of each
// SSE event, one JSON chunk) or whole (one JSON completion): reply text,
// usage, finish, and tool calls assembled from their streamed fragments.
// No I/O, no Asio: a pure state machine the openai engine feeds and the fuzz
// target fuzz/chat_stream.cpp drives.
//
// Tool calls (ARCHITECTURE §12). `choices[0].delta.tool_calls` fragments are
// grouped by `index`; `id` and `function.name` come in a call's first
// fragment, `function.arguments` in any number of pieces that are
// concatenated as bytes and parsed by nobody here: a piece may end inside a
// UTF-8 sequence or a JSON escape of the arguments text. Checked only at the
// end (finish()): every call has a name, and id, name and arguments are
// well-formed UTF-8. A call without an id gets `call_<index>`. Calls are
// handed over in index order. A fragment without `index` continues the last
// call, or opens the next one when it carries a new id.
//
// Reply text may also be cut inside a UTF-8 sequence by a provider that
// streams raw token bytes: the cut-off bytes wait for the next piece, and
// text that is not UTF-8 is provider_bad_response.
//
// Bounded: at most `max_calls` calls per turn and `max_argument_bytes` of
// arguments per call (an id or name at most 1 KiB); beyond that the turn
// fails with provider_bad_response, nothing grows without limit.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "yoi/engines/engine.hpp"
#include "yoi/error.hpp"

namespace yoi::engines {

struct ToolCallLimits {
  std::size_t max_calls = 64;
  std::size_t max_argument_bytes = 1 << 20;
};

class ChatStreamDecoder {
 public:
  using TextSink = std::function<void(std::string_view)>;

  // `where` prefixes every error message ("openai profile 'x'").
  ChatStreamDecoder(std::string where, ToolCallLimits limits = {});

  // One chunk (`whole`: a complete non-streamed completion, `message`
  // instead of `delta`). Reply text goes to `on_text` as it is decoded. An
  // error ends the turn: provider_error for an error object the provider
  // sent, provider_bad_response for anything malformed or over a bound.
  Result<void> chunk(std::string_view json_text, bool whole, const TextSink& on_text);

  // True once a choice reported its finish_reason.
  bool finished() const { return finished_; }
  // True while a tool call has been started (its fragments may go on).
  bool has_tool_calls() const { return !calls_.empty(); }
  const std::optional<Usage>& usage() const { return usage_; }

  // The turn's end once the stream is complete: its tool calls, or
  // provider_bad_response (a call without a name, text or arguments that are
  // not UTF-8, text cut off inside a UTF-8 sequence).
  Result<TurnEnd> finish() const;

 private:
  struct Partial {
    std::string id, name, arguments;
  };
  Result<void> tool_fragment(const boost::json::value& fragment);
  Result<void> text(std::string_view piece, const TextSink& on_text);
  Error bad(std::string_view what) const;

  std::string where_;
  ToolCallLimits limits_;
  std::map<std::int64_t, Partial> calls_;
  std::optional<std::int64_t> last_index_;
  std::string text_carry_;  // the start of a UTF-8 sequence cut off by the last piece
  std::optional<Usage> usage_;
  bool finished_ = false;
};

}  // namespace yoi::engines
