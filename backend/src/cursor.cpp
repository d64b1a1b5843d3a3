// SHA256_Init/Update/Final: deprecated in OpenSSL 3.0, not removed (see
// Keyed). Defined before any OpenSSL header is seen, so that it takes.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "yoi/backend/cursor.hpp"

#include <array>
#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <iterator>
#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace yoi::backend {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kMacBytes = 16;  // the MAC in the cursor: SHA-256's first 16 bytes
constexpr std::size_t kMaxCursor = 256;

// Unpadded base64url of `in`, appended to `out`. Written in place (one
// resize, no per-character append): the relay mints a cursor per event.
void append_b64url(std::string& out, std::string_view in) {
  const std::size_t at = out.size();
  out.resize(at + (in.size() * 4 + 2) / 3);
  char* o = out.data() + at;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8) | p[i + 2];
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (in.size() - i == 1) {
    std::uint32_t v = std::uint32_t(p[i]) << 16;
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8);
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
  }
}

std::string b64url(std::string_view in) {
  std::string out;
  append_b64url(out, in);
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

// The HMAC's two key pads absorbed once per key: each MAC starts from a copy
// of these states. Plain SHA256_CTX (OpenSSL's low-level API: deprecated in
// 3.0, still present, the same SHA-256 code): a struct copy instead of EVP's
// provider dispatch and EVP_MD_CTX_copy_ex, which were most of a relayed
// event's cursor cost (issue 22).
struct CursorCodec::Keyed {
  SHA256_CTX inner;
  SHA256_CTX outer;

  explicit Keyed(std::string_view key) {
    // RFC 2104 with SHA-256 (64-byte blocks): a longer key is hashed first.
    unsigned char block[SHA256_CBLOCK] = {}, pad[SHA256_CBLOCK];
    if (key.size() > sizeof block) {
      SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), block);
    } else {
      std::memcpy(block, key.data(), key.size());
    }
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, sizeof pad);
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  ~Keyed() {
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
  Keyed(const Keyed&) = delete;
  Keyed& operator=(const Keyed&) = delete;
};

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

using Mac = std::array<unsigned char, kMacBytes>;

// HMAC's two finals: `inner` (a copy) already holds the key pad and the
// message; `outer` is the key's outer state, copied here. The MAC's first
// kMacBytes, in an array (16 bytes would not fit a string's inline buffer).
Mac finish_mac(SHA256_CTX inner, const SHA256_CTX& outer) {
  unsigned char in_digest[SHA256_DIGEST_LENGTH], out[SHA256_DIGEST_LENGTH];
  SHA256_Final(in_digest, &inner);
  SHA256_CTX o = outer;
  SHA256_Update(&o, in_digest, sizeof in_digest);
  SHA256_Final(out, &o);
  Mac mac;
  std::memcpy(mac.data(), out, kMacBytes);
  return mac;
}

std::string_view view(const Mac& mac) { return {reinterpret_cast<const char*>(mac.data()), mac.size()}; }

void append_cursor(std::string& out, std::string_view epoch_b64, std::uint64_t seq, const Mac& mac) {
  out.reserve(out.size() + 8 + epoch_b64.size() + 20 + 24);
  out += "b1.";
  out += epoch_b64;
  out += '.';
  append_seq(out, seq);
  out += '.';
  append_b64url(out, view(mac));
}

}  // namespace

std::array<unsigned char, 16> CursorCodec::mac(std::string_view runtime_id, std::string_view worker_id,
                                               std::string_view epoch, std::uint64_t seq) const {
  std::string msg;
  append_prefix(msg, runtime_id, worker_id, epoch);
  append_seq(msg, seq);
  SHA256_CTX inner = keyed_->inner;
  SHA256_Update(&inner, msg.data(), msg.size());
  return finish_mac(inner, keyed_->outer);
}

std::string CursorCodec::encode(std::string_view runtime_id, std::string_view worker_id,
                                const Position& pos) const {
  std::string out;
  append_cursor(out, b64url(pos.epoch), pos.seq, mac(runtime_id, worker_id, pos.epoch, pos.seq));
  return out;
}

struct CursorCodec::Minter::State {
  std::shared_ptr<const Keyed> keyed;  // its outer state
  SHA256_CTX inner;  // the inner state with the prefix absorbed
  std::string epoch;
  std::string epoch_b64;
  ~State() { OPENSSL_cleanse(&inner, sizeof inner); }
};

CursorCodec::Minter CursorCodec::minter(std::string_view runtime_id, std::string_view worker_id,
                                        std::string_view epoch) const {
  auto st = std::make_shared<Minter::State>();
  st->keyed = keyed_;
  st->epoch = std::string(epoch);
  st->epoch_b64 = b64url(epoch);
  std::string prefix;
  append_prefix(prefix, runtime_id, worker_id, epoch);
  st->inner = keyed_->inner;
  SHA256_Update(&st->inner, prefix.data(), prefix.size());
  Minter m;
  m.state_ = std::move(st);
  return m;
}

const std::string& CursorCodec::Minter::epoch() const { return state_->epoch; }

std::string CursorCodec::Minter::operator()(std::uint64_t seq) const {
  std::string out;
  append_to(out, seq);
  return out;
}

void CursorCodec::Minter::append_to(std::string& out, std::uint64_t seq) const {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  SHA256_CTX inner = state_->inner;
  SHA256_Update(&inner, digits, static_cast<std::size_t>(end - digits));
  append_cursor(out, state_->epoch_b64, seq, finish_mac(inner, state_->keyed->outer));
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
  const auto want = mac(runtime_id, worker_id, p.epoch, p.seq);
  if (CRYPTO_memcmp(given.data(), want.data(), kMacBytes) != 0) return bad();
  return p;
}

}  // namespace yoi::backend
