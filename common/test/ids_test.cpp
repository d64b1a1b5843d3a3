#include <gtest/gtest.h>

#include "yoi/ids.hpp"

namespace yoi {
namespace {

TEST(Ids, AcceptsTheDocumentedAlphabet) {
  for (std::string ok : std::vector<std::string>{"a", "Z", "0", "worker-1", "a_b:c-d", std::string(120, 'x')})
    EXPECT_TRUE(is_valid_id(ok)) << ok;
}

TEST(Ids, RejectsPathLikeOverlongAndOddIds) {
  for (std::string bad : std::vector<std::string>{"", "-a", "_a", ":a", "../x", "a/b", "a\\b", ".", "..",
                                                  "a b", "a\nb", std::string(121, 'x'), "é", "a%2e",
                                                  std::string("a\0b", 3)}) {
    EXPECT_FALSE(is_valid_id(bad)) << bad;
    auto r = validate_id(bad, "worker_id");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::invalid_id);
    EXPECT_NE(r.error().message.find("worker_id"), std::string::npos);
  }
}

TEST(Ids, PathEncodingIsSafeAndReversible) {
  for (std::string id : std::vector<std::string>{"plain", "a:b", "a_b", "A-Z_09:x", "a" + std::string(119, ':')}) {
    auto enc = encode_for_path(id);
    EXPECT_EQ(enc.find('/'), std::string::npos);
    EXPECT_EQ(enc.find(':'), std::string::npos);
    EXPECT_EQ(enc.find('.'), std::string::npos);
    auto dec = decode_from_path(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, id);
  }
  // Case-distinct ids stay distinct; '_' cannot collide with an escape.
  EXPECT_NE(encode_for_path("a_3a"), encode_for_path("a:"));
  EXPECT_FALSE(decode_from_path("a_"));
  EXPECT_FALSE(decode_from_path("a_zz"));
  EXPECT_FALSE(decode_from_path("_2f"));  // decodes to "/", not a valid id
}

}  // namespace
}  // namespace yoi
