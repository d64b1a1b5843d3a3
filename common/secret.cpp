#include "yoi/secret.hpp"

#include <openssl/crypto.h>

namespace yoi {

Secret::~Secret() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
}

bool Secret::equals(std::string_view candidate) const {
  // Compare over the candidate's length so timing never reveals a prefix of
  // the secret; a length mismatch still costs a full pass.
  const std::size_t n = candidate.size();
  unsigned char diff = static_cast<unsigned char>(n != value_.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char a = i < value_.size() ? static_cast<unsigned char>(value_[i]) : 0;
    diff |= a ^ static_cast<unsigned char>(candidate[i]);
  }
  return diff == 0 && !value_.empty();
}

}  // namespace yoi
