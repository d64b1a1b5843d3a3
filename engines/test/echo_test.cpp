#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "yoi/engines/engine.hpp"

namespace yoi::engines {
namespace {

struct Collected {
  std::vector<std::string> deltas;
  std::optional<Usage> usage;
  std::optional<Result<TurnEnd>> done;
};

TurnHandlers collect(Collected& c) {
  TurnHandlers h;
  h.on_delta = [&c](std::string_view d) { c.deltas.emplace_back(d); };
  h.on_usage = [&c](const Usage& u) { c.usage = u; };
  h.on_done = [&c](Result<TurnEnd> r) { c.done = r; };
  return h;
}

TEST(Echo, StreamsTheReplyInChunksThenUsageThenDone) {
  boost::asio::io_context io;
  auto e = make_echo_engine(io, 3, std::chrono::milliseconds(0));
  Collected c;
  auto turn = e->start({{"user", "hello"}}, collect(c));
  EXPECT_TRUE(c.deltas.empty()) << "nothing inline from start()";
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(c.done && *c.done);
  std::string all;
  for (auto& d : c.deltas) {
    EXPECT_LE(d.size(), 3u);
    all += d;
  }
  EXPECT_EQ(all, "echo: hello");
  ASSERT_TRUE(c.usage);
  EXPECT_GT(c.usage->output_tokens, 0u);
}

// Issue 21: the reason a person gave for denying a call reaches the model;
// the echo engine's one-line summary shows it (other failures: the code only).
TEST(Echo, SummaryOfADeniedCallShowsTheReason) {
  boost::asio::io_context io;
  auto e = make_echo_engine(io, 64, std::chrono::milliseconds(0));
  auto reply = [&](std::string content) {
    Message tool("tool", std::move(content));
    tool.name = "write";
    tool.tool_call_id = "call_1";
    Collected c;
    auto turn = e->start({{"user", "/write {}"}, tool}, collect(c));
    io.restart();
    io.run_for(std::chrono::seconds(5));
    std::string all;
    for (auto& d : c.deltas) all += d;
    return all;
  };
  EXPECT_EQ(reply("error: denied: denied by a person: not b please\nmore"), "write failed: denied: denied by a person: not b please");
  EXPECT_EQ(reply("error: read_only: /workspaces/ro is read-only"), "write failed: read_only");
  EXPECT_EQ(reply("error: denied"), "write failed: denied");
}

// Without a delay, each io turn emits `burst` chunks (one post per burst).
TEST(Echo, NoDelayEmitsABurstOfChunksPerIoTurn) {
  for (std::size_t burst : {std::size_t(1), std::size_t(4)}) {
    boost::asio::io_context io;
    auto e = make_echo_engine(io, 1, std::chrono::milliseconds(0), burst);
    Collected c;
    auto turn = e->start({{"user", "hello"}}, collect(c));  // "echo: hello": 11 chunks
    ASSERT_EQ(io.run_one(), 1u);
    EXPECT_EQ(c.deltas.size(), burst);
    ASSERT_EQ(io.run_one(), 1u);
    EXPECT_EQ(c.deltas.size(), 2 * burst);
    io.run_for(std::chrono::seconds(5));
    std::string all;
    for (auto& d : c.deltas) all += d;
    EXPECT_EQ(all, "echo: hello");
    ASSERT_TRUE(c.done && *c.done);
  }
}

TEST(Echo, NeverSplitsUtf8) {
  boost::asio::io_context io;
  auto e = make_echo_engine(io, 1, std::chrono::milliseconds(0));
  Collected c;
  auto turn = e->start({{"user", "héllo ✓"}}, collect(c));
  io.run_for(std::chrono::seconds(5));
  for (auto& d : c.deltas)
    EXPECT_NE(static_cast<unsigned char>(d[0]) & 0xC0, 0x80) << "delta starts mid-sequence";
}

TEST(Echo, CancelStopsEveryHandler) {
  boost::asio::io_context io;
  auto e = make_echo_engine(io, 1, std::chrono::milliseconds(5));
  Collected c;
  auto turn = e->start({{"user", "a long message"}}, collect(c));
  io.run_for(std::chrono::milliseconds(30));
  ASSERT_FALSE(c.deltas.empty());
  turn->cancel();
  auto n = c.deltas.size();
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(c.deltas.size(), n);
  EXPECT_FALSE(c.done) << "no on_done after cancel";
}

TEST(Echo, FactoryRejectsUnknownEnginesNamingTheProfile) {
  boost::asio::io_context io;
  ProfileConfig p;
  p.name = "mine";
  p.engine = "quantum";
  auto r = make_engine(io, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::config_invalid);
  EXPECT_NE(r.error().message.find("mine"), std::string::npos);
}

}  // namespace
}  // namespace yoi::engines
