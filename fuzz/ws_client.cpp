#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "fuzz_check.hpp"

namespace yoi::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "ws fuzz: the server stopped accepting connections\n");
    std::abort();
  }
  return fd;
}

// False when the peer is gone (a reset is a normal answer to garbage).
bool send_all(int fd, std::string_view b) {
  while (!b.empty()) {
    auto n = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    b.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until the server closes (true) or the deadline passes (false).
// Collects at most `keep` bytes into `out`.
bool drain(int fd, std::chrono::milliseconds deadline, std::string* out = nullptr,
           std::string_view stop_at = {}) {
  auto end = Clock::now() + deadline;
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset
    if (out && out->size() < 65536) out->append(buf, static_cast<std::size_t>(n));
    if (out && !stop_at.empty() && out->find(stop_at) != std::string::npos) return true;
  }
}

std::string pct(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      o += static_cast<char>(c);
    } else {
      o += '%';
      o += hex[c >> 4];
      o += hex[c & 15];
    }
  }
  return o;
}

void frame(std::string& out, std::uint8_t head, std::string_view payload, bool masked, bool long_form) {
  out += static_cast<char>(head);
  const std::uint8_t mbit = masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (long_form || n > 0xffff) {
    out += static_cast<char>(mbit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  } else if (n >= 126) {
    out += static_cast<char>(mbit | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(mbit | n);
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) out.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(masked ? payload[i] ^ key[i % 4] : payload[i]);
}

// The handshake; true when the server switched protocols.
bool handshake(int fd, const std::string& target) {
  std::string req = "GET " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (!send_all(fd, req)) return false;
  std::string resp;
  drain(fd, std::chrono::milliseconds(5000), &resp, "\r\n\r\n");
  return resp.starts_with("HTTP/1.1 101");
}

void wait_no_sessions(const WsTarget& t) {
  // Well under the servers' close timeout (3 s): a session that lives that
  // long waited for it, which no peer that half-closes should make it do.
  auto end = Clock::now() + std::chrono::seconds(2);
  while (t.open_sessions() != 0) {
    if (Clock::now() > end) {
      std::fprintf(stderr, "ws fuzz: a WebSocket session outlived its connection by 2 s\n");
      std::abort();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

void ws_exchange(const WsTarget& t, const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string target = t.paths[flags & 3];
  if (flags & 8) {
    auto nl = rest.find('\n');
    auto cursor = rest.substr(0, std::min<std::size_t>(nl, 300));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if ((flags & 64) && t.valid_cursor) {
      std::uint64_t seq = cursor.empty() ? 0 : static_cast<std::uint8_t>(cursor[0]) % 8;
      target += "?cursor=" + pct(t.valid_cursor(flags & 3, seq));
    } else {
      target += "?cursor=" + pct(cursor);
    }
  }

  std::string wire;
  if (flags & 4) {
    wire.assign(rest);
  } else {
    while (rest.size() >= 2) {
      auto head = static_cast<std::uint8_t>(rest[0]);
      std::size_t len = static_cast<std::uint8_t>(rest[1]);
      rest.remove_prefix(2);
      if (len == 0xff && rest.size() >= 2) {
        len = (static_cast<std::uint8_t>(rest[0]) << 8) | static_cast<std::uint8_t>(rest[1]);
        rest.remove_prefix(2);
      }
      auto payload = rest.substr(0, len);
      rest.remove_prefix(payload.size());
      frame(wire, head, payload, !(flags & 16), flags & 32);
    }
  }

  int fd = connect_to(t.port);
  if (handshake(fd, target)) {
    send_all(fd, wire);
    ::shutdown(fd, SHUT_WR);
    if (!drain(fd, std::chrono::milliseconds(10000))) {
      std::fprintf(stderr, "ws fuzz: the server kept a half-closed WebSocket open for 10 s\n");
      std::abort();
    }
  }
  ::close(fd);
  wait_no_sessions(t);

  // Still serving: every 128 exchanges a well-formed handshake must succeed.
  static unsigned n = 0;
  if (++n % 128 == 0) {
    int ok = connect_to(t.port);
    if (!handshake(ok, t.paths[0])) {
      std::fprintf(stderr, "ws fuzz: a valid handshake on %s was refused\n", t.paths[0].c_str());
      std::abort();
    }
    ::close(ok);
    wait_no_sessions(t);
  }
}

}  // namespace yoi::fuzz
