#include "yoi/tools/specs.hpp"

namespace yoi::tools {
namespace {

constexpr Spec kSpecs[] = {
    {"read",
     "Read a text file as numbered lines (paths are relative to /work). Pages long files with offset/limit.",
     R"({"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer","minimum":1},)"
     R"("limit":{"type":"integer","minimum":1}},"required":["path"],"additionalProperties":false})"},
    {"write", "Create or replace a file with the given content; parent directories are created.",
     R"({"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},)"
     R"("required":["path","content"],"additionalProperties":false})"},
    {"edit",
     "Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all. "
     "Answers a unified diff.",
     R"({"type":"object","properties":{"path":{"type":"string"},"old_string":{"type":"string"},)"
     R"("new_string":{"type":"string"},"replace_all":{"type":"boolean"}},)"
     R"("required":["path","old_string","new_string"],"additionalProperties":false})"},
    {"glob", "List files matching a glob pattern (** allowed) under path (default /work), newest first.",
     R"({"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"}},)"
     R"("required":["pattern"],"additionalProperties":false})"},
    {"grep",
     "Search files for a regular expression (RE2 syntax); answers path:line:text. Honours .gitignore.",
     R"({"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"},)"
     R"("glob":{"type":"string"},"case_insensitive":{"type":"boolean"}},)"
     R"("required":["pattern"],"additionalProperties":false})"},
    {"bash",
     "Run a shell command (bash -c) in a sandbox with cwd /work; the workspaces are under /workspaces. Answers its "
     "output (stdout and stderr) and exit code. timeout_ms defaults to 120000.",
     R"({"type":"object","properties":{"command":{"type":"string"},"timeout_ms":{"type":"integer","minimum":1}},)"
     R"("required":["command"],"additionalProperties":false})"},
};

}  // namespace

std::span<const Spec> builtin_specs() { return kSpecs; }

const Spec* find_spec(std::string_view name) {
  for (const auto& s : kSpecs)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace yoi::tools
