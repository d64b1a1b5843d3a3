#pragma once
// The permission policy (ARCHITECTURE §15): which tool calls run, which ask
// a person first, which are refused. Pure decisions over a call's tool name
// and its main argument (the `command` of bash, the `path` of file tools);
// the run loop (runtime/) parks, asks and records.
//
// Rules are tried in order, the first match wins: a worker's remembered
// rules (added by "always allow"), then its profile's `permissions`, then
// the defaults (read, glob, grep allow; write, edit, bash ask).
//
// Patterns:
//   file tools: a path pattern (pattern.hpp: `*`, `?`, `[...]`, `**`) over
//   the path in the worker's view. A relative pattern is relative to /work,
//   like a relative path; both are normalised (`.` and `..` folded) before
//   matching, so `src/../../etc/x` never passes for `src/**`.
//   bash: a glob over the whole command: `*` any run of characters
//   (spaces and `/` included), `?` one character, `\x` the character x.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace yoi::tools {

enum class Action { allow, ask, deny };
std::string_view action_name(Action a);
std::optional<Action> action_from_name(std::string_view name);

struct Rule {
  std::string tool;
  std::optional<std::string> pattern;  // none: every call of the tool
  Action action = Action::ask;

  friend bool operator==(const Rule&, const Rule&) = default;
};

// The tools a rule may name (the built-in ones and bash).
bool is_policy_tool(std::string_view tool);
// A rule as a config file or a request gives it: nullopt when valid, else
// what is wrong ("unknown tool 'x' (...)").
std::optional<std::string> check_rule(const Rule& rule);

// The call's main argument: bash's `command`, a file tool's `path` ("" when
// absent: glob and grep then search /work).
std::string main_argument(std::string_view tool, const boost::json::object& arguments);

// Where a decision came from, for approval_requested's `rule`.
enum class RuleSource { remembered, profile, fallback };
std::string_view source_name(RuleSource s);

struct Decision {
  Action action = Action::ask;
  RuleSource source = RuleSource::fallback;
  Rule rule;  // the rule that matched (for the default: {tool, none, action})
};

Action default_action(std::string_view tool);
bool rule_matches(const Rule& rule, std::string_view tool, std::string_view main_arg);
Decision decide(std::span<const Rule> remembered, std::span<const Rule> profile, std::string_view tool,
                std::string_view main_arg);

// The pattern that matches exactly `main_arg` of `tool` and nothing else
// (what "always allow" remembers).
std::string exact_pattern(std::string_view tool, std::string_view main_arg);

// {"tool", "pattern"?, "action"}
boost::json::object rule_to_json(const Rule& rule);

}  // namespace yoi::tools
