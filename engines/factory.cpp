// The one place that maps a profile's engine name to an implementation.

#include <fmt/format.h>

#include "yoi/engines/engine.hpp"
#include "yoi/engines/openai.hpp"

namespace yoi::engines {

Result<std::shared_ptr<Engine>> make_engine(boost::asio::io_context& io, const ProfileConfig& p) {
  if (p.engine == "echo") {
    if (p.echo_chunk_bytes == 0)
      return fail(Code::config_invalid,
                  fmt::format("profile '{}': echo chunk size must be positive", p.name));
    return make_echo_engine(io, p.echo_chunk_bytes, p.echo_chunk_delay, p.echo_burst);
  }
  if (p.engine == "openai") return make_openai_engine(io, p);
  return fail(Code::config_invalid,
              fmt::format("profile '{}': unknown engine '{}'", p.name, p.engine));
}

}  // namespace yoi::engines
