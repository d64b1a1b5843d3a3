#pragma once
// The one path-pattern matcher (glob's `pattern`, grep's `glob`, .gitignore)
// and the one .gitignore rule set. Patterns match '/'-separated relative
// paths segment by segment:
//   `*` any run of characters except '/', `?` one character except '/',
//   `[abc]`, `[a-z]`, `[!x]` / `[^x]` one character of a class,
//   `\x` the character x, a whole segment `**` zero or more segments.
// Matching is O(pattern × path) (no backtracking blow-up on `**/**/**`).

#include <string>
#include <string_view>
#include <vector>

namespace yoi::tools {

class PathPattern {
 public:
  explicit PathPattern(std::string_view pattern);
  // `path` is relative, '/'-separated, without a leading '/'.
  bool matches(std::string_view path) const;
  bool has_slash() const { return segments_.size() > 1; }

 private:
  std::vector<std::string> segments_;
};

// The .gitignore rules of one directory. The supported subset: blank lines
// and `#` comments; trailing spaces trimmed; `!` negation; `\#`, `\!`
// escapes; a trailing `/` (directories only); a leading or middle `/`
// anchors the pattern to the .gitignore's directory, otherwise it matches a
// name at any depth; `*`, `?`, `[...]`, `**` as PathPattern.
// Not supported: trailing-space escapes, .git/info/exclude, core.excludesFile.
class IgnoreRules {
 public:
  static IgnoreRules parse(std::string_view text);
  bool empty() const { return rules_.empty(); }

  enum class Verdict { none, ignore, include };
  // The last rule matching `rel` (relative to this file's directory) decides.
  Verdict match(std::string_view rel, bool is_dir) const;

 private:
  struct Rule {
    PathPattern pattern;
    bool negate = false;
    bool dir_only = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace yoi::tools
