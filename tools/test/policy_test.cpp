// The permission policy (ARCHITECTURE §15): defaults, first match wins,
// patterns over the main argument, the exact pattern "always allow" keeps.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "yoi/tools/policy.hpp"

namespace yoi::tools {
namespace {

Rule rule(std::string tool, std::optional<std::string> pattern, Action a) { return Rule{std::move(tool), std::move(pattern), a}; }

Action decide_one(const std::vector<Rule>& profile, std::string_view tool, std::string_view arg,
                  const std::vector<Rule>& remembered = {}) {
  return decide(remembered, profile, tool, arg).action;
}

TEST(Policy, DefaultsReadGlobGrepAllowWriteEditBashAsk) {
  for (auto t : {"read", "glob", "grep"}) EXPECT_EQ(decide_one({}, t, "a.txt"), Action::allow) << t;
  for (auto t : {"write", "edit", "bash"}) EXPECT_EQ(decide_one({}, t, "a.txt"), Action::ask) << t;
  auto d = decide({}, {}, "write", "a.txt");
  EXPECT_EQ(d.source, RuleSource::fallback);
  EXPECT_EQ(source_name(d.source), "default");
  EXPECT_EQ(d.rule, rule("write", std::nullopt, Action::ask));
}

TEST(Policy, TheFirstMatchingRuleWins) {
  std::vector<Rule> rules{rule("write", "src/**", Action::allow), rule("write", std::nullopt, Action::deny),
                          rule("write", "src/secret.txt", Action::ask)};
  EXPECT_EQ(decide_one(rules, "write", "src/a/b.txt"), Action::allow);
  EXPECT_EQ(decide_one(rules, "write", "src/secret.txt"), Action::allow) << "an earlier rule matched first";
  EXPECT_EQ(decide_one(rules, "write", "notes.md"), Action::deny);
  EXPECT_EQ(decide_one(rules, "read", "notes.md"), Action::allow) << "rules of another tool do not apply";
  auto d = decide({}, rules, "write", "notes.md");
  EXPECT_EQ(d.source, RuleSource::profile);
  EXPECT_EQ(d.rule, rules[1]);
}

TEST(Policy, RememberedRulesComeBeforeTheProfiles) {
  std::vector<Rule> profile{rule("write", std::nullopt, Action::ask)};
  std::vector<Rule> remembered{rule("write", exact_pattern("write", "notes.md"), Action::allow)};
  EXPECT_EQ(decide_one(profile, "write", "notes.md", remembered), Action::allow);
  EXPECT_EQ(decide(remembered, profile, "write", "notes.md").source, RuleSource::remembered);
  EXPECT_EQ(decide_one(profile, "write", "other.md", remembered), Action::ask);
}

TEST(Policy, FilePatternsMatchTheViewPathRelativeToWork) {
  Rule r = rule("edit", "src/*.cpp", Action::allow);
  EXPECT_TRUE(rule_matches(r, "edit", "src/a.cpp"));
  EXPECT_TRUE(rule_matches(r, "edit", "/work/src/a.cpp")) << "an absolute path in /work is the same file";
  EXPECT_TRUE(rule_matches(r, "edit", "./src/./a.cpp"));
  EXPECT_FALSE(rule_matches(r, "edit", "src/sub/a.cpp")) << "* stops at /";
  EXPECT_FALSE(rule_matches(r, "edit", "/workspaces/docs/src/a.cpp"));
  Rule ws = rule("write", "/workspaces/docs/**", Action::allow);
  EXPECT_TRUE(rule_matches(ws, "write", "/workspaces/docs/a/b.md"));
  EXPECT_FALSE(rule_matches(ws, "write", "docs/a.md"));
}

// Regression: a `..` must not carry a path past a pattern it leaves.
TEST(Policy, DotDotCannotSneakPastAPattern) {
  Rule r = rule("write", "src/**", Action::allow);
  EXPECT_FALSE(rule_matches(r, "write", "src/../../etc/passwd"));
  EXPECT_FALSE(rule_matches(r, "write", "src/../secret.txt"));
  EXPECT_TRUE(rule_matches(r, "write", "src/x/../y.txt"));
}

TEST(Policy, BashPatternsAreAGlobOverTheWholeCommand) {
  Rule r = rule("bash", "npm test*", Action::allow);
  EXPECT_TRUE(rule_matches(r, "bash", "npm test"));
  EXPECT_TRUE(rule_matches(r, "bash", "npm test -- --grep a/b"));
  EXPECT_FALSE(rule_matches(r, "bash", "npm install"));
  EXPECT_FALSE(rule_matches(r, "bash", "echo; npm test")) << "anchored at both ends";
  EXPECT_TRUE(rule_matches(rule("bash", "ls ?", Action::allow), "bash", "ls a"));
  EXPECT_TRUE(rule_matches(rule("bash", std::nullopt, Action::deny), "bash", "anything"));
}

TEST(Policy, TheExactPatternMatchesThatArgumentOnly) {
  for (std::string cmd : {"rm -rf *", "echo a?b", "printf '\\\\n'", "ls"}) {
    Rule r = rule("bash", exact_pattern("bash", cmd), Action::allow);
    EXPECT_TRUE(rule_matches(r, "bash", cmd)) << cmd;
    EXPECT_FALSE(rule_matches(r, "bash", cmd + "x")) << cmd;
  }
  EXPECT_FALSE(rule_matches(rule("bash", exact_pattern("bash", "rm -rf *"), Action::allow), "bash", "rm -rf /"));
  for (std::string path : {"notes.md", "src/[a].txt", "a*b?.md", "/workspaces/w/x.md"}) {
    Rule r = rule("write", exact_pattern("write", path), Action::allow);
    EXPECT_TRUE(rule_matches(r, "write", path)) << path;
    EXPECT_FALSE(rule_matches(r, "write", "other.md")) << path;
  }
  EXPECT_EQ(exact_pattern("write", "notes.md"), "/work/notes.md");
  EXPECT_FALSE(rule_matches(rule("write", exact_pattern("write", "a*b.md"), Action::allow), "write", "aXb.md"));
}

TEST(Policy, MainArgumentIsCommandOrPath) {
  auto args = [](std::string_view s) { return boost::json::parse(s).as_object(); };
  EXPECT_EQ(main_argument("bash", args(R"({"command": "ls", "path": "x"})")), "ls");
  EXPECT_EQ(main_argument("write", args(R"({"path": "a.md", "content": "x"})")), "a.md");
  EXPECT_EQ(main_argument("grep", args(R"({"pattern": "x"})")), "");
  EXPECT_EQ(main_argument("write", args(R"({"path": 3})")), "");
}

TEST(Policy, RulesAreChecked) {
  EXPECT_FALSE(check_rule(rule("write", "a", Action::allow)));
  EXPECT_FALSE(check_rule(rule("bash", std::nullopt, Action::deny)));
  auto bad = check_rule(rule("rm", std::nullopt, Action::allow));
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("unknown tool 'rm'"), std::string::npos);
  EXPECT_TRUE(check_rule(rule("write", std::string(), Action::allow)));
  EXPECT_EQ(action_from_name("ask"), Action::ask);
  EXPECT_FALSE(action_from_name("maybe"));
}

}  // namespace
}  // namespace yoi::tools
