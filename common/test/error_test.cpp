#include <gtest/gtest.h>

#include "yoi/error.hpp"

namespace yoi {
namespace {

TEST(Error, NamesRoundTripAndStatusesFollowTheTable) {
  for (int i = 0; i <= static_cast<int>(Code::internal); ++i) {
    Code c = static_cast<Code>(i);
    Code back{};
    ASSERT_TRUE(code_from_name(code_name(c), back)) << code_name(c);
    EXPECT_EQ(back, c);
  }
  EXPECT_EQ(http_status(Code::invalid_id), 400);
  EXPECT_EQ(http_status(Code::unauthorized), 401);
  EXPECT_EQ(http_status(Code::runtime_auth_failed), 401);
  EXPECT_EQ(http_status(Code::worker_not_found), 404);
  EXPECT_EQ(http_status(Code::runtime_not_found), 404);
  EXPECT_EQ(http_status(Code::worker_busy), 409);
  EXPECT_EQ(http_status(Code::worker_exists), 409);
  EXPECT_EQ(http_status(Code::worker_stopped), 409);
  EXPECT_EQ(http_status(Code::payload_too_large), 413);
  EXPECT_EQ(http_status(Code::unsupported), 501);
  EXPECT_EQ(http_status(Code::runtime_unreachable), 502);
  EXPECT_EQ(http_status(Code::runtime_error), 502);
  EXPECT_EQ(http_status(Code::runtime_bad_response), 502);
  EXPECT_EQ(http_status(Code::runtime_timeout), 504);
  EXPECT_EQ(http_status(Code::runtime_busy), 503);
  Code out{};
  EXPECT_FALSE(code_from_name("no_such_code", out));
}

// runtime_busy tells the client when to come back; nothing else does yet.
TEST(Error, RetryAfterComesFromTheTable) {
  EXPECT_EQ(retry_after_seconds(Code::runtime_busy), 1);
  EXPECT_EQ(retry_after_seconds(Code::runtime_timeout), 0);
  EXPECT_EQ(retry_after_seconds(Code::worker_busy), 0);
}

}  // namespace
}  // namespace yoi
