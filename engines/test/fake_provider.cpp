#include "fake_provider.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cctype>

namespace yoi::engines::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out;
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("fake provider: {}", x.what());
  }
}

}  // namespace

std::string delta_chunk(const std::string& content) {
  return fmt::format(
      R"({{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"fake","choices":[{{"index":0,"delta":{{"content":"{}"}},"finish_reason":null}}]}})",
      json_escape(content));
}

std::string usage_chunk(int prompt_tokens, int completion_tokens) {
  return fmt::format(
      R"({{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"fake","choices":[],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}}}})",
      prompt_tokens, completion_tokens, prompt_tokens + completion_tokens);
}

std::string tool_call_chunk(int index, std::optional<std::string> id, std::optional<std::string> name,
                            std::optional<std::string> arguments) {
  std::string frag = fmt::format(R"({{"index":{})", index);
  if (id) frag += fmt::format(R"(,"id":"{}","type":"function")", json_escape(*id));
  if (name || arguments) {
    std::string fn;
    if (name) fn += fmt::format(R"("name":"{}")", json_escape(*name));
    if (arguments) fn += fmt::format(R"({}"arguments":"{}")", name ? "," : "", json_escape(*arguments));
    frag += R"(,"function":{)" + fn + "}";
  }
  frag += "}";
  return fmt::format(
      R"({{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"fake","choices":[{{"index":0,"delta":{{"tool_calls":[{}]}},"finish_reason":null}}]}})",
      frag);
}

std::string finish_chunk(const std::string& reason) {
  return fmt::format(
      R"({{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"fake","choices":[{{"index":0,"delta":{{}},"finish_reason":"{}"}}]}})",
      reason);
}

FakeResponse FakeResponse::stream(const std::vector<std::string>& pieces, int prompt_tokens, int completion_tokens,
                                  std::chrono::milliseconds gap) {
  FakeResponse r;
  r.body.push_back(FakeStep::data(
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]})"));
  for (const auto& p : pieces) {
    if (gap.count() > 0) r.body.push_back(FakeStep::wait(gap));
    r.body.push_back(FakeStep::data(delta_chunk(p)));
  }
  r.body.push_back(FakeStep::data(
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"));
  r.body.push_back(FakeStep::data(usage_chunk(prompt_tokens, completion_tokens)));
  r.body.push_back(FakeStep::data("[DONE]"));
  return r;
}

FakeResponse FakeResponse::status_only(int status, std::string body) {
  FakeResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body.push_back(FakeStep::text(std::move(body)));
  return r;
}

struct Conn {
  Conn(tcp::socket s, asio::ssl::context* ssl) : timer(s.get_executor()) {
    if (ssl)
      tls.emplace(std::move(s), *ssl);
    else
      plain.emplace(std::move(s));
  }
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer b) {
    if (tls) co_return co_await tls->async_read_some(b, kTok);
    co_return co_await plain->async_read_some(b, kTok);
  }
  asio::awaitable<std::tuple<error_code, std::size_t>> write_all(asio::const_buffer b) {
    if (tls) co_return co_await asio::async_write(*tls, b, kTok);
    co_return co_await asio::async_write(*plain, b, kTok);
  }

  std::optional<tcp::socket> plain;
  std::optional<asio::ssl::stream<tcp::socket>> tls;
  asio::steady_timer timer;  // the writer's sleeps and stalls; cancelled on client close
  bool closed = false;
  bool self_closed = false;
  std::array<char, 4096> scratch{};
};

struct FakeProvider::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::ssl::context> ssl;
  std::thread thread;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::deque<FakeResponse> queue;
  std::vector<RecordedRequest> requests;
  std::map<std::size_t, std::chrono::steady_clock::time_point> closes;
  std::size_t connections = 0;
  std::vector<std::string> sni;

  void record_close(std::size_t index) {
    std::lock_guard lock(mu);
    closes.emplace(index, std::chrono::steady_clock::now());
    cv.notify_all();
  }

  FakeResponse next() {
    std::lock_guard lock(mu);
    if (queue.empty()) return FakeResponse::status_only(500, "{\"error\":\"no scripted response\"}");
    FakeResponse r = std::move(queue.front());
    queue.pop_front();
    return r;
  }

  // Reads until the client closes (or resets); that moment is recorded.
  asio::awaitable<void> watch(std::shared_ptr<Conn> c, std::size_t index) {
    for (;;) {
      auto [ec, n] = co_await c->read_some(asio::buffer(c->scratch));
      if (!ec) continue;  // a pipelined byte we do not care about
      if (!c->self_closed) record_close(index);
      c->closed = true;
      c->timer.cancel();
      co_return;
    }
  }

  asio::awaitable<bool> write(std::shared_ptr<Conn> c, std::string bytes) {
    if (c->closed) co_return false;
    auto [ec, n] = co_await c->write_all(asio::buffer(bytes));
    co_return !ec && !c->closed;
  }

  asio::awaitable<void> serve(tcp::socket sock, std::size_t index) {
    auto c = std::make_shared<Conn>(std::move(sock), ssl.get());
    if (c->tls) {
      auto [hec] = co_await c->tls->async_handshake(asio::ssl::stream_base::server, kTok);
      if (hec) {
        record_close(index);
        co_return;
      }
      const char* name = SSL_get_servername(c->tls->native_handle(), TLSEXT_NAMETYPE_host_name);
      std::lock_guard lock(mu);
      sni.push_back(name ? name : "");
    }
    beast::flat_buffer buf;
    http::request_parser<http::string_body> p;
    p.body_limit(8 << 20);
    error_code ec;
    if (c->tls)
      std::tie(ec, std::ignore) = co_await http::async_read(*c->tls, buf, p, kTok);
    else
      std::tie(ec, std::ignore) = co_await http::async_read(*c->plain, buf, p, kTok);
    if (ec) {
      record_close(index);
      co_return;
    }
    {
      RecordedRequest rec;
      auto& m = p.get();
      rec.method = std::string(m.method_string());
      rec.target = std::string(m.target());
      for (auto& f : m) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        rec.headers[name] = std::string(f.value());
      }
      rec.body = m.body();
      std::lock_guard lock(mu);
      requests.push_back(std::move(rec));
      cv.notify_all();
    }
    FakeResponse r = next();
    asio::co_spawn(io, watch(c, index), log_exception);

    if (r.header_delay.count() > 0) {
      c->timer.expires_after(r.header_delay);
      co_await c->timer.async_wait(kTok);
    }
    if (r.drop_before_headers) {
      c->self_closed = true;
      error_code ignored;
      c->socket().close(ignored);
      co_return;
    }
    if (r.hang_before_headers) {
      c->timer.expires_at(asio::steady_timer::time_point::max());
      co_await c->timer.async_wait(kTok);
      co_return;
    }
    std::string head = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\n", r.status,
                                   std::string(http::obsolete_reason(static_cast<http::status>(r.status))),
                                   r.content_type);
    for (auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
    head += r.chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Connection: close\r\n\r\n";
    if (r.raw_head) head = *r.raw_head;
    if (!co_await write(c, std::move(head))) co_return;

    for (auto& step : r.body) {
      switch (step.kind) {
        case FakeStep::send: {
          std::string out = r.chunked ? fmt::format("{:x}\r\n{}\r\n", step.bytes.size(), step.bytes) : step.bytes;
          if (!co_await write(c, std::move(out))) co_return;
          break;
        }
        case FakeStep::raw:
          if (!co_await write(c, step.bytes)) co_return;
          break;
        case FakeStep::sleep:
          c->timer.expires_after(step.delay);
          co_await c->timer.async_wait(kTok);
          if (c->closed) co_return;
          break;
        case FakeStep::drop: {
          c->self_closed = true;
          error_code ignored;
          c->socket().close(ignored);
          co_return;
        }
        case FakeStep::stall:
          c->timer.expires_at(asio::steady_timer::time_point::max());
          co_await c->timer.async_wait(kTok);
          co_return;
      }
    }
    if (r.chunked) {
      co_await write(c, "0\r\n\r\n");  // then keep the connection open, as a keep-alive server would
    } else {
      c->self_closed = true;
      error_code ignored;
      if (c->tls)
        c->socket().close(ignored);  // no close_notify: the client sees a truncated stream
      else
        c->socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(kTok);
      if (ec) co_return;
      std::size_t index;
      {
        std::lock_guard lock(mu);
        index = connections++;
      }
      asio::co_spawn(io, serve(std::move(sock), index), log_exception);
    }
  }
};

FakeProvider::FakeProvider(std::optional<FakeTls> tls) : impl_(std::make_unique<Impl>()), tls_(tls.has_value()) {
  if (tls) {
    impl_->ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->ssl->use_certificate_chain(asio::buffer(tls->cert_pem));
    impl_->ssl->use_private_key(asio::buffer(tls->key_pem), asio::ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), log_exception);
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

FakeProvider::~FakeProvider() {
  impl_->io.stop();
  impl_->thread.join();
}

std::string FakeProvider::base_url(const std::string& host) const {
  return fmt::format("{}://{}:{}/v1", tls_ ? "https" : "http", host, port_);
}

std::vector<std::string> FakeProvider::sni_names() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sni;
}

void FakeProvider::enqueue(FakeResponse r) {
  std::lock_guard lock(impl_->mu);
  impl_->queue.push_back(std::move(r));
}

std::vector<RecordedRequest> FakeProvider::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::size_t FakeProvider::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connections;
}

std::optional<std::chrono::steady_clock::time_point> FakeProvider::wait_client_close(
    std::size_t index, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->closes.count(index) > 0; });
  auto it = impl_->closes.find(index);
  if (it == impl_->closes.end()) return std::nullopt;
  return it->second;
}

std::uint16_t unused_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

}  // namespace yoi::engines::test
