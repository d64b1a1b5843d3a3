// is_plain_accepted (src/accepted_text.hpp): an input's acceptance passes on
// as the runtime sent it only when decoding and encoding it again would say
// the same; anything else is declined, so the slow path decides (issue 22).

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "accepted_text.hpp"
#include "yoi/json.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::backend::detail {
namespace {

namespace bj = boost::json;

TEST(PlainAccepted, TakesWhatTheRuntimeEncodesAndMeansTheSameAsDecodingIt) {
  for (const std::string text : {
           R"({"accepted":true,"run_id":"r-1","seq":3,"client_message_id":"m-1","duplicate":false})",
           R"({"accepted":true,"run_id":"r-1","seq":3,"duplicate":true})",
           R"({ "duplicate":false, "seq":18446744073709551615, "run_id":"r\u002d1", "accepted":true })",
       }) {
    ASSERT_TRUE(is_plain_accepted(text)) << text;
    // Passing it on says what the slow path would: decoded and encoded again.
    auto v = json::parse(text, 1000);
    ASSERT_TRUE(v);
    auto a = rt::wire::accepted_from_json(*v);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(bj::value(rt::wire::to_json(*a)), *v) << text;
  }
  // What yoi-runtime sends, byte for byte.
  rt::InputAccepted a{"r-9", 12, std::string("srv-00ff"), false};
  EXPECT_TRUE(is_plain_accepted(json::serialize(rt::wire::to_json(a))));
}

TEST(PlainAccepted, DeclinesWhatTheSlowPathWouldChangeOrRefuse) {
  for (const std::string text : {
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false,"extra":1})",       // dropped by the slow path
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false,"x":{"a":[1]}})",   // nested
           R"({"accepted":false,"run_id":"r","seq":1,"duplicate":false})",               // re-encoded as true
           R"({"run_id":"r","seq":1,"duplicate":false})",                                // accepted added
           R"({"accepted":true,"run_id":"r","seq":1})",                                  // duplicate added
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false,"client_message_id":""})",  // dropped
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false,"client_message_id":7})",
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":"no"})",
           R"({"accepted":true,"run_id":"","seq":1,"duplicate":false})",                 // an error
           R"({"accepted":true,"seq":1,"duplicate":false})",                             // an error
           R"({"accepted":true,"run_id":"r","duplicate":false})",                        // an error
           R"({"accepted":true,"run_id":"r","seq":-1,"duplicate":false})",
           R"({"accepted":true,"run_id":"r","seq":1.5,"duplicate":false})",
           R"({"accepted":true,"run_id":"r","seq":null,"duplicate":false})",
           R"({"accepted":true,"run_id":"r","run_id":"s","seq":1,"duplicate":false})",   // repeated
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false} x)",
           R"({"accepted":true,"run_id":"r","seq":1,"duplicate":false)",
           R"([{"accepted":true,"run_id":"r","seq":1,"duplicate":false}])",
           R"( {"accepted":true,"run_id":"r","seq":1,"duplicate":false})",
           "<html>not json</html>",
           "",
       })
    EXPECT_FALSE(is_plain_accepted(text)) << text;
}

}  // namespace
}  // namespace yoi::backend::detail
