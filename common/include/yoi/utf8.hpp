#pragma once
// UTF-8 well-formedness, the one definition every component shares (tool
// paths and outputs, a model's streamed text and tool-call arguments).

#include <cstddef>
#include <string_view>

namespace yoi {

// Length of the well-formed UTF-8 sequence at s[i] (no overlongs, surrogates
// or code points above U+10FFFF), or 0 when it is not one. i < s.size().
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// True when `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

// How many bytes at the end of `s` are the start of a well-formed sequence
// that the next bytes may complete (0..3): text streamed in pieces may be
// cut there, and those bytes wait for the next piece.
std::size_t utf8_incomplete_tail(std::string_view s);

}  // namespace yoi
