// Slowloris against both real binaries: clients that open a request and
// dribble header bytes (one every 500 ms, never finishing the header) are
// disconnected by the server's header deadline, while other clients keep
// being served promptly. The header deadline of both servers is the net
// layer's keep_alive_timeout (60 s, not configurable in either binary's
// config today — docs/RELIABILITY.md): the test asserts every dribbling
// connection is closed by the server within 60 s + 10 s, and not before it
// has sent at least 20 s worth of bytes (the cut is the timeout, not some
// other error).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "stack.hpp"

namespace yoi::reliability {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto kHeaderTimeout = 60s;  // net::ServerOptions::keep_alive_timeout default
constexpr auto kMargin = 10s;

struct Dribbler {
  int fd = -1;
  std::string name;
  clock::time_point opened;
  std::optional<clock::time_point> closed;
  std::size_t sent = 0;
  std::string reply;  // whatever the server wrote before closing

  Dribbler(std::string n, std::uint16_t port) : name(std::move(n)) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
    opened = clock::now();
    send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  ~Dribbler() {
    if (fd >= 0) ::close(fd);
  }
  void send(std::string_view bytes) {
    if (closed || fd < 0) return;
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      closed = clock::now();
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
  // Notices the server's close (EOF / reset) without blocking.
  void poll_closed() {
    if (closed || fd < 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return;
    char buf[512];
    auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
      reply.append(buf, static_cast<std::size_t>(n));
    else
      closed = clock::now();
  }
};

TEST(Slowloris, DribblingHeadersAreCutByTheTimeoutWhileOthersAreServed) {
  StackOptions o;
  o.echo_chunk_delay_ms = 0;
  o.runtime_log_level = "warn";
  o.server_log_level = "warn";
  Stack st(o);
  ASSERT_TRUE(st.start_runtime());
  ASSERT_TRUE(st.start_server());

  std::vector<std::unique_ptr<Dribbler>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::make_unique<Dribbler>("yoi-runtime #" + std::to_string(i), st.runtime_port()));
    slow.push_back(std::make_unique<Dribbler>("yoi-server #" + std::to_string(i), st.server_port()));
  }
  for (auto& d : slow) ASSERT_GE(d->fd, 0) << d->name << ": connect failed";

  net::test::HttpClient rt("127.0.0.1", st.runtime_port()), srv("127.0.0.1", st.server_port());
  long worst_ms = 0;
  int served = 0;
  auto end = clock::now() + kHeaderTimeout + kMargin;
  while (clock::now() < end) {
    bool all_closed = true;
    for (auto& d : slow) {
      d->send("a");
      d->poll_closed();
      all_closed = all_closed && d->closed.has_value();
    }
    if (all_closed) break;
    // Everyone else is served, promptly, meanwhile.
    for (auto* c : {&rt, &srv}) {
      auto t0 = clock::now();
      auto r = c->request("GET", "/healthz", "", {}, 5s);
      EXPECT_EQ(r.status, 200) << r.error;
      worst_ms = std::max<long>(worst_ms, std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count());
      ++served;
    }
    std::this_thread::sleep_for(500ms);
  }
  long first_s = 1000, last_s = 0;
  for (auto& d : slow) {
    ASSERT_TRUE(d->closed) << d->name << " still open after " << (kHeaderTimeout + kMargin).count() << " s";
    auto s = std::chrono::duration_cast<std::chrono::seconds>(*d->closed - d->opened).count();
    first_s = std::min(first_s, s);
    last_s = std::max(last_s, s);
    EXPECT_GE(*d->closed - d->opened, 20s) << d->name << " was cut early: not by the header timeout";
    EXPECT_GE(d->sent, 40u) << d->name;
    // A connection cut mid-header gets no answer at all.
    EXPECT_EQ(d->reply, "") << d->name;
  }
  // Every request above succeeded within its 5 s deadline; the figure shows
  // how promptly (loaded CI machines make a tighter bound flaky).
  EXPECT_LT(worst_ms, 5000) << "other clients waited while the slow ones dribbled";
  std::printf("[figures] slowloris: %zu dribbling connections (half per server) cut after %ld..%ld s "
              "(timeout %ld s); %d other requests served meanwhile, slowest %ld ms\n",
              slow.size(), first_s, last_s, static_cast<long>(kHeaderTimeout.count()), served, worst_ms);
}

}  // namespace
}  // namespace yoi::reliability
