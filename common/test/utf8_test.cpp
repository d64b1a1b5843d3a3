#include <gtest/gtest.h>

#include <string>

#include "yoi/utf8.hpp"

namespace yoi {
namespace {

TEST(Utf8, ValidAcceptsWellFormedAndRejectsOverlongSurrogatesAndTruncation) {
  EXPECT_TRUE(valid_utf8("plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(valid_utf8("\x80"));              // lone continuation
}

TEST(Utf8, IncompleteTailIsTheCutOffStartOfASequenceOnly) {
  const std::string emoji = "\xF0\x9F\x98\x80";
  for (std::size_t cut = 1; cut < emoji.size(); ++cut)
    EXPECT_EQ(utf8_incomplete_tail("ab" + emoji.substr(0, cut)), cut) << cut;
  EXPECT_EQ(utf8_incomplete_tail("caf\xC3"), 1u);
  EXPECT_EQ(utf8_incomplete_tail("\xE2\x82"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("caf\xC3\xA9"), 0u) << "complete";
  EXPECT_EQ(utf8_incomplete_tail("ab" + emoji), 0u) << "complete";
  EXPECT_EQ(utf8_incomplete_tail("ascii"), 0u);
  EXPECT_EQ(utf8_incomplete_tail(""), 0u);
  EXPECT_EQ(utf8_incomplete_tail("\xED\xA0"), 0u) << "a surrogate can never complete";
  EXPECT_EQ(utf8_incomplete_tail("\xF0\x80"), 0u) << "an overlong can never complete";
  EXPECT_EQ(utf8_incomplete_tail("\xFF"), 0u) << "not a lead byte";
  EXPECT_EQ(utf8_incomplete_tail("\x80\x80\x80"), 0u) << "continuations without a lead";
}

}  // namespace
}  // namespace yoi
