#include "yoi/profiles/profile.hpp"

#include <fstream>
#include <limits>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "yoi/ids.hpp"
#include "yoi/tools/policy.hpp"
#include "yoi/tools/specs.hpp"

namespace yoi::profiles {
namespace {

namespace bj = boost::json;

// One key's setter over the neutral form: nullopt, or why the value is bad.
using Set = std::function<std::optional<std::string>(const bj::value&)>;

std::optional<std::int64_t> as_int(const bj::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.get_uint64());
  return std::nullopt;
}

Set string(std::string& out, bool nonempty = false) {
  return [&out, nonempty](const bj::value& v) -> std::optional<std::string> {
    if (!v.is_string()) return "must be a string";
    if (nonempty && v.get_string().empty()) return "must not be empty";
    out = std::string(v.get_string());
    return std::nullopt;
  };
}

Set one_of(std::string& out, std::vector<std::string> allowed) {
  return [&out, allowed = std::move(allowed)](const bj::value& v) -> std::optional<std::string> {
    if (v.is_string())
      for (const auto& a : allowed)
        if (a == v.get_string()) {
          out = a;
          return std::nullopt;
        }
    if (!v.is_string()) return "must be a string";
    return fmt::format("must be one of: \"{}\"", fmt::join(allowed, "\", \""));
  };
}

template <class T>
Set count(T& out, std::int64_t min) {
  constexpr auto t_max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  std::int64_t max = t_max < std::uint64_t(std::numeric_limits<std::int64_t>::max()) ? static_cast<std::int64_t>(t_max)
                                                                                       : std::numeric_limits<std::int64_t>::max();
  return [&out, min, max](const bj::value& v) -> std::optional<std::string> {
    auto n = as_int(v);
    if (!n) return "must be an integer";
    if (*n < min) return fmt::format("must be at least {}", min);
    if (*n > max) return fmt::format("must be between {} and {}", min, max);
    out = static_cast<T>(*n);
    return std::nullopt;
  };
}

Set ms(std::chrono::milliseconds& out, std::int64_t min) {
  return [&out, min](const bj::value& v) -> std::optional<std::string> {
    auto n = as_int(v);
    if (!n) return "must be an integer (milliseconds)";
    if (*n < min) return fmt::format("must be at least {}", min);
    out = std::chrono::milliseconds(*n);
    return std::nullopt;
  };
}

Set strings(std::vector<std::string>& out) {
  return [&out](const bj::value& v) -> std::optional<std::string> {
    if (!v.is_array()) return "must be an array of strings";
    if (v.get_array().size() > 256) return "must hold at most 256 entries";
    std::vector<std::string> names;
    for (const auto& item : v.get_array()) {
      if (!item.is_string() || item.get_string().empty()) return "must be an array of non-empty strings";
      names.emplace_back(item.get_string());
    }
    out = std::move(names);
    return std::nullopt;
  };
}

Set boolean(bool& out) {
  return [&out](const bj::value& v) -> std::optional<std::string> {
    if (!v.is_bool()) return "must be true or false";
    out = v.get_bool();
    return std::nullopt;
  };
}

// `permissions` (ARCHITECTURE §15): rules in order, each {tool, pattern?,
// action}. `bad_entry` names the entry at fault (0-based) so each front-end
// can point at it (TOML: the entry's own line).
Set permission_rules(std::vector<tools::Rule>& out, std::optional<std::size_t>& bad_entry) {
  return [&out, &bad_entry](const bj::value& v) -> std::optional<std::string> {
    if (!v.is_array()) return "must be an array of rules {tool, pattern?, action} ([[profiles.NAME.permissions]])";
    std::vector<tools::Rule> rules;
    const auto& arr = v.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto why = [&]() -> std::optional<std::string> {
        if (!arr[i].is_object()) return "must be a table with tool, pattern and action";
        tools::Rule r;
        bool has_tool = false, has_action = false;
        for (const auto& [k, e] : arr[i].get_object()) {
          bool known = k == "tool" || k == "pattern" || k == "action";
          if (!known) return fmt::format("'{}' is not a known key (tool, pattern, action)", std::string_view(k));
          if (!e.is_string()) return fmt::format("{} must be a string", std::string_view(k));
          std::string s(e.get_string());
          if (k == "tool") {
            r.tool = std::move(s);
            has_tool = true;
          } else if (k == "pattern") {
            r.pattern = std::move(s);
          } else {
            auto a = tools::action_from_name(s);
            if (!a) return fmt::format("action '{}' is not allow, ask or deny", s);
            r.action = *a;
            has_action = true;
          }
        }
        if (!has_tool || !has_action) return "needs a tool and an action";
        if (auto bad = tools::check_rule(r)) return *bad;
        rules.push_back(std::move(r));
        return std::nullopt;
      }();
      if (why) {
        bad_entry = i;
        return why;
      }
    }
    out = std::move(rules);
    return std::nullopt;
  };
}

// The secrets rule (header): these keys never hold a value outside a
// runtime's own config.
constexpr std::string_view kInlineKey =
    "is not allowed: a provider key is never written in a profile; name the environment variable that holds it "
    "with api_key_env";
constexpr std::string_view kInlineUrl =
    "is not allowed here: a provider's base URL is private to each runtime's host; name an environment variable "
    "there with base_url_env";
// Running bash unsandboxed is the runtime host's operator's choice alone:
// yoi-server's config and bundles may not turn the sandbox off there.
constexpr std::string_view kNoSandbox =
    "= \"none\" is allowed only in a runtime's own config: running bash unsandboxed is its host's choice";

}  // namespace

std::optional<Problem> apply(const bj::object& body, Origin origin, engines::ProfileConfig& p) {
  std::string base_url;
  bool has_base_url = false;
  std::optional<std::size_t> bad_entry;
  std::map<std::string, Set, std::less<>> keys{
      {"engine", one_of(p.engine, {"echo", "openai"})},
      {"description", string(p.description)},
      {"history_messages", count(p.history_messages, 0)},
      {"echo_chunk_bytes", count(p.echo_chunk_bytes, 1)},
      {"echo_chunk_delay_ms", ms(p.echo_chunk_delay, 0)},
      {"echo_burst", count(p.echo_burst, 1)},
      {"base_url", string(base_url)},
      {"base_url_env", string(p.base_url_env, true)},
      {"model", string(p.model)},
      {"api_key_env", string(p.api_key_env)},
      {"system_prompt", string(p.system_prompt)},
      {"temperature",
       [&p](const bj::value& v) -> std::optional<std::string> {
         if (!v.is_number()) return "must be a number";
         p.temperature = v.to_number<double>();
         return std::nullopt;
       }},
      {"max_tokens",
       [&p](const bj::value& v) -> std::optional<std::string> {
         auto n = as_int(v);
         if (!n || *n < 1) return "must be a positive integer";
         p.max_tokens = *n;
         return std::nullopt;
       }},
      {"connect_timeout_ms", ms(p.connect_timeout, 1)},
      {"first_byte_timeout_ms", ms(p.first_byte_timeout, 1)},
      {"idle_timeout_ms", ms(p.idle_timeout, 1)},
      {"max_retries", count(p.max_retries, 0)},
      {"tools",
       [&p](const bj::value& v) -> std::optional<std::string> {
         std::vector<std::string> names;
         if (auto e = strings(names)(v)) return e;
         for (const auto& name : names) {
           if (!tools::find_spec(name))
             return fmt::format("unknown tool '{}' (tools: read, write, edit, glob, grep, bash)", name);
         }
         p.tools = std::move(names);
         return std::nullopt;
       }},
      {"max_steps", count(p.max_steps, 1)},
      {"sandbox", one_of(p.sandbox, {"bwrap", "none"})},
      {"network", boolean(p.network)},
      {"max_bash_timeout_ms", ms(p.max_bash_timeout, 1)},
      {"permissions", permission_rules(p.permissions, bad_entry)},
  };
  for (const auto& [key, value] : body) {
    if (key == "api_key") return Problem{"api_key", std::string(kInlineKey), {}};
    if (key == "base_url") {
      if (origin != Origin::runtime_config) return Problem{"base_url", std::string(kInlineUrl), {}};
      has_base_url = true;
    }
    auto it = keys.find(std::string_view(key));
    if (it == keys.end()) return Problem{std::string(key), "is not a known key", {}};
    if (auto why = it->second(value)) return Problem{std::string(key), std::move(*why), bad_entry};
  }
  if (p.sandbox == "none" && origin != Origin::runtime_config) return Problem{"sandbox", std::string(kNoSandbox), {}};
  if (has_base_url && !p.base_url_env.empty()) return Problem{"base_url_env", "cannot be set with base_url; give one", {}};
  if (has_base_url) p.base_url = Secret(std::move(base_url));
  if (p.engine == "openai" && ((!has_base_url && p.base_url_env.empty()) || p.model.empty()))
    return Problem{"", origin == Origin::runtime_config ? "(engine openai) needs base_url (or base_url_env) and model"
                                                        : "(engine openai) needs base_url_env and model", {}};
  return std::nullopt;
}

namespace {

// The neutral form of a TOML value; a date or time has none.
std::optional<bj::value> to_json(const toml::node& n) {
  if (auto* t = n.as_table()) {
    bj::object o;
    for (const auto& [k, v] : *t) {
      auto j = to_json(v);
      if (!j) return std::nullopt;
      o[k.str()] = std::move(*j);
    }
    return o;
  }
  if (auto* a = n.as_array()) {
    bj::array out;
    for (const auto& v : *a) {
      auto j = to_json(v);
      if (!j) return std::nullopt;
      out.push_back(std::move(*j));
    }
    return out;
  }
  if (auto s = n.value_exact<std::string>()) return bj::value(*s);
  if (auto i = n.value_exact<std::int64_t>()) return bj::value(*i);
  if (auto d = n.value_exact<double>()) return bj::value(*d);
  if (auto b = n.value_exact<bool>()) return bj::value(*b);
  return std::nullopt;
}

std::string key_name(const std::string& name, const std::string& key) {
  return key.empty() ? "profiles." + name : fmt::format("profiles.{}.{}", name, key);
}

// A system prompt kept in its own file, relative to the config file's folder.
Result<std::string> read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::config_invalid, "the file cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 256 * 1024) return fail(Code::config_invalid, "the file is larger than 256 KiB");
  return text;
}

}  // namespace

bool is_valid_name(std::string_view name) { return is_valid_id(name); }

Result<Parsed> from_toml(const std::string& name, const toml::node& node, const config::File& file, Origin origin) {
  std::string prefix = "profiles." + name;
  if (!is_valid_name(name)) return file.error(node, prefix, "is not a valid profile name ([A-Za-z0-9_:-])");
  auto t = config::subtable(file, node, prefix);
  if (!t) return fail(t.error());
  Parsed out;
  for (const auto& [k, v] : **t) {
    auto j = to_json(v);
    if (!j) return file.error(v, key_name(name, std::string(k.str())), "must not be a date or time");
    out.body[k.str()] = std::move(*j);
  }
  // system_prompt_file names a file of this host: read here, shipped as text.
  std::string prompt_file;
  if (auto* v = out.body.if_contains("system_prompt_file")) {
    const auto& n = *(*t)->get("system_prompt_file");
    if (!v->is_string() || v->get_string().empty())
      return file.error(n, prefix + ".system_prompt_file", "must be a non-empty string");
    if (out.body.contains("system_prompt"))
      return file.error(n, prefix + ".system_prompt_file", "set system_prompt or system_prompt_file, not both");
    auto text = read_prompt_file(file.resolve(std::string(v->get_string())));
    if (!text) return file.error(n, prefix + ".system_prompt_file", text.error().message);
    out.body.erase("system_prompt_file");
    out.body["system_prompt"] = std::move(*text);
  }
  out.profile.name = name;
  if (auto problem = apply(out.body, origin, out.profile)) {
    // The line of the key's own node, or the table's; a bad entry of a list
    // (permissions) is named by its position and its own line.
    const toml::node* at = &node;
    if (auto* n = (*t)->get(problem->key)) at = n;
    if (problem->entry) {
      if (auto* arr = at->as_array(); arr && *problem->entry < arr->size()) at = arr->get(*problem->entry);
      return file.error(*at, key_name(name, problem->key),
                        fmt::format("entry {} (line {}): {}", *problem->entry + 1, at->source().begin.line,
                                    problem->why));
    }
    return file.error(*at, key_name(name, problem->key), problem->why);
  }
  return out;
}

Result<engines::ProfileConfig> from_json(const std::string& name, const bj::value& body) {
  if (!is_valid_name(name))
    return fail(Code::invalid_request, fmt::format("'profiles.{}' is not a valid profile name ([A-Za-z0-9_:-])", name));
  if (!body.is_object()) return fail(Code::invalid_request, fmt::format("'profiles.{}' must be an object", name));
  engines::ProfileConfig p;
  p.name = name;
  if (auto problem = apply(body.get_object(), Origin::bundle, p))
    return fail(Code::invalid_request,
                problem->entry ? fmt::format("'{}' entry {}: {}", key_name(name, problem->key), *problem->entry + 1,
                                             problem->why)
                               : fmt::format("'{}' {}", key_name(name, problem->key), problem->why));
  return p;
}

Result<void> resolve_env(engines::ProfileConfig& p, const std::function<const char*(const char*)>& getenv,
                         bool name_variables) {
  auto read = [&](const std::string& var, std::string_view key) -> Result<std::string> {
    const char* v = getenv(var.c_str());
    if (!v || !*v)
      return fail(Code::config_invalid,
                  name_variables
                      ? fmt::format("profile '{}': environment variable {} ({}) is not set", p.name, var, key)
                      : fmt::format("profile '{}': the environment variable its {} names is not set on this "
                                    "runtime's host",
                                    p.name, key));
    return std::string(v);
  };
  if (!p.api_key_env.empty()) {
    auto v = read(p.api_key_env, "api_key_env");
    if (!v) return fail(v.error());
    p.api_key = Secret(std::move(*v));
  }
  if (!p.base_url_env.empty()) {
    auto v = read(p.base_url_env, "base_url_env");
    if (!v) return fail(v.error());
    p.base_url = Secret(std::move(*v));
  }
  return {};
}

}  // namespace yoi::profiles
