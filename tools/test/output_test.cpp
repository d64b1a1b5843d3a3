#include <gtest/gtest.h>

#include <string>

#include "yoi/tools/output.hpp"

namespace yoi::tools {
namespace {

TEST(BoundOutput, ShortValidTextIsUnchanged) {
  Bounded b = bound_output("hello\nworld\n", 100);
  EXPECT_EQ(b.text, "hello\nworld\n");
  EXPECT_FALSE(b.truncated);
}

TEST(BoundOutput, KeepsHeadAndTailWithAMarkerBetween) {
  std::string text = std::string(5000, 'h') + std::string(90000, 'm') + std::string(5000, 't');
  Bounded b = bound_output(text, 1000);
  EXPECT_TRUE(b.truncated);
  EXPECT_EQ(b.text, std::string(500, 'h') + "\n… [99000 bytes elided] …\n" + std::string(500, 't'));
}

TEST(BoundOutput, NeverCutsInsideAUtf8Sequence) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  for (std::size_t max = 1; max < 120; ++max) {
    Bounded b = bound_output(text, max);
    EXPECT_TRUE(b.truncated);
    EXPECT_TRUE(valid_utf8(b.text)) << "max " << max;
    std::size_t marker = b.text.find("\n… [");
    ASSERT_NE(marker, std::string::npos);
    EXPECT_LE(marker, max / 2);  // the head stays within its half
    EXPECT_LE(b.text.size() - b.text.find("] …\n") - 5, max);
  }
}

TEST(BoundOutput, InvalidUtf8BecomesReplacementCharacters) {
  Bounded b = bound_output("ok\xFF\xC3(\xED\xA0\x80", 100);  // stray, truncated, surrogate
  EXPECT_TRUE(valid_utf8(b.text));
  EXPECT_EQ(b.text, "ok\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8, ValidityFollowsTheStandard) {
  EXPECT_TRUE(valid_utf8("plain \xC3\xA9 \xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));          // truncated
}

TEST(Utf8, PrefixStopsBeforeAPartialSequence) {
  EXPECT_EQ(utf8_prefix("ab\xE2\x82\xAC", 4), "ab");
  EXPECT_EQ(utf8_prefix("ab\xE2\x82\xAC", 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(utf8_prefix("abc", 2), "ab");
}

// A stream fed in pieces answers what bound_output answers for the whole
// text, whatever the piece size; a stream too long to hold keeps the same
// head and tail and counts everything between.
TEST(OutputCapture, MatchesBoundOutputOfTheWholeStream) {
  std::string text = std::string(5000, 'h') + "é€😀" + std::string(90000, 'm') + std::string(5000, 't');
  for (std::size_t piece : {1u, 7u, 4096u, 200000u})
    for (std::size_t max : {1000u, 3000u, 120000u}) {
      OutputCapture c(max);
      for (std::size_t i = 0; i < text.size(); i += piece) c.append(std::string_view(text).substr(i, piece));
      EXPECT_EQ(c.total(), text.size());
      auto want = bound_output(text, max);
      auto got = c.finish();
      EXPECT_EQ(got.text, want.text) << "piece " << piece << " max " << max;
      EXPECT_EQ(got.truncated, want.truncated);
    }
}

TEST(OutputCapture, HoldsAtMostAFewTimesItsBoundForAnyStream) {
  OutputCapture c(1024);
  std::string chunk(65536, 'x');
  for (int i = 0; i < 2000; ++i) c.append(chunk);  // 128 MiB
  c.append("the end\n");
  auto b = c.finish();
  EXPECT_TRUE(b.truncated);
  EXPECT_LE(b.text.size(), 1024u + 64u);
  EXPECT_TRUE(b.text.ends_with("the end\n"));
  EXPECT_NE(b.text.find("bytes elided"), std::string::npos);
}

TEST(Utf8, CompletePrefixHoldsBackAnUnfinishedSequence) {
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82"), 2u);        // € missing its last byte
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82\xAC"), 5u);    // € whole
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98"), 0u);      // 😀 missing one
  EXPECT_EQ(utf8_complete_prefix("a\x80"), 2u);               // a stray continuation: not held
}

}  // namespace
}  // namespace yoi::tools
