#pragma once
// Injectable time and randomness, so that backoff, heartbeats and ids are
// testable with exact values. Production code takes a Clock& / Random&;
// tests pass ManualClock / SeededRandom.

#include <chrono>
#include <cstdint>
#include <string>

namespace yoi {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time in milliseconds since the Unix epoch (event timestamps).
  virtual std::int64_t now_ms() const = 0;
  // Monotonic time for durations and deadlines.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;

  static Clock& system();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : ms_(start_ms) {}
  std::int64_t now_ms() const override { return ms_; }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms_));
  }
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }

 private:
  std::int64_t ms_;
};

class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;

  // Uniform in [0, bound); bound > 0.
  std::uint64_t uniform(std::uint64_t bound);
  // `bytes` random bytes as lowercase hex (2 * bytes characters).
  std::string hex(std::size_t bytes);

  // Process-wide generator seeded from the OS.
  static Random& system();
};

// Deterministic generator (splitmix64) for tests and reproducible runs.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() override;

 private:
  std::uint64_t state_;
};

}  // namespace yoi
