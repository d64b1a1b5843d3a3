// Config bundles: the canonical form and digest against an independent
// computation, and what a bundle body may be.
#include "yoi/profiles/bundle.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace yoi::profiles {
namespace {

namespace bj = boost::json;

std::string slurp(const std::string& name) {
  std::ifstream in(std::string(YOI_PROFILES_GOLDEN) + "/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fixture's canonical text and digest were computed at authoring time
// by Python (json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=False) and hashlib.sha256), then checked with sha256sum.
TEST(BundleGolden, DigestMatchesAnIndependentComputation) {
  auto profiles = bj::parse(slurp("bundle_profiles.json")).as_object();
  EXPECT_EQ(canonical(profiles), slurp("bundle_profiles.canonical"));
  auto want = slurp("bundle_profiles.sha256");
  want.erase(want.find_last_not_of("\n") + 1);
  EXPECT_EQ(digest(profiles), want);
  auto b = parse_bundle(want, bj::object{{"digest", want}, {"profiles", profiles}});
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->parsed.at("reviewer").tools, (std::vector<std::string>{"read", "grep", "glob"}));
}

TEST(BundleCanonical, SameProfilesSameDigestWhateverTheOrderOrSpacing) {
  auto a = bj::parse(R"({"b": {"engine": "echo", "max_steps": 3}, "a": {"tools": ["read"]}})").as_object();
  auto b = bj::parse(R"({ "a" : { "tools" : [ "read" ] } ,
                          "b" : { "max_steps" : 3, "engine" : "echo" } })").as_object();
  EXPECT_EQ(digest(a), digest(b));
  EXPECT_EQ(canonical(a), R"({"a":{"tools":["read"]},"b":{"engine":"echo","max_steps":3}})");
  b["b"].as_object()["max_steps"] = 4;
  EXPECT_NE(digest(a), digest(b));
}

TEST(BundleCanonical, NumbersAreWrittenAsECMAScriptDoes) {
  struct Case {
    double v;
    const char* text;
  } cases[] = {{1.0, "1"}, {0.5, "0.5"}, {-2.25, "-2.25"}, {1e-7, "1e-7"}, {1e21, "1e+21"},
               {123456.0, "123456"}, {0.000001, "0.000001"}, {1.5e300, "1.5e+300"}, {0.0, "0"}};
  for (const auto& c : cases) EXPECT_EQ(canonical(bj::value(c.v)), c.text) << c.v;
  EXPECT_EQ(canonical(bj::value(std::int64_t(42))), "42");
  EXPECT_EQ(canonical(bj::value("\x01\x1f")), R"("\u0001\u001f")");
}

TEST(BundleParse, ADigestMismatchIsTyped) {
  auto profiles = bj::parse(R"({"p": {"engine": "echo"}})").as_object();
  auto right = digest(profiles);
  auto wrong = std::string(64, '0');
  auto r = parse_bundle(wrong, bj::object{{"profiles", profiles}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::bundle_digest_mismatch);
  EXPECT_TRUE(parse_bundle(right, bj::object{{"profiles", profiles}}));
}

TEST(BundleParse, BadShapesAndBadProfilesAreNamed) {
  auto bad = bj::parse(R"({"p": {"engine": "echo", "tools": ["read", "sudo"]}})").as_object();
  auto r = parse_bundle(digest(bad), bj::object{{"profiles", bad}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::invalid_request);
  EXPECT_NE(r.error().message.find("'profiles.p.tools'"), std::string::npos) << r.error().message;
  auto keyed = bj::parse(R"({"p": {"api_key": "sk-canary"}})").as_object();
  auto k = parse_bundle(digest(keyed), bj::object{{"profiles", keyed}});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message.find("sk-canary"), std::string::npos);
  EXPECT_FALSE(parse_bundle("ABC", bj::object{{"profiles", bad}}));
  auto empty = bj::object{};
  EXPECT_FALSE(parse_bundle(digest(empty), bj::object{{"profiles", empty}}));
  EXPECT_FALSE(parse_bundle(digest(bad), bj::object{{"profiles", bad}, {"extra", 1}}));
  EXPECT_FALSE(parse_bundle(digest(bad), bj::value("x")));
}

}  // namespace
}  // namespace yoi::profiles
