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

namespace {

// The MAC's message: length-prefixed fields, so no two tuples share one.
// Everything but the seq is the prefix a Minter absorbs once.
void append_prefix(std::string& msg, std::string_view runtime_id, std::string_view worker_id,
                   std::string_view epoch) {
  fmt::format_to(std::back_inserter(msg), "b1|{}|{}|{}|{}|{}|{}|", runtime_id.size(), runtime_id,
                 worker_id.size(), worker_id, epoch.size(), epoch);
}

void append_seq(std::string& out, std::uint64_t seq) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  out.append(digits, end);
}

// HMAC's two finals: `inner` already holds the key pad and the message.
std::string finish_mac(EVP_MD_CTX* inner, const EVP_MD_CTX* outer) {
  unsigned char in_digest[EVP_MAX_MD_SIZE], out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(inner, in_digest, &len);
  EVP_MD_CTX_copy_ex(inner, outer);
  EVP_DigestUpdate(inner, in_digest, len);
  EVP_DigestFinal_ex(inner, out, &len);
  return std::string(reinterpret_cast<const char*>(out), kMacBytes);
}

std::string cursor_text(std::string_view epoch_b64, std::uint64_t seq, std::string_view mac) {
  std::string out;
  out.reserve(8 + epoch_b64.size() + 20 + 24);
  out += "b1.";
  out += epoch_b64;
  out += '.';
  append_seq(out, seq);
  out += '.';
  out += b64url(mac);
  return out;
}

}  // namespace

std::string CursorCodec::mac(std::string_view runtime_id, std::string_view worker_id,
                             std::string_view epoch, std::uint64_t seq) const {
  std::string msg;
  append_prefix(msg, runtime_id, worker_id, epoch);
  append_seq(msg, seq);
  thread_local Scratch scratch;
  EVP_MD_CTX_copy_ex(scratch.ctx, keyed_->inner);
  EVP_DigestUpdate(scratch.ctx, msg.data(), msg.size());
  return finish_mac(scratch.ctx, keyed_->outer);
}

std::string CursorCodec::encode(std::string_view runtime_id, std::string_view worker_id,
                                const Position& pos) const {
  return cursor_text(b64url(pos.epoch), pos.seq, mac(runtime_id, worker_id, pos.epoch, pos.seq));
}

struct CursorCodec::Minter::State {
  std::shared_ptr<const Keyed> keyed;  // its outer state
  EVP_MD_CTX* inner = EVP_MD_CTX_new();  // the inner state with the prefix absorbed
  std::string epoch;
  std::string epoch_b64;
  ~State() { EVP_MD_CTX_free(inner); }
};

CursorCodec::Minter CursorCodec::minter(std::string_view runtime_id, std::string_view worker_id,
                                        std::string_view epoch) const {
  auto st = std::make_shared<Minter::State>();
  st->keyed = keyed_;
  st->epoch = std::string(epoch);
  st->epoch_b64 = b64url(epoch);
  std::string prefix;
  append_prefix(prefix, runtime_id, worker_id, epoch);
  EVP_MD_CTX_copy_ex(st->inner, keyed_->inner);
  EVP_DigestUpdate(st->inner, prefix.data(), prefix.size());
  Minter m;
  m.state_ = std::move(st);
  return m;
}

const std::string& CursorCodec::Minter::epoch() const { return state_->epoch; }

std::string CursorCodec::Minter::operator()(std::uint64_t seq) const {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  thread_local Scratch scratch;
  EVP_MD_CTX_copy_ex(scratch.ctx, state_->inner);
  EVP_DigestUpdate(scratch.ctx, digits, static_cast<std::size_t>(end - digits));
  return cursor_text(state_->epoch_b64, seq, finish_mac(scratch.ctx, state_->keyed->outer));
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
