#pragma once
// The one reconnect backoff (the backend's upstreams, the CLI's follow):
// jittered exponential ("equal jitter"). Attempt n (from 0) waits
// d = min(max, initial * factor^n), then a uniform value in [d/2, d] drawn
// from the injected Random, so a test with a scripted Random asserts literal
// delays.

#include <chrono>

#include "yoi/clock.hpp"

namespace yoi {

struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5'000};
  double factor = 2.0;
};

class Backoff {
 public:
  // `random` must outlive the Backoff.
  Backoff(BackoffPolicy policy, Random& random) : policy_(policy), random_(&random) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  Random* random_;
  unsigned attempt_ = 0;
};

}  // namespace yoi
