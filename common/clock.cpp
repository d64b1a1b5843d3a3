#include "yoi/clock.hpp"

#include <mutex>
#include <random>

namespace yoi {
namespace {

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
};

class SystemRandom final : public Random {
 public:
  std::uint64_t next_u64() override {
    std::lock_guard lock(mu_);
    return gen_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 gen_{std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)};
};

}  // namespace

Clock& Clock::system() {
  static SystemClock clock;
  return clock;
}

Random& Random::system() {
  static SystemRandom random;
  return random;
}

std::uint64_t Random::uniform(std::uint64_t bound) { return bound ? next_u64() % bound : 0; }

std::string Random::hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    if (i % 8 == 0) word = next_u64();
    unsigned char b = static_cast<unsigned char>(word >> ((i % 8) * 8));
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::uint64_t SeededRandom::next_u64() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace yoi
