// yoi-asio-relay: a TCP byte relay on Boost.Asio, the event loop yoi-server
// is built on, doing nothing else (issue 22). It measures the floor of any
// Asio relay: an event through it costs what Asio's reactor and handler
// dispatch cost, with no WebSocket parsing, no check of the event, no cursor.
// bench/run's latency comparison puts nginx, yoi-server and this side by
// side; what yoi-server adds over it is its own work, what this adds over
// nginx is Asio's.
//
//   yoi-asio-relay --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT
// prints "yoi-asio-relay listening on http://127.0.0.1:PORT" when ready.
//
// One thread. Each accepted connection gets its own upstream connection, and
// bytes are copied both ways as they come, one read and one write at a time
// per direction (a 64 KiB buffer each), as a reverse proxy relays an
// upgraded connection. Both sockets use the io_context's own executor and
// TCP_NODELAY, as yoi-server's do.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using Acceptor = asio::basic_socket_acceptor<tcp, asio::io_context::executor_type>;

namespace {

// One direction of a relayed connection: read from `from`, write all of it
// to `to`, again. Either side failing closes both.
struct Pipe : std::enable_shared_from_this<Pipe> {
  Socket& from;
  Socket& to;
  std::shared_ptr<void> owner;  // keeps both sockets
  std::array<char, 64 * 1024> buf{};

  Pipe(Socket& f, Socket& t, std::shared_ptr<void> o) : from(f), to(t), owner(std::move(o)) {}

  void read() {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      if (ec) return self->close();
      asio::async_write(self->to, asio::buffer(self->buf.data(), n),
                        [self](boost::system::error_code wec, std::size_t) {
                          if (wec) return self->close();
                          self->read();
                        });
    });
  }
  void close() {
    boost::system::error_code ignored;
    from.close(ignored);
    to.close(ignored);
  }
};

struct Connection {
  Socket client;
  Socket upstream;
  explicit Connection(Socket c) : client(std::move(c)), upstream(client.get_executor()) {}
};

void start(Socket client, const tcp::endpoint& up) {
  auto conn = std::make_shared<Connection>(std::move(client));
  conn->upstream.async_connect(up, [conn](boost::system::error_code ec) {
    if (ec) return;
    conn->client.set_option(tcp::no_delay(true), ec);
    conn->upstream.set_option(tcp::no_delay(true), ec);
    std::make_shared<Pipe>(conn->client, conn->upstream, conn)->read();
    std::make_shared<Pipe>(conn->upstream, conn->client, conn)->read();
  });
}

void accept(Acceptor& acceptor, const tcp::endpoint& up) {
  acceptor.async_accept([&acceptor, up](boost::system::error_code ec, Socket s) {
    if (!ec) start(std::move(s), up);
    accept(acceptor, up);
  });
}

tcp::endpoint parse(const std::string& hostport) {
  auto colon = hostport.rfind(':');
  return {asio::ip::make_address(hostport.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1)))};
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", upstream;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--listen") == 0) listen = argv[i + 1];
    if (std::strcmp(argv[i], "--upstream") == 0) upstream = argv[i + 1];
  }
  if (upstream.empty()) {
    std::fprintf(stderr, "usage: yoi-asio-relay [--listen HOST:PORT] --upstream HOST:PORT\n");
    return 2;
  }
  try {
    asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);  // as yoi-server's (app.cpp)
    Acceptor acceptor(io.get_executor(), parse(listen));
    const auto up = parse(upstream);
    accept(acceptor, up);
    std::printf("yoi-asio-relay listening on http://127.0.0.1:%u\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "yoi-asio-relay: %s\n", e.what());
    return 1;
  }
}
