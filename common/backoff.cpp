#include "yoi/backoff.hpp"

#include <cmath>
#include <cstdint>

namespace yoi {

std::chrono::milliseconds Backoff::next() {
  double d = static_cast<double>(policy_.initial.count()) * std::pow(policy_.factor, attempt_);
  auto cap = static_cast<double>(policy_.max.count());
  if (!(d < cap)) d = cap;
  // Past the cap the attempt count stops mattering; keep it from wrapping.
  if (attempt_ < 64) ++attempt_;
  auto full = static_cast<std::uint64_t>(d);
  auto half = full / 2;
  return std::chrono::milliseconds(half + random_->uniform(full - half + 1));
}

}  // namespace yoi
