#pragma once
// The `openai` engine: one turn against any OpenAI-compatible chat-completions
// server (OpenAI, llama.cpp's server, Ollama, vLLM, LM Studio), streamed over
// SSE. Design note: engines/README.md.
//
// Threading as for every Engine (engine.hpp): one io_context, handlers on it.
//
// Errors a turn ends with (on_done), never containing the key or base URL:
//   provider_unreachable  DNS failure, refused/failed connect, TLS failure,
//                         or no connection within connect_timeout
//   provider_auth_failed  HTTP 401/403
//   provider_error        HTTP 429/5xx after max_retries retries, other
//                         non-2xx statuses, an error object in the stream,
//                         or the stream ending before it finished
//   provider_timeout      no body byte within first_byte_timeout of sending
//                         the request, or a gap longer than idle_timeout
//   provider_bad_response malformed HTTP, SSE or JSON; an oversized event
//                         or body; a tool call without a name, more tool
//                         calls or longer arguments than tool_calls allows,
//                         text or arguments that are not UTF-8
//   provider_error also   the stream ending inside a tool call
//   internal              an offered tool whose parameters are not a JSON
//                         Schema object (a caller bug; nothing is sent)
//
// Tools (ARCHITECTURE §12): offered tools go out as `tools` (function
// specs with their schema); the conversation's assistant tool calls and
// `tool` results are replayed in the OpenAI form; streamed `tool_calls`
// are assembled by chat_stream.hpp and end the turn (TurnEnd) in index
// order. finish_reason "tool_calls", or "stop" from servers that say so
// after sending calls, both end a turn with its calls. Usage is reported per
// turn (on_usage, before on_done); summing a run's steps is the caller's.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "yoi/engines/chat_stream.hpp"
#include "yoi/engines/engine.hpp"

namespace yoi::engines {

struct OpenAiOptions {
  // Delay before retry number `retry` (1-based) after a 429/5xx;
  // `retry_after` is the server's Retry-After hint when it sent one.
  // Default: the hint (capped at 30 s), else 500 ms * 2^(retry-1) capped at
  // 8 s, with up to 25% random jitter. Tests inject zero/fixed delays.
  std::function<std::chrono::milliseconds(int retry, std::optional<std::chrono::milliseconds> retry_after)>
      retry_delay;
  // PEM certificates trusted in addition to the system store (self-hosted
  // servers with a private CA; tests).
  std::string extra_ca_pem;
  std::size_t max_event_bytes = 1 << 20;   // one SSE event
  std::size_t max_body_bytes = 64 << 20;   // one whole response
  ToolCallLimits tool_calls;               // per turn (chat_stream.hpp)
};

// Validates the profile: config_invalid naming the profile for an empty
// model or base_url, or a base_url that is not an http(s) URL without
// credentials. An empty api_key is allowed (local servers need none); when
// set it is sent as `Authorization: Bearer`.
Result<std::shared_ptr<Engine>> make_openai_engine(boost::asio::io_context& io, const ProfileConfig& profile,
                                                   OpenAiOptions options = {});

}  // namespace yoi::engines
