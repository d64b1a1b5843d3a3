#include "test_client.hpp"

#include "yoi/testing/run_until.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace yoi::net::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::optional<std::string> HttpResult::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return std::nullopt;
}

namespace {

// Runs `io` until `done` or the deadline; returns whether `done` was reached.
bool run_until(asio::io_context& io, const bool& done, std::chrono::milliseconds timeout) {
  return yoi::testing::run_until(io, [&] { return done; }, timeout);
}

HttpResult to_result(http::response<http::string_body>& res) {
  HttpResult r;
  r.status = static_cast<int>(res.result_int());
  r.body = std::move(res.body());
  for (const auto& f : res) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return r;
}

}  // namespace

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  asio::io_context io;
  std::optional<tcp::socket> sock;
  beast::flat_buffer buf;
  int connects = 0;

  bool connect(std::chrono::milliseconds timeout, std::string& err) {
    sock.emplace(io);
    buf.clear();
    bool done = false;
    beast::error_code ec;
    sock->async_connect(tcp::endpoint(asio::ip::make_address(host), port), [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!run_until(io, done, timeout) || ec) {
      err = ec ? "connect: " + ec.message() : "connect: timeout";
      sock.reset();
      run_until(io, done, 1s);
      return false;
    }
    ++connects;
    return true;
  }

  HttpResult exchange(const std::string* raw, http::request<http::string_body>* req,
                      std::chrono::milliseconds timeout) {
    HttpResult out;
    if (!sock && !connect(timeout, out.error)) return out;
    bool done = false;
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    auto read = [&] {
      http::async_read(*sock, buf, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    };
    if (raw) {
      asio::async_write(*sock, asio::buffer(*raw), [&](beast::error_code e, std::size_t) {
        if (e) {
          ec = e;
          done = true;
          return;
        }
        read();
      });
    } else {
      http::async_write(*sock, *req, [&](beast::error_code e, std::size_t) {
        if (e) {
          ec = e;
          done = true;
          return;
        }
        read();
      });
    }
    if (!run_until(io, done, timeout)) {
      beast::error_code c;
      sock->close(c);
      run_until(io, done, 1s);
      sock.reset();
      out.error = "timeout";
      return out;
    }
    if (ec) {
      out.error = ec.message();
      sock.reset();
      return out;
    }
    auto res = parser.release();
    bool keep = res.keep_alive();
    out = to_result(res);
    if (!keep) sock.reset();
    return out;
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}
HttpClient::~HttpClient() = default;
int HttpClient::connects() const { return impl_->connects; }

HttpResult HttpClient::request(std::string_view method, std::string_view target, std::string body,
                               Fields headers, std::chrono::milliseconds timeout) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  // host:port, as a browser sends it (the Origin check compares the two).
  req.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  // A Host among `headers` replaces ours (DNS-rebinding tests).
  for (auto& [k, v] : headers) {
    if (beast::iequals(k, "Host"))
      req.set(http::field::host, v);
    else
      req.insert(k, v);
  }
  if (!body.empty() && req.find(http::field::content_type) == req.end())
    req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(true);
  req.prepare_payload();
  auto r = impl_->exchange(nullptr, &req, timeout);
  if (r.status == 0 && r.error.find("timeout") == std::string::npos && impl_->connects > 0) {
    // The server may have closed an idle keep-alive connection: retry once.
    http::request<http::string_body> again = req;
    r = impl_->exchange(nullptr, &again, timeout);
  }
  return r;
}

HttpResult HttpClient::raw(std::string bytes, std::chrono::milliseconds timeout) {
  impl_->sock.reset();
  auto r = impl_->exchange(&bytes, nullptr, timeout);
  impl_->sock.reset();
  return r;
}

// ---- WebSocket ----

struct WsClient::Impl {
  std::string host;
  std::uint16_t port;
  asio::io_context io;
  std::optional<websocket::stream<tcp::socket>> ws;
  int rcvbuf = 0;
  bool closed = false;
  std::uint16_t close_code = 1006;
  // A read that outlives a timed-out read() call.
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;
  beast::flat_buffer buf;

  void start_read() {
    reading = true;
    read_done = false;
    ws->async_read(buf, [this](beast::error_code e, std::size_t) {
      read_ec = e;
      read_done = true;
      reading = false;
    });
  }
};

WsClient::WsClient(std::string host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}

WsClient::WsClient(WsClient&&) noexcept = default;
WsClient& WsClient::operator=(WsClient&&) noexcept = default;

WsClient::~WsClient() {
  if (impl_ && impl_->ws) {
    beast::error_code ec;
    impl_->ws->next_layer().close(ec);
    impl_->io.restart();
    impl_->io.run_for(std::chrono::milliseconds(200));
  }
}

void WsClient::set_receive_buffer(int bytes) { impl_->rcvbuf = bytes; }

WsHandshake WsClient::connect(std::string_view target, Fields headers, std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  WsHandshake out;
  im.ws.emplace(im.io);
  auto& sock = im.ws->next_layer();
  sock.open(tcp::v4());
  if (im.rcvbuf > 0) sock.set_option(asio::socket_base::receive_buffer_size(im.rcvbuf));
  bool done = false;
  beast::error_code ec;
  websocket::response_type res;
  std::string tgt(target);
  sock.async_connect(tcp::endpoint(asio::ip::make_address(im.host), im.port), [&](beast::error_code e) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    im.ws->set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (auto& [k, v] : headers) req.set(k, v);  // a Host here replaces the handshake's
    }));
    im.ws->read_message_max(64u << 20);
    im.ws->async_handshake(res, im.host + ":" + std::to_string(im.port), tgt, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
  });
  if (!run_until(im.io, done, timeout)) {
    out.error = "timeout";
    beast::error_code c;
    sock.close(c);
    run_until(im.io, done, 1s);
    im.closed = true;
    return out;
  }
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  if (ec) {
    out.error = ec.message();
    im.closed = true;
    return out;
  }
  out.ok = true;
  return out;
}

std::optional<std::string> WsClient::read(std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  if (im.closed || !im.ws) return std::nullopt;
  if (!im.reading && !im.read_done) im.start_read();
  if (!run_until(im.io, im.read_done, timeout)) return std::nullopt;
  im.read_done = false;
  if (im.read_ec) {
    im.closed = true;
    if (im.read_ec == websocket::error::closed) im.close_code = im.ws->reason().code;
    return std::nullopt;
  }
  std::string msg = beast::buffers_to_string(im.buf.data());
  im.buf.consume(im.buf.size());
  return msg;
}

bool WsClient::send(std::string_view text, std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  if (im.closed || !im.ws) return false;
  bool done = false;
  beast::error_code ec;
  std::string copy(text);
  im.ws->text(true);
  im.ws->async_write(asio::buffer(copy), [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  return run_until(im.io, done, timeout) && !ec;
}

void WsClient::close(std::uint16_t code, std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  if (im.closed || !im.ws) return;
  bool done = false;
  im.ws->async_close(websocket::close_reason(code), [&](beast::error_code) { done = true; });
  run_until(im.io, done, timeout);
  im.closed = true;
}

bool WsClient::closed() const { return impl_->closed; }
std::uint16_t WsClient::close_code() const { return impl_->close_code; }

}  // namespace yoi::net::test
