// The one reconnect backoff (backoff.cpp), with literal delays.
#include <gtest/gtest.h>

#include <deque>

#include "yoi/backoff.hpp"

namespace yoi {
namespace {

using namespace std::chrono_literals;

// Hands out the values it was given, in order.
struct ScriptedRandom final : Random {
  std::deque<std::uint64_t> values;
  std::uint64_t next_u64() override {
    auto v = values.front();
    values.pop_front();
    return v;
  }
};

TEST(Backoff, DoublesToTheCapWithEqualJitter) {
  ScriptedRandom low;
  low.values.assign(8, 0);  // uniform(b) = 0: the lower end, d/2
  Backoff lo({100ms, 1000ms, 2.0}, low);
  EXPECT_EQ(lo.next(), 50ms);
  EXPECT_EQ(lo.next(), 100ms);
  EXPECT_EQ(lo.next(), 200ms);
  EXPECT_EQ(lo.next(), 400ms);
  EXPECT_EQ(lo.next(), 500ms);  // capped at 1000: [500, 1000]
  EXPECT_EQ(lo.next(), 500ms);
  EXPECT_EQ(lo.attempt(), 6u);
  lo.reset();
  EXPECT_EQ(lo.next(), 50ms);

  ScriptedRandom top;
  // uniform(b) = v % b: pick v = b - 1 for each attempt's bound (d - d/2 + 1).
  for (std::uint64_t b : {51, 101, 201, 401, 501}) top.values.push_back(b - 1);
  Backoff hi({100ms, 1000ms, 2.0}, top);
  EXPECT_EQ(hi.next(), 100ms);
  EXPECT_EQ(hi.next(), 200ms);
  EXPECT_EQ(hi.next(), 400ms);
  EXPECT_EQ(hi.next(), 800ms);
  EXPECT_EQ(hi.next(), 1000ms);
}

TEST(Backoff, AFactorOfThreeAndASmallCap) {
  ScriptedRandom r;
  r.values.assign(4, 0);
  Backoff b({10ms, 50ms, 3.0}, r);
  EXPECT_EQ(b.next(), 5ms);   // 10
  EXPECT_EQ(b.next(), 15ms);  // 30
  EXPECT_EQ(b.next(), 25ms);  // 90 → 50
}

}  // namespace
}  // namespace yoi
