// The echo engine: a deterministic reply built from the last user message,
// streamed in chunks so that runs can be watched and cancelled without a
// model.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>

#include "yoi/engines/engine.hpp"

namespace yoi::engines {
namespace {

class EchoTurn final : public Turn, public std::enable_shared_from_this<EchoTurn> {
 public:

  EchoTurn(boost::asio::io_context& io, std::string reply, std::size_t chunk,
           std::chrono::milliseconds delay, std::size_t burst, TurnHandlers handlers)
      : io_(io), timer_(io), reply_(std::move(reply)), chunk_(chunk ? chunk : 1), delay_(delay),
        burst_(burst ? burst : 1), handlers_(std::move(handlers)) {}

  void begin() { schedule(); }

  void cancel() override {
    cancelled_ = true;
    timer_.cancel();
  }

 private:
  void schedule() {
    auto self = shared_from_this();
    if (delay_.count() == 0) {
      boost::asio::post(io_, [self] { self->step(); });
      return;
    }
    timer_.expires_after(delay_);
    timer_.async_wait([self](boost::system::error_code) { self->step(); });
  }

  void step() {
    if (cancelled_) return;
    if (pos_ < reply_.size()) {
      // Without a delay, a step emits a burst of deltas, as one read from a
      // model's stream does; with one, a delta per step.
      const std::size_t burst = delay_.count() == 0 ? burst_ : 1;
      for (std::size_t i = 0; i < burst && pos_ < reply_.size(); ++i) {
        std::size_t n = std::min(chunk_, reply_.size() - pos_);
        // Never split a UTF-8 sequence across deltas.
        while (pos_ + n < reply_.size() && (static_cast<unsigned char>(reply_[pos_ + n]) & 0xC0) == 0x80)
          ++n;
        std::string_view delta(reply_.data() + pos_, n);
        pos_ += n;
        handlers_.on_delta(delta);
        if (cancelled_) return;
      }
      schedule();
      return;
    }
    Usage u;
    u.input_tokens = input_words_;
    u.output_tokens = (reply_.size() + 3) / 4;
    if (handlers_.on_usage) handlers_.on_usage(u);
    if (cancelled_) return;
    handlers_.on_done(std::move(end_));
  }

 public:
  std::uint64_t input_words_ = 0;
  TurnEnd end_;  // the tool call the echo driver makes, if any

 private:
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::string reply_;
  std::size_t chunk_;
  std::chrono::milliseconds delay_;
  std::size_t burst_;
  TurnHandlers handlers_;
  std::size_t pos_ = 0;
  bool cancelled_ = false;
};

// The Turn handed to the caller; the shared EchoTurn outlives it only until
// its pending timer or post fires (and then does nothing).
class EchoHandle final : public Turn {
 public:
  explicit EchoHandle(std::shared_ptr<EchoTurn> turn) : turn_(std::move(turn)) {}
  ~EchoHandle() override { turn_->cancel(); }
  void cancel() override { turn_->cancel(); }

 private:
  std::shared_ptr<EchoTurn> turn_;
};

// The echo driver (ARCHITECTURE §12): a user message whose first line is
// `/<tool> <json object>` calls that tool when it is offered. The text after
// the name (to the end of the message) is the call's arguments, verbatim:
// the runtime parses them, so malformed JSON reaches it as a model's would.
std::optional<ToolCall> driven_call(std::string_view input, const std::vector<ToolSpec>& tools,
                                    const std::vector<Message>& conversation) {
  if (!input.starts_with('/')) return std::nullopt;
  auto first_line = input.substr(0, input.find('\n'));
  auto space = first_line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view name = first_line.substr(1, space - 1);
  bool offered = false;
  for (const auto& t : tools) offered = offered || t.name == name;
  if (!offered) return std::nullopt;
  std::string_view args = input.substr(space + 1);
  while (!args.empty() && (args.front() == ' ' || args.front() == '\t')) args.remove_prefix(1);
  while (!args.empty() && (args.back() == ' ' || args.back() == '\n' || args.back() == '\r')) args.remove_suffix(1);
  // Unique within the run: one more than the calls made so far.
  std::size_t made = 0;
  for (const auto& m : conversation) made += m.tool_calls.size();
  return ToolCall{"call_" + std::to_string(made + 1), std::string(name), std::string(args)};
}

// The reply after a tool result: one line, "<tool> ok: N lines" or
// "<tool> failed: <code>" (the runtime gives a failed call's message the
// form "error: <code>: <message>"). A call a person denied also says their
// message's first line (it carries the reason, §15), so the reason can be
// seen reaching the model with no model.
std::string summary(const Message& result) {
  constexpr std::string_view failed = "error: ";
  if (result.content.starts_with(failed)) {
    std::string_view rest(result.content);
    rest.remove_prefix(failed.size());
    auto code = rest.substr(0, rest.find(':'));
    if (code == "denied" && rest.size() > code.size() + 2) {
      auto message = rest.substr(code.size() + 2);
      return result.name + " failed: denied: " + std::string(message.substr(0, std::min<std::size_t>(message.find('\n'), 500)));
    }
    return result.name + " failed: " + std::string(code);
  }
  std::size_t lines = 0;
  for (char c : result.content) lines += c == '\n';
  if (!result.content.empty() && result.content.back() != '\n') ++lines;
  return result.name + " ok: " + std::to_string(lines) + (lines == 1 ? " line" : " lines");
}

class EchoEngine final : public Engine {
 public:
  EchoEngine(boost::asio::io_context& io, std::size_t chunk, std::chrono::milliseconds delay, std::size_t burst)
      : io_(io), chunk_(chunk), delay_(delay), burst_(burst) {}

  std::string_view kind() const override { return "echo"; }

  using Engine::start;
  std::unique_ptr<Turn> start(std::vector<Message> conversation, std::vector<ToolSpec> tools,
                              TurnHandlers handlers) override {
    std::uint64_t words = 0;
    for (const auto& m : conversation) words += (m.content.size() + 3) / 4;
    std::string reply;
    TurnEnd end;
    if (!conversation.empty() && conversation.back().role == "tool") {
      reply = summary(conversation.back());
    } else {
      std::string input = conversation.empty() ? std::string() : conversation.back().content;
      if (auto call = driven_call(input, tools, conversation)) end.tool_calls.push_back(std::move(*call));
      else reply = "echo: " + input;
    }
    auto turn = std::make_shared<EchoTurn>(io_, std::move(reply), chunk_, delay_, burst_, std::move(handlers));
    turn->input_words_ = words;
    turn->end_ = std::move(end);
    turn->begin();
    return std::make_unique<EchoHandle>(std::move(turn));
  }

 private:
  boost::asio::io_context& io_;
  std::size_t chunk_;
  std::chrono::milliseconds delay_;
  std::size_t burst_;
};

}  // namespace

std::shared_ptr<Engine> make_echo_engine(boost::asio::io_context& io, std::size_t chunk_bytes,
                                         std::chrono::milliseconds chunk_delay, std::size_t burst) {
  return std::make_shared<EchoEngine>(io, chunk_bytes, chunk_delay, burst);
}

}  // namespace yoi::engines
