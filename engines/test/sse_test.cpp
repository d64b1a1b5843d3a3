#include "yoi/engines/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace yoi::engines {
namespace {

struct Collected {
  std::vector<SseEvent> events;
  SseParser::Sink sink() {
    return [this](const SseEvent& e) {
      events.push_back(e);
      return true;
    };
  }
};

std::vector<std::string> datas(const std::vector<SseEvent>& evs) {
  std::vector<std::string> out;
  for (auto& e : evs) out.push_back(e.data);
  return out;
}

std::vector<SseEvent> parse_whole(std::string_view text) {
  SseParser p;
  Collected c;
  EXPECT_TRUE(p.feed(text, c.sink()).has_value());
  return c.events;
}

constexpr std::string_view kStream =
    "\xEF\xBB\xBF: keep-alive comment\r\n"
    "data: {\"a\":1}\r\n"
    "\r\n"
    "event: update\n"
    "id: 7\n"
    "data: line one\n"
    "data:line two\n"
    "data\n"
    "retry: 100\n"
    "unknown: x\n"
    "\n"
    ":comment only\r"
    "\r"
    "data: cr only\r"
    "\r"
    "event: ignored-no-data\n"
    "\n"
    "data: [DONE]\n"
    "\n"
    "data: trailing without blank line";

void expect_stream_events(const std::vector<SseEvent>& evs) {
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].type, "message");
  EXPECT_EQ(evs[0].data, "{\"a\":1}");
  EXPECT_EQ(evs[1].type, "update");
  EXPECT_EQ(evs[1].id, "7");
  EXPECT_EQ(evs[1].data, "line one\nline two\n");
  EXPECT_EQ(evs[2].type, "message");  // type resets after dispatch and after a dataless event
  EXPECT_EQ(evs[2].data, "cr only");
  EXPECT_EQ(evs[3].data, "[DONE]");
}

TEST(SseParser, ParsesFieldsCommentsLineEndingsAndMultiLineData) {
  expect_stream_events(parse_whole(kStream));
}

TEST(SseParser, SameEventsWhenSplitAtEveryByteBoundary) {
  for (std::size_t cut = 0; cut <= kStream.size(); ++cut) {
    SseParser p;
    Collected c;
    ASSERT_TRUE(p.feed(kStream.substr(0, cut), c.sink()).has_value());
    ASSERT_TRUE(p.feed(kStream.substr(cut), c.sink()).has_value());
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_stream_events(c.events);
  }
}

TEST(SseParser, SameEventsFedOneByteAtATime) {
  SseParser p;
  Collected c;
  for (char ch : kStream) ASSERT_TRUE(p.feed(std::string_view(&ch, 1), c.sink()).has_value());
  expect_stream_events(c.events);
  EXPECT_FALSE(p.finish());  // the trailing event was never terminated
}

TEST(SseParser, CrlfSplitBetweenSlicesIsOneLineEnding) {
  SseParser p;
  Collected c;
  // If the LF after a slice-final CR were a second line ending, the blank
  // line would dispatch "a" early and "b" would become its own event.
  ASSERT_TRUE(p.feed("data: a\r", c.sink()).has_value());
  ASSERT_TRUE(p.feed("\ndata: b\r\n\r\n", c.sink()).has_value());
  EXPECT_EQ(datas(c.events), std::vector<std::string>{"a\nb"});
}

TEST(SseParser, OnlyOneLeadingSpaceIsStripped) {
  auto evs = parse_whole("data:  two spaces\n\ndata:none\n\n");
  EXPECT_EQ(datas(evs), (std::vector<std::string>{" two spaces", "none"}));
}

TEST(SseParser, UnterminatedEventIsDiscardedAtFinish) {
  SseParser p;
  Collected c;
  ASSERT_TRUE(p.feed("data: done\n\ndata: partial\n", c.sink()).has_value());
  EXPECT_EQ(c.events.size(), 1u);
  EXPECT_FALSE(p.finish());
  EXPECT_EQ(c.events.size(), 1u);
  SseParser q;
  ASSERT_TRUE(q.feed("data: x\n\n", c.sink()).has_value());
  EXPECT_TRUE(q.finish());
}

TEST(SseParser, SinkReturningFalseStopsParsing) {
  SseParser p;
  std::vector<std::string> seen;
  auto sink = [&](const SseEvent& e) {
    seen.push_back(e.data);
    return e.data != "[DONE]";
  };
  ASSERT_TRUE(p.feed("data: 1\n\ndata: [DONE]\n\ndata: 2\n\n", sink).has_value());
  ASSERT_TRUE(p.feed("data: 3\n\n", sink).has_value());
  EXPECT_TRUE(p.stopped());
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "[DONE]"}));
}

TEST(SseParser, OversizedLineFailsEvenWhenSplit) {
  SseParser p(64);
  Collected c;
  std::string big(40, 'x');
  ASSERT_TRUE(p.feed("data: " + big, c.sink()).has_value());
  auto r = p.feed(big, c.sink());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::payload_too_large);
  EXPECT_TRUE(p.failed());
  // Once failed, it stays failed.
  EXPECT_FALSE(p.feed("\n\n", c.sink()).has_value());
  EXPECT_TRUE(c.events.empty());
}

TEST(SseParser, ManyDataLinesCountTowardsTheEventLimit) {
  SseParser p(64);
  Collected c;
  Result<void> r;
  for (int i = 0; i < 20 && r.has_value(); ++i) r = p.feed("data: 0123456789\n", c.sink());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::payload_too_large);
}

TEST(SseParser, EventsUnderTheLimitKeepFlowingIndefinitely) {
  SseParser p(64);
  Collected c;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(p.feed("data: 0123456789\n\n", c.sink()).has_value());
  EXPECT_EQ(c.events.size(), 1000u);
}

}  // namespace
}  // namespace yoi::engines
