#include "yoi/tools/result.hpp"

namespace yoi::tools {

std::string_view code_name(ToolCode code) {
  switch (code) {
    case ToolCode::invalid_arguments: return "invalid_arguments";
    case ToolCode::not_found: return "not_found";
    case ToolCode::path_outside_scope: return "path_outside_scope";
    case ToolCode::read_only: return "read_only";
    case ToolCode::too_large: return "too_large";
    case ToolCode::tool_failed: return "tool_failed";
    case ToolCode::tool_timeout: return "tool_timeout";
    case ToolCode::sandbox_unavailable: return "sandbox_unavailable";
    case ToolCode::unknown_tool: return "unknown_tool";
    case ToolCode::cancelled: return "cancelled";
    case ToolCode::interrupted: return "interrupted";
    case ToolCode::denied: return "denied";
  }
  return "tool_failed";
}

}  // namespace yoi::tools
