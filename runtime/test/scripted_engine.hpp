#pragma once
// A scripted test engine: each turn streams the text the script gives and
// ends with the script's tool calls, answered on a later io turn like a
// real model's. It makes the calls the echo engine never makes (a tool the
// profile does not offer, several calls in one turn, a call every turn) and
// records each conversation it was given. Test-only: installed through
// RuntimeOptions::engine_factory, built on the
// io_context the factory is given.

#include <cstddef>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "yoi/engines/engine.hpp"

namespace yoi::rt::test {

struct ScriptedTurn {
  ScriptedTurn(std::string text = {}, std::vector<engines::ToolCall> calls = {},
               std::optional<engines::Usage> usage = std::nullopt)
      : text(std::move(text)), calls(std::move(calls)), usage(std::move(usage)) {}

  std::string text;
  std::vector<engines::ToolCall> calls;  // none: the reply is final
  std::optional<engines::Usage> usage;   // reported before the turn ends
};

class ScriptedEngine : public engines::Engine {
 public:
  // `script(turn)` answers turn number `turn` (0-based, counted over every
  // run of every worker using this engine).
  using Script = std::function<ScriptedTurn(std::size_t turn)>;

  ScriptedEngine(boost::asio::io_context& io, Script script) : io_(io), script_(std::move(script)) {}

  std::string_view kind() const override { return "scripted"; }

  std::unique_ptr<engines::Turn> start(std::vector<engines::Message> conversation, std::vector<engines::ToolSpec>,
                                       engines::TurnHandlers handlers) override {
    conversations.push_back(std::move(conversation));
    auto turn = std::make_unique<T>();
    auto alive = turn->alive;
    ScriptedTurn next = script_(turns_++);
    boost::asio::post(io_, [alive, next = std::move(next), h = std::move(handlers)]() mutable {
      if (!*alive) return;
      if (!next.text.empty()) h.on_delta(next.text);
      if (!*alive) return;
      if (next.usage && h.on_usage) h.on_usage(*next.usage);
      if (!*alive) return;
      h.on_done(engines::TurnEnd{std::move(next.calls)});
    });
    return turn;
  }

  // Every conversation a turn was started with, in order.
  std::vector<std::vector<engines::Message>> conversations;

 private:
  struct T : engines::Turn {
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    void cancel() override { *alive = false; }
    ~T() override { *alive = false; }
  };
  boost::asio::io_context& io_;
  Script script_;
  std::size_t turns_ = 0;
};

}  // namespace yoi::rt::test
