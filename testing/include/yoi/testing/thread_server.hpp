#pragma once
// ThreadServer: a TCP listener on 127.0.0.1:0 that serves each connection
// on a thread of its own with plain blocking sockets — for fakes that must
// control every byte and every close (an upstream that drops a request, a
// relay that loses a reply). `serve(fd)` owns the accepted socket and closes
// it; it should return soon after stopping() turns true. The destructor
// stops accepting and joins every thread, so declare a ThreadServer after
// whatever its `serve` uses: it is then destroyed first.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace yoi::testing {

class ThreadServer {
 public:
  explicit ThreadServer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0) {
      socklen_t len = sizeof a;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    }
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ThreadServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  ThreadServer(const ThreadServer&) = delete;
  ThreadServer& operator=(const ThreadServer&) = delete;

  // 0 when the listener could not be set up (a test then fails to connect).
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }
  bool stopping() const { return stop_; }

  // Waits until `fd` is readable (true), `ms` passed (0: no limit) or the
  // server stops (false).
  bool readable(int fd, std::chrono::milliseconds ms) const {
    const auto until = std::chrono::steady_clock::now() + ms;
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
      if (ms.count() > 0 && std::chrono::steady_clock::now() >= until) return false;
    }
    return false;
  }

  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      if (!readable(fd_, std::chrono::milliseconds(0))) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      conns_.emplace_back([this, c] { serve_(c); });
    }
  }

  std::function<void(int)> serve_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // only the acceptor adds; joined at the end
};

}  // namespace yoi::testing
