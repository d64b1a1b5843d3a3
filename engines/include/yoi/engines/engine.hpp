#pragma once
// An engine runs one model turn: given a conversation, it streams reply text.
// Engines know nothing of Workers, ids or storage (ARCHITECTURE §2).
//
// Threading: an engine lives on one io_context (the process's network
// thread). start() and Turn::cancel() are called on that thread, and every
// handler is invoked on it, never inline from start().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"
#include "yoi/tools/policy.hpp"

namespace boost::asio {
class io_context;
}

namespace yoi::engines {

// A tool call as the model made it, complete: the engine has assembled
// every streamed fragment. `arguments` is the JSON text the model sent,
// unparsed: the runtime parses it (text that does not parse to an object is
// an `invalid_arguments` result for the model, and the run goes on), and a
// replayed conversation sends it back byte for byte (ARCHITECTURE §12).
struct ToolCall {
  std::string call_id;
  std::string name;
  std::string arguments;
};

// A tool offered to the model: its wire name (§12's table), a description
// for the model, and the JSON Schema of its arguments (an object, as text).
struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters;
};

// One message of the conversation, oldest first. An assistant message
// carries the tool calls its step made (its content may be empty); each call
// is answered by a "tool" message right after it, in call order, carrying
// the call's id, the tool's name and the bounded result text.
struct Message {
  Message() = default;
  Message(std::string role, std::string content) : role(std::move(role)), content(std::move(content)) {}

  std::string role;  // "user" | "assistant" | "tool" (the engine adds "system" itself)
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant
  std::string tool_call_id;          // tool
  std::string name;                  // tool
};

struct Usage {
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
};

// How a turn ended: with the tool calls the model made, in its order (none:
// the reply is final and the run is complete).
struct TurnEnd {
  std::vector<ToolCall> tool_calls;
};

struct TurnHandlers {
  std::function<void(std::string_view delta)> on_delta;
  std::function<void(const Usage&)> on_usage;
  // Exactly once, last, unless the turn was cancelled first. A failure is a
  // typed provider_* error whose message never contains a key or URL.
  std::function<void(Result<TurnEnd>)> on_done;
};

// A turn in flight. cancel() tears down the turn's I/O at once; after it
// returns no handler is called again. Destroying a Turn cancels it.
class Turn {
 public:
  virtual ~Turn() = default;
  virtual void cancel() = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view kind() const = 0;  // "echo", "openai"
  // `conversation` is oldest first and ends with the new user message or
  // with the tool results of the previous step. `tools` are offered to the
  // model (none: a plain chat turn).
  virtual std::unique_ptr<Turn> start(std::vector<Message> conversation, std::vector<ToolSpec> tools,
                                      TurnHandlers handlers) = 0;
  std::unique_ptr<Turn> start(std::vector<Message> conversation, TurnHandlers handlers) {
    return start(std::move(conversation), {}, std::move(handlers));
  }
};

// A profile: what a Worker created with `profile = name` runs on. Parsed and
// validated in one place, yoi/profiles/profile.hpp (from a runtime's or
// yoi-server's TOML config, or a config bundle); `runtime_default` always
// exists.
struct ProfileConfig {
  std::string name = "runtime_default";
  std::string engine = "echo";  // "echo" | "openai"
  std::string description;      // for people choosing a profile
  std::size_t history_messages = 20;  // transcript items sent as context
  // The tools offered (ARCHITECTURE §12; checked against the built-in list
  // at config load) and the most steps (engine turns) a run may take.
  std::vector<std::string> tools{"read", "write", "edit", "glob", "grep", "bash"};
  std::size_t max_steps = 50;
  // bash (ARCHITECTURE §14): the sandbox ("bwrap", or "none": bash runs
  // unsandboxed, logged loudly at start), whether it has a network, and the
  // most a call's timeout_ms may ask (larger asks are lowered to it).
  std::string sandbox = "bwrap";
  bool network = false;
  std::chrono::milliseconds max_bash_timeout{600'000};
  // Permission rules (ARCHITECTURE §15), in order; decided by the run loop
  // with tools/policy.hpp. Engines ignore them.
  std::vector<tools::Rule> permissions;

  // echo
  std::size_t echo_chunk_bytes = 8;
  std::chrono::milliseconds echo_chunk_delay{0};
  std::size_t echo_burst = 32;  // chunks per io turn when the delay is zero

  // openai-compatible
  Secret base_url;  // e.g. http://127.0.0.1:8080/v1 (private to the runtime host)
  std::string base_url_env;  // or the environment variable holding it, resolved at start
  std::string model;
  std::string api_key_env;  // name of the environment variable holding the key
  Secret api_key;           // resolved from api_key_env at start
  std::string system_prompt;
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds first_byte_timeout{60000};
  std::chrono::milliseconds idle_timeout{30000};
  int max_retries = 2;
};

// Builds the engine a profile names; config_invalid naming the profile for an
// unknown engine or an unusable setting.
Result<std::shared_ptr<Engine>> make_engine(boost::asio::io_context& io, const ProfileConfig& profile);

// The built-in engine: replies "echo: <input>" in chunks of `chunk_bytes`,
// one chunk per `chunk_delay`; with no delay, `burst` chunks per io turn (as
// one read of a model's stream carries several deltas).
std::shared_ptr<Engine> make_echo_engine(boost::asio::io_context& io, std::size_t chunk_bytes,
                                         std::chrono::milliseconds chunk_delay, std::size_t burst = 32);

}  // namespace yoi::engines
