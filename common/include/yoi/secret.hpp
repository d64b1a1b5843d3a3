#pragma once
// Secret: a value that must never reach a log line, an error message, a
// response body or a metric label (ARCHITECTURE §8): runtime tokens, provider
// API keys, runtime base URLs.
//
// It has no operator<<, no implicit conversion, no Boost.JSON conversion, and
// its fmt formatter writes "<redacted>". The only way to read it is the
// deliberately loud `expose()`, to be called where the value is used on the
// wire (an Authorization header, a connect call) and nowhere else.

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace yoi {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret(Secret&&) noexcept = default;
  Secret& operator=(const Secret&) = default;
  Secret& operator=(Secret&&) noexcept = default;
  ~Secret();  // wipes the bytes

  bool empty() const { return value_.empty(); }
  const std::string& expose() const { return value_; }

  // Constant-time comparison (for bearer tokens): time depends only on the
  // length of the candidate, never on where the first difference is.
  bool equals(std::string_view candidate) const;

 private:
  std::string value_;
};

// Deleted so that `std::cout << secret` and `boost::json::value_from(secret)`
// fail to compile instead of leaking.
template <class Stream>
Stream& operator<<(Stream&, const Secret&) = delete;

}  // namespace yoi

template <>
struct fmt::formatter<yoi::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const yoi::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("<redacted>", ctx);
  }
};
