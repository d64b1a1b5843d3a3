#include "yoi/runtime_server/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "yoi/runtime_server/host.hpp"
#include "yoi/runtime_server/runtime_server.hpp"

namespace yoi::runtime_server {
namespace {

TEST(Config, ParsesEverySection) {
  auto c = parse_config(R"(
[runtime]
id = "rt-1"
display_name = "Box"
listen = "127.0.0.1:9000"
store = "fs"
data_dir = "/tmp/x"
fsync = "batch"
heartbeat_interval_ms = 2000

[limits]
max_page = 50
default_page = 20
retention_events = 500
max_body_bytes = 4096
header_timeout_ms = 2500
keep_alive_timeout_ms = 90000

[profiles.runtime_default]
engine = "echo"
echo_chunk_bytes = 3
echo_chunk_delay_ms = 7
echo_burst = 5

[profiles.gpt]
engine = "openai"
base_url = "http://127.0.0.1:8080/v1"
model = "m"
api_key_env = "KEY_VAR"
temperature = 0.5
)", "rt.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->runtime_id, "rt-1");
  EXPECT_EQ(c->store, "fs");
  EXPECT_EQ(c->fsync, "batch");
  EXPECT_EQ(c->heartbeat_interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(c->limits.max_page, 50u);
  EXPECT_EQ(c->limits.retention_events, 500u);
  EXPECT_EQ(c->max_body_bytes, 4096u);
  EXPECT_EQ(c->header_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c->keep_alive_timeout, std::chrono::milliseconds(90'000));
  ASSERT_EQ(c->profiles.size(), 2u);
  auto& def = c->profiles[0].name == "runtime_default" ? c->profiles[0] : c->profiles[1];
  auto& gpt = c->profiles[0].name == "gpt" ? c->profiles[0] : c->profiles[1];
  EXPECT_EQ(def.echo_chunk_bytes, 3u);
  EXPECT_EQ(def.echo_chunk_delay, std::chrono::milliseconds(7));
  EXPECT_EQ(def.echo_burst, 5u);
  EXPECT_EQ(gpt.echo_burst, 32u);  // the default
  EXPECT_EQ(gpt.base_url.expose(), "http://127.0.0.1:8080/v1");
  EXPECT_EQ(gpt.temperature, 0.5);
  EXPECT_EQ(gpt.api_key_env, "KEY_VAR");
}

void expect_error(std::string_view text, std::string_view key, int line) {
  auto c = parse_config(text, "f.toml");
  ASSERT_FALSE(c) << text;
  EXPECT_EQ(c.error().code, Code::config_invalid);
  EXPECT_NE(c.error().message.find(std::string(key)), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("f.toml:" + std::to_string(line)), std::string::npos) << c.error().message;
}

TEST(Config, ErrorsNameKeyAndLine) {
  expect_error("[runtime]\nid = \"a\"\nwhat = 1\n", "runtime.what", 3);
  expect_error("[nope]\nx = 1\n", "nope", 1);
  expect_error("[limits]\n\nmax_page = \"many\"\n", "limits.max_page", 3);
  expect_error("[limits]\nmax_page = -1\n", "limits.max_page", 2);
  expect_error("[limits]\nheader_timeout_ms = 5\n", "limits.header_timeout_ms", 2);
  expect_error("[runtime]\nstore = \"tape\"\n", "runtime.store", 2);
  expect_error("[runtime]\nid = \"bad id\"\n", "runtime.id", 2);
  expect_error("[profiles.p]\nengine = \"echo\"\ncolour = \"red\"\n", "profiles.p.colour", 3);
  expect_error("[profiles.p]\nengine = \"gpt9\"\n", "profiles.p.engine", 2);
  expect_error("[runtime]\nid = \n", "", 2);  // syntax error: the line is named
}

TEST(Config, ProfileToolsAndMaxStepsAreCheckedAtLoad) {
  auto c = parse_config("[profiles.p]\ntools = [\"read\", \"grep\"]\nmax_steps = 7\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->profiles.size(), 1u);
  EXPECT_EQ(c->profiles[0].tools, (std::vector<std::string>{"read", "grep"}));
  EXPECT_EQ(c->profiles[0].max_steps, 7u);
  auto d = parse_config("[profiles.p]\nengine = \"echo\"\n", "t.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->profiles[0].tools.size(), 6u) << "default: every built-in tool, bash too";
  EXPECT_EQ(d->profiles[0].max_steps, 50u);
  expect_error("[profiles.p]\n\ntools = [\"read\", \"rm\"]\n", "profiles.p.tools", 3);
  expect_error("[profiles.p]\nmax_steps = 0\n", "profiles.p.max_steps", 2);
  auto l = parse_config("[limits]\nmax_tool_output_bytes = 4096\n", "t.toml");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->limits.max_tool_output_bytes, 4096u);
  expect_error("[limits]\nmax_tool_output_bytes = 10\n", "limits.max_tool_output_bytes", 2);
  auto r = parse_config("[limits]\nmax_reply_bytes = 7340032\n", "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->limits.max_reply_bytes, 7340032u);
  EXPECT_EQ(l->limits.max_reply_bytes, 1u << 20) << "the default";
  expect_error("[limits]\nmax_reply_bytes = 10\n", "limits.max_reply_bytes", 2);
}

TEST(Config, ProfileSandboxKeysAreCheckedAtLoad) {
  auto d = parse_config("[profiles.p]\nengine = \"echo\"\n", "t.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->profiles[0].sandbox, "bwrap");
  EXPECT_FALSE(d->profiles[0].network);
  EXPECT_EQ(d->profiles[0].max_bash_timeout, std::chrono::milliseconds(600'000));
  auto c = parse_config("[profiles.p]\nsandbox = \"none\"\nnetwork = true\nmax_bash_timeout_ms = 5000\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->profiles[0].sandbox, "none");
  EXPECT_TRUE(c->profiles[0].network);
  EXPECT_EQ(c->profiles[0].max_bash_timeout, std::chrono::milliseconds(5000));
  expect_error("[profiles.p]\nsandbox = \"docker\"\n", "profiles.p.sandbox", 2);
  expect_error("[profiles.p]\nnetwork = \"yes\"\n", "profiles.p.network", 2);
  expect_error("[profiles.p]\nmax_bash_timeout_ms = 0\n", "profiles.p.max_bash_timeout_ms", 2);
  auto l = parse_config("[limits]\nmax_tool_stream_bytes = 4096\n", "t.toml");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->limits.max_tool_stream_bytes, 4096u);
}

TEST(Config, WorkspacesNeedAnExistingPathAndAKnownAccess) {
  auto dir = std::filesystem::temp_directory_path();
  auto c = parse_config("[workspaces.repo]\npath = \"" + dir.string() + "\"\naccess = \"write\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->workspaces.count("repo"), 1u);
  EXPECT_EQ(c->workspaces.at("repo").access, "write");
  expect_error("[workspaces.repo]\npath = \"/no/such/dir/yoi\"\n", "workspaces.repo.path", 1);
  expect_error("[workspaces.repo]\npath = \"" + dir.string() + "\"\naccess = \"all\"\n", "workspaces.repo.access", 3);
  expect_error("[workspaces.repo]\npath = \"" + dir.string() + "\"\ncolour = 1\n", "workspaces.repo.colour", 3);
}

TEST(Config, SystemPromptFromAFileBesideTheConfig) {
  auto dir = std::filesystem::temp_directory_path() / ("yoi-cfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "prompt.md") << "Be brief."; }
  auto source = (dir / "runtime.toml").string();
  auto ok = parse_config("[profiles.p]\nengine = \"echo\"\nsystem_prompt_file = \"prompt.md\"\n", source);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->profiles.size(), 1u);
  EXPECT_EQ(ok->profiles[0].system_prompt, "Be brief.");
  auto missing = parse_config("[profiles.p]\nsystem_prompt_file = \"absent.md\"\n", source);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("profiles.p.system_prompt_file"), std::string::npos);
  auto both = parse_config("[profiles.p]\nsystem_prompt = \"x\"\nsystem_prompt_file = \"prompt.md\"\n", source);
  EXPECT_FALSE(both);
  std::filesystem::remove_all(dir);
}

TEST(Config, ApiKeysResolveFromTheEnvironmentAndNameTheProfileWhenUnset) {
  std::vector<engines::ProfileConfig> ps(1);
  ps[0].name = "gpt";
  ps[0].api_key_env = "THE_KEY";
  auto none = [](const char*) -> const char* { return nullptr; };
  auto r = resolve_api_keys(ps, none);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("profile 'gpt'"), std::string::npos);
  EXPECT_NE(r.error().message.find("THE_KEY"), std::string::npos);
  auto some = [](const char* n) -> const char* { return std::string_view(n) == "THE_KEY" ? "sk-canary" : nullptr; };
  ASSERT_TRUE(resolve_api_keys(ps, some));
  EXPECT_EQ(ps[0].api_key.expose(), "sk-canary");
}

TEST(Config, TokenFromEnvironmentAndListenPolicy) {
  auto env = [](const char* n) -> const char* {
    return std::string_view(n) == "YOI_RUNTIME_TOKEN" ? "tok" : nullptr;
  };
  auto t = resolve_token("", env);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->equals("tok"));
  auto missing = resolve_token("/nonexistent/token", env);
  EXPECT_FALSE(missing);
  EXPECT_TRUE(check_listen_policy("127.0.0.1", Secret(), kRuntimeTokenSources));
  EXPECT_TRUE(check_listen_policy("localhost", Secret(), kRuntimeTokenSources));
  EXPECT_FALSE(check_listen_policy("0.0.0.0", Secret(), kRuntimeTokenSources));
  EXPECT_TRUE(check_listen_policy("0.0.0.0", Secret("x"), kRuntimeTokenSources));
}

// Issue 19: a token by default; --no-auth on loopback only.
TEST(Config, AuthModeNeedsATokenOrNoAuthOnLoopback) {
  EXPECT_TRUE(check_auth_mode("yoi-runtime", "127.0.0.1", Secret("t"), false, kRuntimeTokenSources));
  auto none = check_auth_mode("yoi-runtime", "127.0.0.1", Secret(), false, kRuntimeTokenSources);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("--no-auth"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find("YOI_RUNTIME_TOKEN"), std::string::npos) << none.error().message;
  EXPECT_TRUE(check_auth_mode("yoi-runtime", "localhost", Secret(), true, kRuntimeTokenSources));
  EXPECT_FALSE(check_auth_mode("yoi-runtime", "0.0.0.0", Secret(), true, kRuntimeTokenSources));
  EXPECT_FALSE(check_auth_mode("yoi-runtime", "192.168.1.5", Secret("t"), true, kRuntimeTokenSources));
}

TEST(Config, RuntimeAllowedHosts) {
  auto c = parse_config("[runtime]\nallowed_hosts = [\"box-1.internal\"]\n", "rt.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->allowed_hosts, (std::vector<std::string>{"box-1.internal"}));
  EXPECT_FALSE(parse_config("[runtime]\nallowed_hosts = \"box\"\n", "rt.toml"));
}


TEST(Config, RelativePathsResolveAgainstTheConfigFilesFolder) {
  auto c = parse_config("[runtime]\ndata_dir = \"data\"\ntoken_file = \"rt.token\"\n", "/etc/yoi/runtime.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->data_dir, "/etc/yoi/data");
  EXPECT_EQ(c->token_file, "/etc/yoi/rt.token");
  auto abs = parse_config("[runtime]\ndata_dir = \"/var/yoi\"\n", "/etc/yoi/runtime.toml");
  EXPECT_EQ(abs->data_dir, "/var/yoi");
}

}  // namespace
}  // namespace yoi::runtime_server

namespace yoi::runtime_server {
namespace {

// [[profiles.NAME.permissions]] (ARCHITECTURE §15): rules in file order; an
// unknown tool or action names the entry and its line.
TEST(Config, ProfilePermissionsAreParsedInOrderAndChecked) {
  auto c = parse_config(
      "[profiles.p]\nengine = \"echo\"\n"
      "[[profiles.p.permissions]]\ntool = \"write\"\npattern = \"src/**\"\naction = \"allow\"\n"
      "[[profiles.p.permissions]]\ntool = \"bash\"\naction = \"deny\"\n",
      "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->profiles.size(), 1u);
  ASSERT_EQ(c->profiles[0].permissions.size(), 2u);
  EXPECT_EQ(c->profiles[0].permissions[0], (tools::Rule{"write", "src/**", tools::Action::allow}));
  EXPECT_EQ(c->profiles[0].permissions[1], (tools::Rule{"bash", std::nullopt, tools::Action::deny}));

  auto bad_tool = parse_config("[profiles.p]\n[[profiles.p.permissions]]\ntool = \"rm\"\naction = \"allow\"\n", "t.toml");
  ASSERT_FALSE(bad_tool);
  EXPECT_EQ(bad_tool.error().code, Code::config_invalid);
  EXPECT_NE(bad_tool.error().message.find("profiles.p.permissions"), std::string::npos) << bad_tool.error().message;
  EXPECT_NE(bad_tool.error().message.find("unknown tool 'rm'"), std::string::npos) << bad_tool.error().message;
  EXPECT_NE(bad_tool.error().message.find("line 2"), std::string::npos) << bad_tool.error().message;

  auto bad_action = parse_config(
      "[profiles.p]\n[[profiles.p.permissions]]\ntool = \"write\"\naction = \"allow\"\n"
      "[[profiles.p.permissions]]\ntool = \"write\"\naction = \"maybe\"\n",
      "t.toml");
  ASSERT_FALSE(bad_action);
  EXPECT_NE(bad_action.error().message.find("entry 2 (line 5)"), std::string::npos) << bad_action.error().message;
  EXPECT_NE(bad_action.error().message.find("'maybe'"), std::string::npos) << bad_action.error().message;

  auto bad_key = parse_config("[profiles.p]\n[[profiles.p.permissions]]\ntool = \"write\"\naction = \"ask\"\nwhen = 1\n", "t.toml");
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.error().message.find("'when'"), std::string::npos) << bad_key.error().message;
  EXPECT_FALSE(parse_config("[profiles.p]\npermissions = \"all\"\n", "t.toml"));
}

}  // namespace
}  // namespace yoi::runtime_server
