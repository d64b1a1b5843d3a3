#include "yoi/backend/policy.hpp"

namespace yoi::backend {

std::string_view api_op_name(ApiOp op) {
  switch (op) {
    case ApiOp::list_runtimes: return "list_runtimes";
    case ApiOp::runtime_info: return "runtime_info";
    case ApiOp::list_all_workers: return "list_all_workers";
    case ApiOp::list_workers: return "list_workers";
    case ApiOp::create: return "create";
    case ApiOp::detail: return "detail";
    case ApiOp::input: return "input";
    case ApiOp::cancel: return "cancel";
    case ApiOp::stop: return "stop";
    case ApiOp::remove: return "remove";
    case ApiOp::approve: return "approve";
    case ApiOp::transcript: return "transcript";
    case ApiOp::events: return "events";
    case ApiOp::stream: return "stream";
  }
  return "unknown";
}

namespace {
class PassThrough final : public Policy {
 public:
  Result<void> check(const PolicyRequest&) const override { return {}; }
  std::optional<std::string> filter_event(std::string_view, std::string_view,
                                          std::string event_json) const override {
    return event_json;
  }
};
}  // namespace

std::shared_ptr<const Policy> pass_through_policy() {
  static const auto p = std::make_shared<const PassThrough>();
  return p;
}

}  // namespace yoi::backend
