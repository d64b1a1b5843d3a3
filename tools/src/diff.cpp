#include "yoi/tools/diff.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace yoi::tools {
namespace {

std::vector<std::size_t> line_starts(std::string_view text) {
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < text.size();) {
    starts.push_back(i);
    std::size_t nl = text.find('\n', i);
    i = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  return starts;
}

// The index of the line starting at byte `pos` (or the line count at EOF).
std::size_t line_at(const std::vector<std::size_t>& starts, std::size_t size, std::size_t pos) {
  if (pos >= size) return starts.size();
  return static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin()) - 1;
}

// GNU diff's range: "l" for one line, "l,n" otherwise, "l,0" after line l.
std::string range(std::size_t begin, std::size_t count) {
  if (count == 1) return fmt::format("{}", begin + 1);
  if (count == 0) return fmt::format("{},0", begin);
  return fmt::format("{},{}", begin + 1, count);
}

void emit(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::size_t len = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(0, len));
    text.remove_prefix(len);
  }
  return lines;
}

std::vector<ChangeBlock> replacement_blocks(std::string_view old_text, std::string_view new_text,
                                            const std::vector<std::size_t>& at,
                                            std::size_t old_len, std::size_t new_len) {
  const auto old_starts = line_starts(old_text), new_starts = line_starts(new_text);
  const std::int64_t delta = static_cast<std::int64_t>(new_len) - static_cast<std::int64_t>(old_len);
  struct Span {
    std::size_t begin, end, first, count;  // old lines; first occurrence index; occurrences
  };
  std::vector<Span> spans;
  for (std::size_t k = 0; k < at.size(); ++k) {
    std::size_t a = line_at(old_starts, old_text.size(), at[k]);
    // The line holding the byte after the match is included too: when
    // old_string ends a line and new_string does not, that line changes.
    std::size_t end = at[k] + old_len;
    std::size_t b = end >= old_text.size() ? old_starts.size() : line_at(old_starts, old_text.size(), end) + 1;
    if (!spans.empty() && a <= spans.back().end) {
      spans.back().end = std::max(spans.back().end, b);
      ++spans.back().count;
    } else {
      spans.push_back(Span{a, b, k, 1});
    }
  }
  std::vector<ChangeBlock> blocks;
  for (const Span& s : spans) {
    auto old_byte = [&](std::size_t line) { return line < old_starts.size() ? old_starts[line] : old_text.size(); };
    std::int64_t shift = static_cast<std::int64_t>(s.first) * delta;
    auto nb = static_cast<std::size_t>(static_cast<std::int64_t>(old_byte(s.begin)) + shift);
    auto ne = static_cast<std::size_t>(static_cast<std::int64_t>(old_byte(s.end)) + shift +
                                       static_cast<std::int64_t>(s.count) * delta);
    // Both ends are line starts of new_text (the text around a span is equal
    // in both and ends in '\n'), so these lookups are exact.
    blocks.push_back(ChangeBlock{s.begin, s.end, line_at(new_starts, new_text.size(), nb),
                                 line_at(new_starts, new_text.size(), ne)});
  }
  return blocks;
}

std::string unified_diff(std::string_view label, const std::vector<std::string_view>& old_lines,
                         const std::vector<std::string_view>& new_lines,
                         std::vector<ChangeBlock> blocks, std::size_t context) {
  std::vector<ChangeBlock> changed;
  for (ChangeBlock b : blocks) {
    while (b.old_begin < b.old_end && b.new_begin < b.new_end &&
           old_lines[b.old_begin] == new_lines[b.new_begin])
      ++b.old_begin, ++b.new_begin;
    while (b.old_end > b.old_begin && b.new_end > b.new_begin &&
           old_lines[b.old_end - 1] == new_lines[b.new_end - 1])
      --b.old_end, --b.new_end;
    if (b.old_begin != b.old_end || b.new_begin != b.new_end) changed.push_back(b);
  }
  if (changed.empty()) return "";

  std::string out = fmt::format("--- {}\n+++ {}\n", label, label);
  for (std::size_t i = 0; i < changed.size();) {
    std::size_t j = i + 1;  // blocks [i, j) share a hunk
    while (j < changed.size() && changed[j].old_begin <= changed[j - 1].old_end + 2 * context) ++j;
    const ChangeBlock &first = changed[i], &last = changed[j - 1];
    std::size_t old_from = first.old_begin > context ? first.old_begin - context : 0;
    std::size_t old_to = std::min(old_lines.size(), last.old_end + context);
    std::size_t new_from = old_from + first.new_begin - first.old_begin;
    std::size_t new_to = old_to + last.new_end - last.old_end;
    out += fmt::format("@@ -{} +{} @@\n", range(old_from, old_to - old_from), range(new_from, new_to - new_from));
    std::size_t cur = old_from;
    for (std::size_t k = i; k < j; ++k) {
      const ChangeBlock& b = changed[k];
      for (; cur < b.old_begin; ++cur) emit(out, ' ', old_lines[cur]);
      for (std::size_t l = b.old_begin; l < b.old_end; ++l) emit(out, '-', old_lines[l]);
      for (std::size_t l = b.new_begin; l < b.new_end; ++l) emit(out, '+', new_lines[l]);
      cur = b.old_end;
    }
    for (; cur < old_to; ++cur) emit(out, ' ', old_lines[cur]);
    i = j;
  }
  return out;
}

}  // namespace yoi::tools
