// yoi-stamp-provider: the producer of the comparison suite (issue 10). A
// minimal OpenAI-compatible chat-completions server whose streamed deltas
// each carry the CLOCK_MONOTONIC time (microseconds) at which they were
// written, so a subscriber on the same host measures the end-to-end latency
// provider -> yoi-runtime (openai engine, append, publish) -> [proxy] ->
// subscriber from each event's own text.
//
// The last message's content says what to stream: "rate=R count=K" — K
// deltas at R per second (R = 0: as fast as the socket takes them), each
// delta "<µs> " (one text_delta event per delta: the engine emits one per SSE
// event). Then a finish chunk, usage, [DONE].
//
//   yoi-stamp-provider [--listen 127.0.0.1:0]
// prints "yoi-stamp-provider listening on http://127.0.0.1:PORT" when ready.
//
// Blocking sockets, one thread per connection: the runtime opens one
// connection per turn, and a turn here is one paced loop.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::int64_t mono_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

bool send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// One HTTP chunk holding `payload`.
bool send_chunk(int fd, const std::string& payload) {
  char head[32];
  std::snprintf(head, sizeof head, "%zx\r\n", payload.size());
  return send_all(fd, head + payload + "\r\n");
}

std::string sse(const std::string& json) { return "data: " + json + "\n\n"; }

void append_delta(std::string& out, std::int64_t us) {
  char b[160];
  std::snprintf(b, sizeof b,
                "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%" PRId64
                " \"}}]}\n\n",
                us);
  out += b;
}

// Reads one request; returns its body ("" on failure).
bool read_request(int fd, std::string& head, std::string& body) {
  std::string buf;
  char tmp[16384];
  std::size_t hend;
  while ((hend = buf.find("\r\n\r\n")) == std::string::npos) {
    auto n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0 || buf.size() > (1u << 20)) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  head = buf.substr(0, hend);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::size_t len = 0;
  auto cl = lower.find("content-length:");
  if (cl != std::string::npos) len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
  if (len > (16u << 20)) return false;
  body = buf.substr(hend + 4);
  while (body.size() < len) {
    auto n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    body.append(tmp, static_cast<std::size_t>(n));
  }
  return true;
}

void serve(int fd) {
  std::string head, body;
  if (!read_request(fd, head, body)) {
    ::close(fd);
    return;
  }
  // The last "content" in the request is the newest user message.
  double rate = 1000;
  std::uint64_t count = 100;
  auto p = body.rfind("\"content\":\"");
  if (p != std::string::npos) {
    auto s = body.c_str() + p + 11;
    if (auto r = std::strstr(s, "rate=")) rate = std::atof(r + 5);
    if (auto c = std::strstr(s, "count=")) count = std::strtoull(c + 6, nullptr, 10);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = send_all(fd,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n") &&
            send_chunk(fd, sse(R"({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"}}]})"));
  const std::int64_t start = mono_us();
  std::uint64_t sent = 0;
  std::string out;
  while (ok && sent < count) {
    std::uint64_t due = count;
    if (rate > 0) {
      auto elapsed = static_cast<double>(mono_us() - start) / 1e6;
      due = std::min<std::uint64_t>(count, static_cast<std::uint64_t>(elapsed * rate) + 1);
    }
    if (due <= sent) {
      // Sleep until the next delta is due (short sleeps keep the pace even).
      auto next_us = start + static_cast<std::int64_t>(static_cast<double>(sent) / rate * 1e6);
      auto wait = next_us - mono_us();
      if (wait > 0) {
        timespec ts{0, static_cast<long>(std::min<std::int64_t>(wait, 1000) * 1000)};
        nanosleep(&ts, nullptr);
      }
      continue;
    }
    out.clear();
    // At most 64 deltas per write: each keeps its own stamp.
    for (std::uint64_t i = 0; i < 64 && sent < due; ++i, ++sent) append_delta(out, mono_us());
    ok = send_chunk(fd, out);
  }
  if (ok) {
    ok = send_chunk(fd, sse(R"({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})")) &&
         send_chunk(fd, sse("{\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                            "\"completion_tokens\":" + std::to_string(count) + "}}")) &&
         send_chunk(fd, sse("[DONE]")) && send_all(fd, "0\r\n\r\n");
  }
  ::shutdown(fd, SHUT_WR);
  char tmp[256];
  while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--listen")) listen = argv[i + 1];
  signal(SIGPIPE, SIG_IGN);
  auto colon = listen.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(listen.c_str() + colon + 1)));
  if (inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "yoi-stamp-provider: bad --listen %s\n", listen.c_str());
    return 2;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 128) != 0) {
    std::perror("yoi-stamp-provider: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("yoi-stamp-provider listening on http://127.0.0.1:%u\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) continue;
    std::thread(serve, fd).detach();
  }
}
