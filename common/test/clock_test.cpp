#include <gtest/gtest.h>

#include <set>

#include "yoi/clock.hpp"

namespace yoi {
namespace {

TEST(Clock, ManualClockAdvancesOnlyWhenTold) {
  ManualClock c(1000);
  EXPECT_EQ(c.now_ms(), 1000);
  c.advance(std::chrono::milliseconds(250));
  EXPECT_EQ(c.now_ms(), 1250);
}

TEST(Random, SeededIsDeterministicAndHexIsWellFormed) {
  SeededRandom a(42), b(42), c(43);
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(a.next_u64(), c.next_u64());
  auto h = a.hex(8);
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  for (int i = 0; i < 100; ++i) EXPECT_LT(a.uniform(7), 7u);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(Random::system().hex(8));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace yoi
