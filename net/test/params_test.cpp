// net::input_body (params.hpp): the common input body is read without a DOM
// (issue 22); every body must decode exactly as the DOM path decodes it,
// value or error, whichever path takes it.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "yoi/json.hpp"
#include "yoi/net/params.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::net {
namespace {

// The DOM path, as input_body decoded every body before issue 22.
Result<rt::Input> by_dom(const std::string& body, std::size_t max_body, const rt::Limits& limits) {
  return json::parse_object(body, max_body, false).and_then([&](const boost::json::object& o) {
    return rt::wire::input_from_json(o, limits);
  });
}

TEST(InputBody, DecodesEveryBodyAsTheDomPathDoes) {
  rt::Limits limits;
  limits.max_content_bytes = 8;
  const std::size_t max_body = 200;
  const std::vector<std::string> bodies = {
      R"({"content":"hi"})",
      R"({"content":"hi","client_message_id":"m-1"})",
      R"({"client_message_id":"m:1_x","content":"hi"})",
      R"(  { "content" : "hi" }  )",
      R"({"content":"h\u0069\n"})",            // escaped: the parser hands it over in parts
      R"({"con\u0074ent":"hi"})",              // an escaped key
      R"({"content":"12345678"})",             // at the limit
      R"({"content":"123456789"})",            // over it
      R"({"content":"\u00e9\u00e9\u00e9\u00e9\u00e9"})",  // 10 bytes once decoded
      R"({"content":""})",
      R"({"content":"a","content":"b"})",
      R"({"content":"a","client_message_id":"x","client_message_id":"y"})",
      R"({"content":"a","extra":1})",
      R"({"content":"a","client_message_id":null})",
      R"({"content":"a","client_message_id":""})",
      R"({"content":"a","client_message_id":"has space"})",
      R"({"content":"a","client_message_id":7})",
      R"({"content":7})",
      R"({"content":null})",
      R"({"content":["a"]})",
      R"({"content":{"a":1}})",
      R"({"client_message_id":"m"})",
      R"({})",
      R"([])",
      R"("hi")",
      R"({"content":"a"} x)",
      R"({"content":"a")",
      "",
      "{\"content\":\"\xff\"}",  // not UTF-8
      R"({"content":"a", /* c */ "client_message_id":"m"})",
      std::string(R"({"content":"a","pad":")") + std::string(300, 'x') + "\"}",  // over max_body
  };
  for (const auto& body : bodies) {
    Request req;
    req.body = body;
    auto fast = input_body(req, max_body, limits);
    auto slow = by_dom(body, max_body, limits);
    ASSERT_EQ(fast.has_value(), slow.has_value()) << body;
    if (slow) {
      EXPECT_EQ(fast->content, slow->content) << body;
      EXPECT_EQ(fast->client_message_id, slow->client_message_id) << body;
    } else {
      EXPECT_EQ(fast.error().code, slow.error().code) << body;
      EXPECT_EQ(fast.error().message, slow.error().message) << body;
    }
  }
}

TEST(InputBody, KeepsTheClientsMessageId) {
  Request req;
  req.body = R"({"content":"hi","client_message_id":"m-7"})";
  auto in = input_body(req, 100, rt::Limits{});
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(in->content, "hi");
  EXPECT_EQ(in->client_message_id, std::optional<std::string>("m-7"));
}

}  // namespace
}  // namespace yoi::net
