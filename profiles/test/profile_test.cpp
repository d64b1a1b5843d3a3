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

// The bash keys and permission rules (ARCHITECTURE §14, §15) through both
// front-ends: a bundle's profile carries them as its TOML source wrote them,
// and a bad rule is named by its entry (in TOML also by its line).
TEST(Profiles, SandboxKeysAndPermissionsTravelInABundle) {
  auto t = toml_profile(
      "[profiles.p]\nengine = \"echo\"\ntools = [\"read\", \"bash\"]\nnetwork = true\nmax_bash_timeout_ms = 5000\n"
      "[[profiles.p.permissions]]\ntool = \"write\"\npattern = \"src/**\"\naction = \"allow\"\n"
      "[[profiles.p.permissions]]\ntool = \"bash\"\naction = \"deny\"\n",
      Origin::server_config);
  ASSERT_TRUE(t) << t.error().message;
  auto j = from_json("p", t->body);
  ASSERT_TRUE(j) << j.error().message;
  for (const auto* p : {&t->profile, &*j}) {
    EXPECT_EQ(p->sandbox, "bwrap");
    EXPECT_TRUE(p->network);
    EXPECT_EQ(p->max_bash_timeout, std::chrono::milliseconds(5000));
    ASSERT_EQ(p->permissions.size(), 2u);
    EXPECT_EQ(p->permissions[0], (tools::Rule{"write", "src/**", tools::Action::allow}));
    EXPECT_EQ(p->permissions[1], (tools::Rule{"bash", std::nullopt, tools::Action::deny}));
  }

  auto bad = from_json("p", bj::parse(R"({"permissions": [{"tool": "read", "action": "allow"},
                                                         {"tool": "read", "action": "maybe"}]})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::invalid_request);
  EXPECT_NE(bad.error().message.find("'profiles.p.permissions' entry 2: action 'maybe'"), std::string::npos)
      << bad.error().message;
  auto bad_toml = toml_profile("[profiles.p]\n\n[[profiles.p.permissions]]\ntool = \"rm\"\naction = \"allow\"\n",
                               Origin::runtime_config);
  ASSERT_FALSE(bad_toml);
  EXPECT_NE(bad_toml.error().message.find("t.toml:3: 'profiles.p.permissions' entry 1 (line 3): unknown tool 'rm'"),
            std::string::npos)
      << bad_toml.error().message;

  // Unsandboxed bash is the runtime host's own choice.
  const char* none = "[profiles.p]\nengine = \"echo\"\nsandbox = \"none\"\n";
  auto own = toml_profile(none, Origin::runtime_config);
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->profile.sandbox, "none");
  auto server = toml_profile(none, Origin::server_config);
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("t.toml:3: 'profiles.p.sandbox'"), std::string::npos) << server.error().message;
  EXPECT_FALSE(from_json("p", bj::parse(R"({"sandbox": "none"})")));
  EXPECT_FALSE(from_json("p", bj::parse(R"({"network": "yes"})")));
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
