#pragma once
// The one way a test drives an io_context to a condition: it runs handlers
// until `done()` holds or the deadline passes, and says which. Callers turn
// a false into a failure that names what they waited for (or, when a
// timeout is the expected outcome, assert on it).

#include <algorithm>
#include <chrono>
#include <functional>

#include <boost/asio/io_context.hpp>

namespace yoi::testing {

inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds deadline) {
  using clock = std::chrono::steady_clock;
  const auto end = clock::now() + deadline;
  while (!done()) {
    auto now = clock::now();
    if (now >= end) return false;
    io.restart();
    io.run_one_for(std::min<clock::duration>(std::chrono::milliseconds(5), end - now));
  }
  return true;
}

}  // namespace yoi::testing
