#include "yoi/backend/cursor.hpp"

#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <iterator>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace yoi::backend {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kMacBytes = 16;
constexpr std::size_t kMaxCursor = 256;

std::string b64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (in.size() - i == 1) {
    std::uint32_t v = std::uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    std::uint32_t v = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool unb64url(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

}  // namespace

struct CursorCodec::Keyed {
  EVP_MD_CTX* inner = EVP_MD_CTX_new();
  EVP_MD_CTX* outer = EVP_MD_CTX_new();

  explicit Keyed(std::string_view key) {
    // RFC 2104 with SHA-256 (64-byte blocks): a longer key is hashed first.
    unsigned char block[64] = {}, pad[64];
    if (key.size() > sizeof block) {
      unsigned int n = 0;
      EVP_Digest(key.data(), key.size(), block, &n, EVP_sha256(), nullptr);
    } else {
      std::memcpy(block, key.data(), key.size());
    }
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x36;
    EVP_DigestInit_ex(inner, EVP_sha256(), nullptr);
    EVP_DigestUpdate(inner, pad, sizeof pad);
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x5c;
    EVP_DigestInit_ex(outer, EVP_sha256(), nullptr);
    EVP_DigestUpdate(outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  ~Keyed() {
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
  }
  Keyed(const Keyed&) = delete;
  Keyed& operator=(const Keyed&) = delete;
};

namespace {

// One scratch digest context per thread, reused for every MAC.
struct Scratch {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Scratch() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

CursorCodec::CursorCodec(Secret key) : keyed_(std::make_shared<const Keyed>(key.expose())) {}

std::string CursorCodec::mac(std::string_view runtime_id, std::string_view worker_id,
                             std::string_view epoch, std::uint64_t seq) const {
  // Length-prefixed fields, so no two tuples share a message.
  fmt::memory_buffer msg;
  fmt::format_to(std::back_inserter(msg), "b1|{}|{}|{}|{}|{}|{}|{}", runtime_id.size(), runtime_id,
                 worker_id.size(), worker_id, epoch.size(), epoch, seq);
  thread_local Scratch scratch;
  unsigned char inner[EVP_MAX_MD_SIZE], out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX_copy_ex(scratch.ctx, keyed_->inner);
  EVP_DigestUpdate(scratch.ctx, msg.data(), msg.size());
  EVP_DigestFinal_ex(scratch.ctx, inner, &len);
  EVP_MD_CTX_copy_ex(scratch.ctx, keyed_->outer);
  EVP_DigestUpdate(scratch.ctx, inner, len);
  EVP_DigestFinal_ex(scratch.ctx, out, &len);
  return std::string(reinterpret_cast<const char*>(out), kMacBytes);
}

std::string CursorCodec::encode(std::string_view runtime_id, std::string_view worker_id,
                                const Position& pos) const {
  return fmt::format("b1.{}.{}.{}", b64url(pos.epoch), pos.seq,
                     b64url(mac(runtime_id, worker_id, pos.epoch, pos.seq)));
}

Result<Position> CursorCodec::decode(std::string_view runtime_id, std::string_view worker_id,
                                     std::string_view c) const {
  auto bad = [] { return fail(Code::cursor_invalid, "cursor is malformed or not for this worker"); };
  if (c.size() > kMaxCursor || !c.starts_with("b1.")) return bad();
  c.remove_prefix(3);
  auto d1 = c.find('.');
  if (d1 == std::string_view::npos) return bad();
  auto d2 = c.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return bad();
  Position p;
  if (!unb64url(c.substr(0, d1), p.epoch)) return bad();
  auto num = c.substr(d1 + 1, d2 - d1 - 1);
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), p.seq);
  if (num.empty() || ec != std::errc() || ptr != num.data() + num.size()) return bad();
  std::string given;
  if (!unb64url(c.substr(d2 + 1), given) || given.size() != kMacBytes) return bad();
  auto want = mac(runtime_id, worker_id, p.epoch, p.seq);
  if (CRYPTO_memcmp(given.data(), want.data(), kMacBytes) != 0) return bad();
  return p;
}

}  // namespace yoi::backend
