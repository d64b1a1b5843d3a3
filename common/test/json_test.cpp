#include <gtest/gtest.h>

#include "yoi/json.hpp"

namespace yoi {
namespace {

TEST(Json, ParseEnforcesSizeSyntaxAndDepth) {
  EXPECT_TRUE(json::parse(R"({"a":1})"));
  auto big = json::parse(std::string(100, ' '), 10);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Code::payload_too_large);
  auto bad = json::parse("{nope");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::invalid_request);
  auto deep = json::parse(std::string(1000, '[') + std::string(1000, ']'));
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code, Code::invalid_request);
  auto arr = json::parse_object("[1]");
  ASSERT_FALSE(arr);
  EXPECT_EQ(arr.error().code, Code::invalid_request);
  auto empty = json::parse_object("  ", 10, true);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(json::parse_object("", 10, false));
}

TEST(Json, IsObjectTextChecksTheGrammarWithoutBuilding) {
  EXPECT_TRUE(json::is_object_text(R"({"a":[1,2.5,"x\u00e9",true,null,{"b":{}}]})"));
  EXPECT_TRUE(json::is_object_text("{}"));
  EXPECT_FALSE(json::is_object_text("[1]"));          // not an object
  EXPECT_FALSE(json::is_object_text("\"s\""));
  EXPECT_FALSE(json::is_object_text(""));
  EXPECT_FALSE(json::is_object_text(R"({"a":1)"));     // truncated
  EXPECT_FALSE(json::is_object_text(R"({"a":1}})"));   // trailing bytes
  EXPECT_FALSE(json::is_object_text(R"({"a":1},{"b":2})"));
  EXPECT_FALSE(json::is_object_text(R"({"a":"\x"})")); // bad escape
  EXPECT_FALSE(json::is_object_text("{\"a\":\"\xff\"}"));  // not UTF-8
  EXPECT_FALSE(json::is_object_text("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}"));  // depth
}

// A document read in place, value by value: the size of the object at the
// front, whatever follows it; 0 for anything else.
TEST(Json, LeadingObjectSizeIsTheObjectAtTheFrontOnly) {
  std::string_view obj = R"({"a":[1,{"b":"}"}],"c":"\"}"})";
  EXPECT_EQ(json::leading_object_size(obj), obj.size());
  EXPECT_EQ(json::leading_object_size(std::string(obj) + R"(,"x":1}])"), obj.size());
  EXPECT_EQ(json::leading_object_size(std::string(obj) + "  \n ,"), obj.size()) << "whitespace after it is not its";
  EXPECT_EQ(json::leading_object_size("{}}"), 2u);
  EXPECT_EQ(json::leading_object_size(" {}"), 0u) << "not at the front";
  EXPECT_EQ(json::leading_object_size("[1]"), 0u);
  EXPECT_EQ(json::leading_object_size(""), 0u);
  EXPECT_EQ(json::leading_object_size(R"({"a":1)"), 0u) << "truncated";
  EXPECT_EQ(json::leading_object_size(R"({"a":"\x"},)"), 0u) << "bad escape";
  EXPECT_EQ(json::leading_object_size("{\"a\":\"\xff\"},"), 0u) << "not UTF-8";
  EXPECT_EQ(json::leading_object_size("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "},"), 0u)
      << "depth";
}

TEST(Json, TypedFieldsNameTheKey) {
  auto o = json::parse_object(R"({"s":"x","n":5,"b":true,"z":null,"wrong":1})").value();
  EXPECT_EQ(json::req_string(o, "s").value(), "x");
  EXPECT_EQ(json::opt_int(o, "n").value(), 5);
  EXPECT_EQ(json::opt_bool(o, "b").value(), true);
  EXPECT_FALSE(json::opt_string(o, "z").value().has_value());
  EXPECT_FALSE(json::opt_string(o, "absent").value().has_value());
  auto wrong = json::opt_string(o, "wrong");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Code::invalid_request);
  EXPECT_NE(wrong.error().message.find("'wrong'"), std::string::npos);
  auto missing = json::req_string(o, "absent");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("'absent'"), std::string::npos);
  auto unknown = json::only_keys(o, {"s", "n", "b", "z"}, "body");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("'wrong'"), std::string::npos);
}

TEST(Json, ErrorBodyHasTheWireShape) {
  auto body = json::error_body(Error{Code::worker_busy, "busy"});
  EXPECT_EQ(json::serialize(body), R"({"error":{"code":"worker_busy","message":"busy"}})");
}

}  // namespace
}  // namespace yoi
