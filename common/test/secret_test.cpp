#include <gtest/gtest.h>

#include <fmt/format.h>

#include "yoi/log.hpp"
#include "yoi/secret.hpp"

namespace yoi {
namespace {

TEST(Secret, FormatsAsRedacted) {
  Secret s("tok-CANARY-123");
  EXPECT_EQ(fmt::format("{}", s), "<redacted>");
  EXPECT_EQ(fmt::format("token={}!", s), "token=<redacted>!");
  EXPECT_EQ(s.expose(), "tok-CANARY-123");
}

TEST(Secret, NeverReachesALogLine) {
  std::vector<std::string> lines;
  int id = log::add_capture([&](std::string_view l) { lines.emplace_back(l); });
  Secret s("tok-CANARY-456");
  spdlog::warn("connecting with {}", s);
  log::remove_capture(id);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("CANARY"), std::string::npos);
  EXPECT_NE(lines[0].find("<redacted>"), std::string::npos);
}

TEST(Secret, EqualsIsExact) {
  Secret s("abc");
  EXPECT_TRUE(s.equals("abc"));
  EXPECT_FALSE(s.equals("abd"));
  EXPECT_FALSE(s.equals("ab"));
  EXPECT_FALSE(s.equals("abcd"));
  EXPECT_FALSE(s.equals(""));
  EXPECT_FALSE(Secret().equals("")) << "an empty secret matches nothing";
}

}  // namespace
}  // namespace yoi
