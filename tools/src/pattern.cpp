#include "yoi/tools/pattern.hpp"

namespace yoi::tools {
namespace {

std::vector<std::string_view> split_segments(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    std::size_t slash = s.find('/');
    std::string_view seg = s.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    s.remove_prefix(slash + 1);
  }
  return out;
}

// Does the one-character item at pat[p] (`?`, a class, `\x`, a literal)
// match `c`? Sets `next` past the item.
bool match_one(std::string_view pat, std::size_t p, char c, std::size_t& next) {
  if (pat[p] == '?') {
    next = p + 1;
    return true;
  }
  if (pat[p] == '\\' && p + 1 < pat.size()) {
    next = p + 2;
    return pat[p + 1] == c;
  }
  if (pat[p] == '[') {
    std::size_t q = p + 1;
    bool negate = q < pat.size() && (pat[q] == '!' || pat[q] == '^');
    if (negate) ++q;
    std::size_t first = q;
    bool hit = false;
    for (; q < pat.size() && (pat[q] != ']' || q == first); ++q) {
      if (q + 2 < pat.size() && pat[q + 1] == '-' && pat[q + 2] != ']') {
        auto u = [](char x) { return static_cast<unsigned char>(x); };
        if (u(pat[q]) <= u(c) && u(c) <= u(pat[q + 2])) hit = true;
        q += 2;
      } else if (pat[q] == c) {
        hit = true;
      }
    }
    if (q < pat.size()) {  // a closed class
      next = q + 1;
      return hit != negate;
    }
    // An unclosed '[' is a literal.
  }
  next = p + 1;
  return pat[p] == c;
}

// One segment: `*` spans any run within it. The single-backtrack-point
// algorithm is O(|pat| × |name|) at worst.
bool segment_matches(std::string_view pat, std::string_view name) {
  std::size_t p = 0, n = 0, star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_p = ++p;
      star_n = n;
      continue;
    }
    std::size_t next;
    if (p < pat.size() && match_one(pat, p, name[n], next)) {
      p = next;
      ++n;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace

PathPattern::PathPattern(std::string_view pattern) {
  for (std::string_view seg : split_segments(pattern)) {
    // `.` names nothing (paths here have no `.` segments); consecutive `**`
    // mean the same as one.
    if (seg == ".") continue;
    if (seg == "**" && !segments_.empty() && segments_.back() == "**") continue;
    segments_.emplace_back(seg);
  }
}

bool PathPattern::matches(std::string_view path) const {
  std::vector<std::string_view> names = split_segments(path);
  const std::size_t P = segments_.size(), D = names.size();
  // ok[i][j]: segments_[i..] match names[j..]; filled from the end.
  std::vector<char> ok((P + 1) * (D + 1), 0);
  auto at = [&](std::size_t i, std::size_t j) -> char& { return ok[i * (D + 1) + j]; };
  at(P, D) = 1;
  for (std::size_t i = P; i-- > 0;) {
    for (std::size_t j = D + 1; j-- > 0;) {
      if (segments_[i] == "**")
        at(i, j) = at(i + 1, j) || (j < D && at(i, j + 1));
      else
        at(i, j) = j < D && at(i + 1, j + 1) && segment_matches(segments_[i], names[j]);
    }
  }
  return at(0, 0);
}

IgnoreRules IgnoreRules::parse(std::string_view text) {
  IgnoreRules out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    bool negate = line.front() == '!';
    if (negate) line.remove_prefix(1);
    else if (line.size() > 1 && line[0] == '\\' && (line[1] == '#' || line[1] == '!')) line.remove_prefix(1);
    bool dir_only = !line.empty() && line.back() == '/';
    while (!line.empty() && line.back() == '/') line.remove_suffix(1);
    if (line.empty()) continue;
    // A slash at the start or in the middle anchors the pattern here;
    // otherwise it names an entry at any depth.
    bool anchored = line.find('/') != std::string_view::npos;
    std::string pattern = anchored ? std::string(line) : "**/" + std::string(line);
    out.rules_.push_back(Rule{PathPattern(pattern), negate, dir_only});
  }
  return out;
}

IgnoreRules::Verdict IgnoreRules::match(std::string_view rel, bool is_dir) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    if (it->dir_only && !is_dir) continue;
    if (it->pattern.matches(rel)) return it->negate ? Verdict::include : Verdict::ignore;
  }
  return Verdict::none;
}

}  // namespace yoi::tools
