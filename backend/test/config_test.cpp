// yoi-server's config file (src/config.cpp): keys, errors naming key and line, paths.

#include <gtest/gtest.h>

#include "support.hpp"
#include "yoi/backend/config.hpp"
#include "yoi/net/http_server.hpp"

namespace yoi::backend::test {
namespace {

TEST(Config, ParsesRuntimesAndResolvesTokens) {
  TmpDir dir;
  auto tok = dir.file("tok", "  secret-token\n");
  setenv("YOI_TEST_RT_TOKEN", "env-token", 1);
  auto cfg = parse_config(
      "listen = \"127.0.0.1:9000\"\n"
      "[embedded]\nid = \"here\"\nstore = \"memory\"\n"
      "[[runtimes]]\nid = \"a\"\nbase_url = \"http://127.0.0.1:1\"\ntoken_file = \"" + tok + "\"\n"
      "timeout_ms = 1500\nconnect_timeout_ms = 200\n"
      "[[runtimes]]\nid = \"b\"\ndisplay_name = \"B\"\nbase_url = \"https://b.example:8443/x\"\n"
      "token_env = \"YOI_TEST_RT_TOKEN\"\n",
      "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->listen, "127.0.0.1:9000");
  EXPECT_EQ(cfg->embedded.id, "here");
  EXPECT_EQ(cfg->embedded.store, "memory");
  ASSERT_EQ(cfg->runtimes.size(), 2u);
  EXPECT_EQ(cfg->runtimes[0].token.expose(), "secret-token");
  EXPECT_EQ(cfg->runtimes[0].timeout, 1500ms);
  EXPECT_EQ(cfg->runtimes[0].connect_timeout, 200ms);
  EXPECT_EQ(cfg->runtimes[0].display_name, "a");
  EXPECT_EQ(cfg->runtimes[1].token.expose(), "env-token");
  EXPECT_EQ(cfg->runtimes[1].display_name, "B");
}

// Issue 19: [server] allowed_hosts / allowed_origins, arrays of strings.
TEST(Config, ServerTableTakesAllowedHostsAndOrigins) {
  auto cfg = parse_config("[server]\nallowed_hosts = [\"yoi.example.com\", \"box:8443\"]\n"
                          "allowed_origins = [\"https://yoi.example.com\"]\n",
                          "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->allowed_hosts, (std::vector<std::string>{"yoi.example.com", "box:8443"}));
  EXPECT_EQ(cfg->allowed_origins, (std::vector<std::string>{"https://yoi.example.com"}));
  for (auto bad : {"[server]\nallowed_hosts = \"x\"\n", "[server]\nallowed_hosts = [1]\n",
                   "[server]\nallowed_hosts = [\"\"]\n", "[server]\nwat = 1\n"}) {
    auto e = parse_config(bad, "s.toml");
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("s.toml:"), std::string::npos) << e.error().message;
    EXPECT_NE(e.error().message.find("server."), std::string::npos) << e.error().message;
  }
}

TEST(Config, ErrorsNameKeyAndLineAndNeverTheUrl) {
  unsetenv("YOI_TEST_UNSET_VAR");
  struct Case {
    std::string text;
    std::string want;
  };
  const std::string rt = "[[runtimes]]\nid = \"a\"\n";
  for (const auto& c : std::vector<Case>{
           {"bogus = 1\n", "s.toml:1: 'bogus' is not a known key"},
           {rt + "base_url = \"http://h:1\"\ntoken_env = \"HOME\"\nfoo = 2\n", "s.toml:5: 'runtimes.foo' is not a known key"},
           {rt + "base_url = \"http://h:1\"\nfoo = 2\n", "s.toml:4: 'runtimes.foo' is not a known key"},
           {rt + "base_url = \"ftp://hidden-host/\"\n", "s.toml:3: 'runtimes.base_url' must use http or https"},
           {rt + "base_url = \"not a url\"\n", "s.toml:3: 'runtimes.base_url'"},
           {rt + "base_url = \"http://h:1\"\n", "needs a token source"},
           {rt + "base_url = \"http://h:1\"\ntoken_env = \"YOI_TEST_UNSET_VAR\"\n", "s.toml:4: 'runtimes.token_env'"},
           {rt + "base_url = \"http://h:1\"\ntoken_file = \"/nonexistent/t\"\n", "s.toml:4: 'runtimes.token_file'"},
           {rt + "base_url = \"http://h:1\"\ntimeout_ms = \"x\"\n", "s.toml:4: 'runtimes.timeout_ms' must be an integer"},
           {"[[runtimes]]\nid = \"a\"\nbase_url = \"http://h:1\"\ntoken_env = \"HOME\"\n"
            "[[runtimes]]\nid = \"a\"\n", "s.toml:6: 'runtimes.id' duplicates runtime id 'a'"},
           {"[[runtimes]]\nid = \"local\"\nbase_url = \"http://h:1\"\ntoken_env = \"HOME\"\n", "embedded runtime's id"},
           {"[embedded]\nstore = \"disk\"\n", "s.toml:2: 'embedded.store'"},
           {"listen = [\n", "s.toml:"},
           {"[observe]\nring_events = 0\n", "s.toml:2: 'observe.ring_events' must be between 1 and"},
           {"[observe]\nheartbeat_ms = \"1s\"\n", "s.toml:2: 'observe.heartbeat_ms' must be an integer"},
           {"[observe]\nbackoff_initial_ms = 900\nbackoff_max_ms = 100\n", "'observe.backoff_max_ms' must not be less"},
           {"[observe]\nring = 5\n", "s.toml:2: 'observe.ring' is not a known key"},
           {"[limits]\nheader_timeout_ms = 99\n", "s.toml:2: 'limits.header_timeout_ms' must be"},
           {"[limits]\nmax_body_bytes = 1\n", "s.toml:2: 'limits.max_body_bytes' is not a known key"},
       }) {
    auto r = parse_config(c.text, "s.toml");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, Code::config_invalid);
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("hidden-host"), std::string::npos) << r.error().message;
  }
}

TEST(Config, ObserveTableSetsTheProxyOptionsAndTheCursorKeyFile) {
  auto cfg = parse_config(
      "[observe]\ncursor_key_file = \"/etc/yoi/cursor.key\"\nring_events = 64\nring_bytes = 65536\n"
      "catchup_page = 32\nlag_timeout_ms = 2500\nheartbeat_ms = 500\ngrace_ms = 0\nconnect_timeout_ms = 700\n"
      "backoff_initial_ms = 20\nbackoff_max_ms = 900\nmax_upstream_frame = 4096\nupstream_idle_timeout_ms = 1500\n",
      "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->cursor_key_file, "/etc/yoi/cursor.key");
  const auto& o = cfg->observe;
  EXPECT_EQ(o.ring_events, 64u);
  EXPECT_EQ(o.ring_bytes, 65536u);
  EXPECT_EQ(o.catchup_page, 32u);
  EXPECT_EQ(o.lag_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(o.heartbeat, std::chrono::milliseconds(500));
  EXPECT_EQ(o.grace, std::chrono::milliseconds(0));
  EXPECT_EQ(o.connect_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(o.backoff.initial, std::chrono::milliseconds(20));
  EXPECT_EQ(o.backoff.max, std::chrono::milliseconds(900));
  EXPECT_EQ(o.max_upstream_frame, 4096u);
  EXPECT_EQ(o.upstream_idle_timeout, std::chrono::milliseconds(1500));
  // Unset: the defaults.
  auto d = parse_config("", "s.toml");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->cursor_key_file);
  EXPECT_EQ(d->observe.ring_events, ObserveOptions{}.ring_events);
}

TEST(Config, LimitsTableSetsTheHttpTimeouts) {
  auto cfg = parse_config("[limits]\nheader_timeout_ms = 2500\nkeep_alive_timeout_ms = 90000\n", "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->header_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(cfg->keep_alive_timeout, std::chrono::milliseconds(90'000));
  auto d = parse_config("", "s.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header_timeout, net::ServerOptions{}.header_timeout);
  EXPECT_EQ(d->keep_alive_timeout, net::ServerOptions{}.keep_alive_timeout);
}


TEST(Config, RelativePathsResolveAgainstTheConfigFilesFolder) {
  TmpDir dir;
  dir.file("rt.token", "  from-the-file \n");
  auto cfg = parse_config(
      "data_dir = \"data\"\nweb_dir = \"/abs/web\"\naccess_token_file = \"access\"\n"
      "[embedded]\nruntime_config = \"rt.toml\"\n[observe]\ncursor_key_file = \"keys/cursor.key\"\n"
      "[[runtimes]]\nid = \"r\"\nbase_url = \"http://h:1\"\ntoken_file = \"rt.token\"\nca_file = \"ca.pem\"\n",
      (dir.path / "s.toml").string());
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(*cfg->data_dir, (dir.path / "data").string());
  EXPECT_EQ(*cfg->web_dir, "/abs/web");
  EXPECT_EQ(*cfg->access_token_file, (dir.path / "access").string());
  EXPECT_EQ(cfg->embedded.runtime_config, (dir.path / "rt.toml").string());
  EXPECT_EQ(*cfg->cursor_key_file, (dir.path / "keys/cursor.key").string());
  EXPECT_EQ(cfg->runtimes.at(0).ca_file, (dir.path / "ca.pem").string());
  EXPECT_EQ(cfg->runtimes.at(0).token.expose(), "from-the-file");
}

TEST(Config, ShutdownTimeoutIsConfigurable) {
  auto cfg = parse_config("[limits]\nshutdown_timeout_ms = 250\n", "s.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->shutdown_timeout, std::chrono::milliseconds(250));
  // The same default as yoi-runtime's [runtime] shutdown_timeout_ms.
  EXPECT_EQ(parse_config("", "s.toml")->shutdown_timeout, std::chrono::milliseconds(10'000));
}

}  // namespace
}  // namespace yoi::backend::test
