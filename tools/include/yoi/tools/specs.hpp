#pragma once
// The built-in tools as offered to a model (ARCHITECTURE §12): wire name,
// description and the JSON Schema of the arguments. The one list of names:
// profiles are checked against it and the runtime offers from it.
#include <span>
#include <string_view>

namespace yoi::tools {

struct Spec {
  std::string_view name;
  std::string_view description;
  std::string_view parameters;  // JSON Schema of the arguments object
};

// read, write, edit, glob, grep, bash (the default tool set of a profile).
std::span<const Spec> builtin_specs();
const Spec* find_spec(std::string_view name);

}  // namespace yoi::tools
