#include <gtest/gtest.h>

#include <random>
#include <string>

#include "yoi/tools/diff.hpp"

namespace yoi::tools {
namespace {

// What edit does: replace the first (or every) occurrence, then diff.
std::string edit_diff(const std::string& old_text, const std::string& from, const std::string& to,
                      bool all = false) {
  std::vector<std::size_t> at;
  for (auto p = old_text.find(from); p != std::string::npos; p = old_text.find(from, p + from.size())) {
    at.push_back(p);
    if (!all) break;
  }
  std::string updated;
  std::size_t prev = 0;
  for (auto p : at) {
    updated += old_text.substr(prev, p - prev) + to;
    prev = p + from.size();
  }
  updated += old_text.substr(prev);
  auto blocks = replacement_blocks(old_text, updated, at, from.size(), to.size());
  return unified_diff("f", split_lines(old_text), split_lines(updated), blocks);
}

std::string numbered(int n, int x1 = 0, int x2 = 0) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += (i == x1 || i == x2) ? "x\n" : "l" + std::to_string(i) + "\n";
  return s;
}

const std::string kHeader = "--- f\n+++ f\n";

// Expected texts below are GNU diff -u's output for the same files.
TEST(UnifiedDiff, OneLineInTheMiddleWithThreeLinesOfContext) {
  EXPECT_EQ(edit_diff(numbered(10), "l5\n", "five\n"),
            kHeader + "@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+five\n l6\n l7\n l8\n");
}

TEST(UnifiedDiff, FirstLine) {
  EXPECT_EQ(edit_diff(numbered(10), "l1\n", "one\n"), kHeader + "@@ -1,4 +1,4 @@\n-l1\n+one\n l2\n l3\n l4\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  EXPECT_EQ(edit_diff(numbered(25, 2, 20), "x\n", "y\n", true),
            kHeader + "@@ -1,5 +1,5 @@\n l1\n-x\n+y\n l3\n l4\n l5\n"
                      "@@ -17,7 +17,7 @@\n l17\n l18\n l19\n-x\n+y\n l21\n l22\n l23\n");
}

TEST(UnifiedDiff, NearChangesShareAHunk) {
  EXPECT_EQ(edit_diff(numbered(25, 2, 8), "x\n", "y\n", true),
            kHeader + "@@ -1,11 +1,11 @@\n l1\n-x\n+y\n l3\n l4\n l5\n l6\n l7\n-x\n+y\n l9\n l10\n l11\n");
}

TEST(UnifiedDiff, DeletedLine) {
  EXPECT_EQ(edit_diff(numbered(10), "l5\n", ""), kHeader + "@@ -2,7 +2,6 @@\n l2\n l3\n l4\n-l5\n l6\n l7\n l8\n");
}

TEST(UnifiedDiff, NoNewlineAtEndOfFile) {
  EXPECT_EQ(edit_diff("a\nb\nc", "c", "C"),
            kHeader + "@@ -1,3 +1,3 @@\n a\n b\n-c\n\\ No newline at end of file\n+C\n\\ No newline at end of file\n");
  EXPECT_EQ(edit_diff("a\nb", "b", "b\n"), kHeader + "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

TEST(UnifiedDiff, JoinedLines) {
  EXPECT_EQ(edit_diff("a\nb\nc\n", "a\n", "A "), kHeader + "@@ -1,3 +1,2 @@\n-a\n-b\n+A b\n c\n");
}

TEST(UnifiedDiff, InsertedLines) {
  EXPECT_EQ(edit_diff("a\nb\n", "a\n", "a\nx\ny\n"), kHeader + "@@ -1,2 +1,4 @@\n a\n+x\n+y\n b\n");
}

// Applies a unified diff (this writer's output) to `old_text`, checking
// every context and removed line; "" on a mismatch.
std::string apply_diff(const std::string& old_text, const std::string& diff) {
  auto old_lines = split_lines(old_text);
  auto lines = split_lines(diff);
  std::string out;
  std::size_t cur = 0;  // next old line to copy
  for (std::size_t i = 2; i < lines.size();) {
    std::size_t start = 0, count = 0;
    if (std::sscanf(std::string(lines[i]).c_str(), "@@ -%zu", &start) != 1) return "";
    std::string header(lines[i++]);
    count = header.find(',') < header.find(' ', 4) ? std::stoul(header.substr(header.find(',') + 1)) : 1;
    std::size_t from = count == 0 ? start : start - 1;
    for (; cur < from; ++cur) out += old_lines[cur];
    for (; i < lines.size() && lines[i][0] != '@'; ++i) {
      std::string_view body = lines[i].substr(1);
      bool no_nl = i + 1 < lines.size() && lines[i + 1][0] == '\\';
      std::string text(body);
      if (no_nl) text.pop_back();
      if (lines[i][0] == ' ' || lines[i][0] == '-') {
        if (cur >= old_lines.size() || old_lines[cur] != text) return "";
        ++cur;
      }
      if (lines[i][0] == ' ' || lines[i][0] == '+') out += text;
      if (no_nl) ++i;
    }
  }
  for (; cur < old_lines.size(); ++cur) out += old_lines[cur];
  return out;
}

TEST(UnifiedDiff, RandomEditsApplyBackToTheNewText) {
  std::mt19937 rng(20);
  const std::string alphabet = "ab\n";
  auto random_text = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int iter = 0; iter < 3000; ++iter) {
    std::string old_text = random_text(5 + rng() % 60);
    std::size_t p = rng() % old_text.size();
    std::string from = old_text.substr(p, 1 + rng() % 4);
    std::string to = random_text(rng() % 5);
    if (from == to) continue;
    bool all = rng() % 2;
    std::string updated;
    {
      std::size_t prev = 0;
      for (auto q = old_text.find(from); q != std::string::npos; q = old_text.find(from, q + from.size())) {
        updated += old_text.substr(prev, q - prev) + to;
        prev = q + from.size();
        if (!all) break;
      }
      updated += old_text.substr(prev);
    }
    std::string d = edit_diff(old_text, from, to, all);
    if (updated == old_text) {
      EXPECT_EQ(d, "");
      continue;
    }
    ASSERT_EQ(apply_diff(old_text, d), updated) << "old:\n" << old_text << "\nfrom " << from << " to " << to
                                           << "\ndiff:\n" << d;
  }
}

}  // namespace
}  // namespace yoi::tools
