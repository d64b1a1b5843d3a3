// The profile rules, through both front-ends: the same keys and the same
// verdicts from a TOML table and from a bundle's JSON.
#include "yoi/profiles/profile.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <toml++/toml.h>

namespace yoi::profiles {
namespace {

namespace bj = boost::json;

Result<Parsed> toml_profile(std::string_view text, Origin origin) {
  config::File file("t.toml");
  auto root = config::parse(text, file);
  if (!root) return fail(root.error());
  for (auto&& [name, node] : *(*root)["profiles"].as_table())
    return from_toml(std::string(name.str()), node, file, origin);
  return fail(Code::internal, "no profile");
}

TEST(Profiles, TomlAndJsonFrontEndsGiveTheSameProfile) {
  auto t = toml_profile(
      "[profiles.p]\nengine = \"openai\"\nmodel = \"m\"\nbase_url_env = \"URL_VAR\"\napi_key_env = \"KEY_VAR\"\n"
      "tools = [\"read\", \"grep\"]\nmax_steps = 7\ntemperature = 0.5\ndescription = \"Reads\"\n",
      Origin::server_config);
  ASSERT_TRUE(t) << t.error().message;
  auto j = from_json("p", t->body);
  ASSERT_TRUE(j) << j.error().message;
  for (const auto* p : {&t->profile, &*j}) {
    EXPECT_EQ(p->engine, "openai");
    EXPECT_EQ(p->model, "m");
    EXPECT_EQ(p->base_url_env, "URL_VAR");
    EXPECT_EQ(p->api_key_env, "KEY_VAR");
    EXPECT_EQ(p->tools, (std::vector<std::string>{"read", "grep"}));
    EXPECT_EQ(p->max_steps, 7u);
    EXPECT_EQ(p->temperature, 0.5);
    EXPECT_EQ(p->description, "Reads");
  }
}

TEST(Profiles, AnInlineApiKeyIsAnErrorEverywhere) {
  for (auto origin : {Origin::runtime_config, Origin::server_config}) {
    auto t = toml_profile("[profiles.p]\nengine = \"echo\"\n\napi_key = \"sk-canary\"\n", origin);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("t.toml:4: 'profiles.p.api_key'"), std::string::npos) << t.error().message;
    EXPECT_EQ(t.error().message.find("sk-canary"), std::string::npos);
  }
  auto j = from_json("p", bj::parse(R"({"api_key": "sk-canary"})"));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, Code::invalid_request);
  EXPECT_NE(j.error().message.find("'profiles.p.api_key'"), std::string::npos);
  EXPECT_EQ(j.error().message.find("sk-canary"), std::string::npos);
}

TEST(Profiles, ABaseUrlIsInlineOnlyInARuntimesOwnConfig) {
  const char* text = "[profiles.p]\nengine = \"openai\"\nmodel = \"m\"\nbase_url = \"http://canary.invalid/v1\"\n";
  auto rt = toml_profile(text, Origin::runtime_config);
  ASSERT_TRUE(rt) << rt.error().message;
  EXPECT_EQ(rt->profile.base_url.expose(), "http://canary.invalid/v1");
  auto server = toml_profile(text, Origin::server_config);
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("t.toml:4: 'profiles.p.base_url'"), std::string::npos);
  EXPECT_EQ(server.error().message.find("canary"), std::string::npos);
  auto bundle = from_json("p", bj::parse(R"({"engine": "openai", "model": "m", "base_url": "http://canary.invalid"})"));
  ASSERT_FALSE(bundle);
  EXPECT_NE(bundle.error().message.find("'profiles.p.base_url'"), std::string::npos);
  auto neither = from_json("p", bj::parse(R"({"engine": "openai", "model": "m"})"));
  ASSERT_FALSE(neither);
  EXPECT_NE(neither.error().message.find("base_url_env"), std::string::npos);
}

TEST(Profiles, JsonErrorsNameTheProfileAndKey) {
  struct Case {
    const char* body;
    const char* key;
  } cases[] = {
      {R"({"engine": "gpt9"})", "'profiles.p.engine'"},
      {R"({"tools": ["read", "rm"]})", "'profiles.p.tools'"},
      {R"({"colour": "red"})", "'profiles.p.colour'"},
      {R"({"max_steps": 0})", "'profiles.p.max_steps'"},
      {R"({"max_steps": "7"})", "'profiles.p.max_steps'"},
      {R"({"system_prompt_file": "/etc/passwd"})", "'profiles.p.system_prompt_file'"},
  };
  for (const auto& c : cases) {
    auto r = from_json("p", bj::parse(c.body));
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code, Code::invalid_request);
    EXPECT_NE(r.error().message.find(c.key), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(from_json("bad name", bj::parse("{}")));
  EXPECT_FALSE(from_json("p", bj::parse("[]")));
}

TEST(Profiles, ResolveEnvFillsKeyAndUrlFromTheHost) {
  engines::ProfileConfig p;
  p.name = "p";
  p.api_key_env = "K";
  p.base_url_env = "U";
  auto env = [](const char* n) -> const char* { return std::string_view(n) == "K" ? "key" : "http://u/v1"; };
  ASSERT_TRUE(resolve_env(p, env));
  EXPECT_EQ(p.api_key.expose(), "key");
  EXPECT_EQ(p.base_url.expose(), "http://u/v1");
  auto unset = [](const char*) -> const char* { return nullptr; };
  auto r = resolve_env(p, unset, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("K "), std::string::npos) << "a browser-bound message names no variable";
  EXPECT_NE(r.error().message.find("api_key_env"), std::string::npos);
}

}  // namespace
}  // namespace yoi::profiles
