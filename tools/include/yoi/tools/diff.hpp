#pragma once
// A small unified-diff writer (edit's answer). The caller knows where the
// text changed (edit knows every replacement), so there is no LCS search
// here: the change blocks come in, hunks with 3 lines of context come out.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace yoi::tools {

// Lines of `text`, each with its '\n' (the last may lack it).
std::vector<std::string_view> split_lines(std::string_view text);

// Old lines [old_begin, old_end) became new lines [new_begin, new_end).
// Blocks are sorted, disjoint, and the lines between them are equal.
struct ChangeBlock {
  std::size_t old_begin, old_end, new_begin, new_end;
};

// `--- label` / `+++ label` then the hunks (GNU diff -u format, including
// "\ No newline at end of file"). Equal leading/trailing lines inside a block
// are trimmed; blocks whose contexts touch share a hunk. "" when no block
// changes anything.
std::string unified_diff(std::string_view label, const std::vector<std::string_view>& old_lines,
                         const std::vector<std::string_view>& new_lines,
                         std::vector<ChangeBlock> blocks, std::size_t context = 3);

// For edit: `old_text` with `old_string` (non-empty) replaced at each byte
// offset in `at` (sorted, non-overlapping) gives `new_text`; returns the
// line-aligned change blocks.
std::vector<ChangeBlock> replacement_blocks(std::string_view old_text, std::string_view new_text,
                                            const std::vector<std::size_t>& at,
                                            std::size_t old_len, std::size_t new_len);

}  // namespace yoi::tools
