#pragma once
// The embedded source: direct calls into an rt::Runtime living in this
// process, on the same io_context. Full operation set; always `ready`.
// Event streams: Runtime::subscribe wakes a drain of read_after.
// The Runtime is borrowed: whoever opened it outlives the source.

#include <memory>

#include "yoi/backend/source.hpp"

namespace boost::asio {
class io_context;
}
namespace yoi::rt {
class Runtime;
}

namespace yoi::backend {

// `id` is the registry id (usually the runtime's own id, "local").
std::unique_ptr<Source> make_embedded_source(boost::asio::io_context& io, rt::Runtime& runtime,
                                             std::string id, std::string display_name = {});

}  // namespace yoi::backend
