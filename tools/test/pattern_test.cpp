#include <gtest/gtest.h>

#include <string>

#include "yoi/tools/pattern.hpp"

namespace yoi::tools {
namespace {

bool m(std::string_view pattern, std::string_view path) { return PathPattern(pattern).matches(path); }

TEST(PathPattern, StarStaysWithinASegment) {
  EXPECT_TRUE(m("*.cpp", "a.cpp"));
  EXPECT_FALSE(m("*.cpp", "src/a.cpp"));
  EXPECT_TRUE(m("src/*.cpp", "src/a.cpp"));
  EXPECT_FALSE(m("src/*.cpp", "src/x/a.cpp"));
  EXPECT_TRUE(m("a?c", "abc"));
  EXPECT_FALSE(m("a?c", "a/c"));
}

TEST(PathPattern, DoubleStarSpansZeroOrMoreSegments) {
  EXPECT_TRUE(m("**/*.cpp", "a.cpp"));
  EXPECT_TRUE(m("**/*.cpp", "x/y/z/a.cpp"));
  EXPECT_TRUE(m("src/**/test/*.cpp", "src/test/a.cpp"));
  EXPECT_TRUE(m("src/**/test/*.cpp", "src/a/b/test/a.cpp"));
  EXPECT_FALSE(m("src/**/test/*.cpp", "lib/a/test/a.cpp"));
  EXPECT_TRUE(m("**", "anything/at/all"));
  EXPECT_TRUE(m("./src/**/*.cpp", "src/x/a.cpp"));
}

TEST(PathPattern, ClassesAndEscapes) {
  EXPECT_TRUE(m("[abc].txt", "b.txt"));
  EXPECT_FALSE(m("[abc].txt", "d.txt"));
  EXPECT_TRUE(m("[a-c]x", "cx"));
  EXPECT_TRUE(m("[!a-c]x", "dx"));
  EXPECT_FALSE(m("[!a-c]x", "ax"));
  EXPECT_TRUE(m("\\*", "*"));
  EXPECT_FALSE(m("\\*", "a"));
  EXPECT_TRUE(m("[x", "[x"));  // unclosed class: literal
}

TEST(PathPattern, ManyDoubleStarsStayPolynomial) {
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "**/a*/";
  pattern += "b";
  std::string path;
  for (int i = 0; i < 500; ++i) path += "aaaa/";
  path += "c";
  EXPECT_FALSE(m(pattern, path));  // O(P×D) steps, not exponential: returns at once
  EXPECT_FALSE(m(std::string(200, '*') + "b", std::string(4000, 'a')));
}

IgnoreRules::Verdict v(std::string_view text, std::string_view rel, bool dir = false) {
  return IgnoreRules::parse(text).match(rel, dir);
}
constexpr auto ignore = IgnoreRules::Verdict::ignore;
constexpr auto include = IgnoreRules::Verdict::include;
constexpr auto none = IgnoreRules::Verdict::none;

TEST(Gitignore, UnanchoredNamesMatchAtAnyDepth) {
  EXPECT_EQ(v("*.log\n", "a.log"), ignore);
  EXPECT_EQ(v("*.log\n", "x/y/a.log"), ignore);
  EXPECT_EQ(v("build\n", "x/build", true), ignore);
  EXPECT_EQ(v("*.log\n", "a.txt"), none);
}

TEST(Gitignore, LeadingOrMiddleSlashAnchors) {
  EXPECT_EQ(v("/build\n", "build", true), ignore);
  EXPECT_EQ(v("/build\n", "x/build", true), none);
  EXPECT_EQ(v("doc/*.txt\n", "doc/a.txt"), ignore);
  EXPECT_EQ(v("doc/*.txt\n", "x/doc/a.txt"), none);
}

TEST(Gitignore, TrailingSlashMatchesDirectoriesOnly) {
  EXPECT_EQ(v("out/\n", "out", true), ignore);
  EXPECT_EQ(v("out/\n", "out", false), none);
}

TEST(Gitignore, NegationAndLastMatchWins) {
  const char* rules = "*.log\n!keep.log\n";
  EXPECT_EQ(v(rules, "a.log"), ignore);
  EXPECT_EQ(v(rules, "keep.log"), include);
  EXPECT_EQ(v("!keep.log\n*.log\n", "keep.log"), ignore);
}

TEST(Gitignore, DoubleStarCommentsBlanksAndEscapes) {
  EXPECT_EQ(v("a/**/z\n", "a/b/c/z"), ignore);
  EXPECT_EQ(v("a/**/z\n", "a/z"), ignore);
  EXPECT_EQ(v("# comment\n\n   \n", "# comment"), none);
  EXPECT_EQ(v("\\#name\n", "#name"), ignore);
  EXPECT_EQ(v("\\!bang\n", "!bang"), ignore);
  EXPECT_EQ(v("trailing.txt   \r\n", "trailing.txt"), ignore);
}

}  // namespace
}  // namespace yoi::tools
