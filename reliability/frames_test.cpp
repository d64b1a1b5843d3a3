// The soak's and the network-fault tests' verdict: SeqChecker must flag a
// gap, a duplicate and an untyped snapshot, and accept typed resyncs and
// resumes by cursor.
#include <gtest/gtest.h>

#include "frames.hpp"

namespace yoi::reliability {
namespace {

Frame ev(std::uint64_t seq) {
  return parse_frame(R"({"type":"event","cursor":"c)" + std::to_string(seq) + R"(","seq":)" + std::to_string(seq) +
                     R"(,"event":{"type":"text_delta","seq":)" + std::to_string(seq) + "}}");
}
Frame snap(std::uint64_t seq) {
  return parse_frame(R"({"type":"snapshot","cursor":"s","seq":)" + std::to_string(seq) +
                     R"(,"worker":{"status":"idle"}})");
}
Frame diag(const char* code, const char* action) {
  return parse_frame(std::string(R"({"type":"diagnostic","code":")") + code + R"(","action":")" + action + R"("})");
}

TEST(SeqChecker, ConsecutiveEventsAfterASnapshotPass) {
  SeqChecker c;
  c.connected(false);
  EXPECT_TRUE(c.on(snap(4)));
  EXPECT_EQ(snap(4).status, "idle");
  for (int s = 5; s < 10; ++s) EXPECT_TRUE(c.on(ev(s)));
  EXPECT_TRUE(c.on(diag("runtime_unavailable", "wait")));
  EXPECT_TRUE(c.on(parse_frame(R"({"type":"heartbeat","cursor":"h","seq":9})")));
  EXPECT_EQ(c.cursor(), "h");
  // Resume elsewhere with the cursor: no snapshot, the next seq.
  c.connected(true);
  EXPECT_TRUE(c.on(ev(10)));
  EXPECT_TRUE(c.violations().empty());
  EXPECT_EQ(c.events(), 6u);
}

TEST(SeqChecker, GapDuplicateAndStraySnapshotAreViolations) {
  SeqChecker gap;
  gap.connected(false);
  gap.on(snap(1));
  gap.on(ev(2));
  EXPECT_FALSE(gap.on(ev(4)));
  SeqChecker dup;
  dup.connected(false);
  dup.on(snap(1));
  dup.on(ev(2));
  EXPECT_FALSE(dup.on(ev(2)));
  SeqChecker stray;
  stray.connected(false);
  stray.on(snap(1));
  EXPECT_FALSE(stray.on(snap(5))) << "a snapshot that jumps without a typed resync hides a gap";
  SeqChecker first;
  first.connected(false);
  EXPECT_FALSE(first.on(ev(1))) << "a fresh stream starts with a snapshot";
  SeqChecker junk;
  EXPECT_FALSE(junk.on(parse_frame("not json")));
  EXPECT_EQ(gap.violations().size() + dup.violations().size() + stray.violations().size(), 3u);
}

TEST(SeqChecker, TypedResyncAllowsAJump) {
  SeqChecker c;
  c.connected(false);
  c.on(snap(1));
  c.on(ev(2));
  EXPECT_TRUE(c.on(diag("cursor_expired", "resync")));
  EXPECT_TRUE(c.on(snap(90)));
  EXPECT_TRUE(c.on(ev(91)));
  EXPECT_FALSE(c.on(diag("runtime_error", "resync"))) << "only cursor codes resync";
  EXPECT_EQ(c.resyncs(), 1);
}

}  // namespace
}  // namespace yoi::reliability
