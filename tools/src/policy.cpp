#include "yoi/tools/policy.hpp"

#include <array>

#include <fmt/format.h>

#include "yoi/tools/pattern.hpp"

namespace yoi::tools {
namespace {

constexpr std::array<std::string_view, 6> kTools{"read", "write", "edit", "glob", "grep", "bash"};

bool is_file_tool(std::string_view tool) { return tool != "bash"; }

// A path in the worker's view without its leading '/', `.` and `..`
// folded: "src/a" and "/work/src/a" are both "work/src/a". A `..` above the
// root stays (it never matches a pattern that does not spell it).
std::string view_path(std::string_view p) {
  std::string base = p.starts_with('/') ? std::string() : std::string("work");
  std::vector<std::string_view> segs;
  std::string_view rest = p;
  auto push = [&segs](std::string_view s) {
    if (s.empty() || s == ".") return;
    if (s == ".." && !segs.empty() && segs.back() != "..") {
      segs.pop_back();
      return;
    }
    segs.push_back(s);
  };
  if (!base.empty()) push("work");
  while (!rest.empty()) {
    auto slash = rest.find('/');
    push(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::string out;
  for (auto s : segs) {
    if (!out.empty()) out += '/';
    out += s;
  }
  return out;
}

// bash's glob: `*` any run, `?` one character, `\x` x. O(pattern × text).
bool command_matches(std::string_view pat, std::string_view text) {
  // Compile into items: 0 = '*', 1 = '?', 2 = literal.
  struct Item { int kind; char c; };
  std::vector<Item> items;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    if (pat[i] == '*') items.push_back({0, 0});
    else if (pat[i] == '?') items.push_back({1, 0});
    else if (pat[i] == '\\' && i + 1 < pat.size()) items.push_back({2, pat[++i]});
    else items.push_back({2, pat[i]});
  }
  const std::size_t P = items.size(), T = text.size();
  std::vector<char> next(T + 1, 0), cur(T + 1, 0);
  next[T] = 1;  // row P: only the empty rest matches
  for (std::size_t i = P; i-- > 0;) {
    for (std::size_t j = T + 1; j-- > 0;) {
      const auto& it = items[i];
      if (it.kind == 0) cur[j] = next[j] || (j < T && cur[j + 1]);
      else cur[j] = j < T && (it.kind == 1 || it.c == text[j]) && next[j + 1];
    }
    std::swap(cur, next);
  }
  return next[0];
}

std::string escape(std::string_view s, std::string_view specials) {
  std::string out;
  for (char c : s) {
    if (specials.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::allow: return "allow";
    case Action::ask: return "ask";
    case Action::deny: return "deny";
  }
  return "ask";
}

std::optional<Action> action_from_name(std::string_view name) {
  for (auto a : {Action::allow, Action::ask, Action::deny})
    if (action_name(a) == name) return a;
  return std::nullopt;
}

std::string_view source_name(RuleSource s) {
  switch (s) {
    case RuleSource::remembered: return "remembered";
    case RuleSource::profile: return "profile";
    case RuleSource::fallback: return "default";
  }
  return "default";
}

bool is_policy_tool(std::string_view tool) {
  for (auto t : kTools)
    if (t == tool) return true;
  return false;
}

std::optional<std::string> check_rule(const Rule& rule) {
  if (!is_policy_tool(rule.tool))
    return fmt::format("unknown tool '{}' (tools: read, write, edit, glob, grep, bash)", rule.tool.substr(0, 64));
  if (rule.pattern && rule.pattern->empty()) return std::string("pattern must not be empty");
  if (rule.pattern && rule.pattern->size() > 4096) return std::string("pattern is limited to 4096 bytes");
  return std::nullopt;
}

std::string main_argument(std::string_view tool, const boost::json::object& args) {
  const auto* v = args.if_contains(tool == "bash" ? "command" : "path");
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

Action default_action(std::string_view tool) {
  return tool == "read" || tool == "glob" || tool == "grep" ? Action::allow : Action::ask;
}

bool rule_matches(const Rule& rule, std::string_view tool, std::string_view main_arg) {
  if (rule.tool != tool) return false;
  if (!rule.pattern) return true;
  if (!is_file_tool(tool)) return command_matches(*rule.pattern, main_arg);
  return PathPattern(view_path(*rule.pattern)).matches(view_path(main_arg));
}

Decision decide(std::span<const Rule> remembered, std::span<const Rule> profile, std::string_view tool,
                std::string_view main_arg) {
  for (const auto& r : remembered)
    if (rule_matches(r, tool, main_arg)) return Decision{r.action, RuleSource::remembered, r};
  for (const auto& r : profile)
    if (rule_matches(r, tool, main_arg)) return Decision{r.action, RuleSource::profile, r};
  Action a = default_action(tool);
  return Decision{a, RuleSource::fallback, Rule{std::string(tool), std::nullopt, a}};
}

std::string exact_pattern(std::string_view tool, std::string_view main_arg) {
  if (!is_file_tool(tool)) return escape(main_arg, "*?\\");
  return "/" + escape(view_path(main_arg), "*?[\\");
}

boost::json::object rule_to_json(const Rule& rule) {
  boost::json::object o;
  o["tool"] = rule.tool;
  if (rule.pattern) o["pattern"] = *rule.pattern;
  o["action"] = action_name(rule.action);
  return o;
}

}  // namespace yoi::tools
