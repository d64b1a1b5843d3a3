// WsReader (backend/src/ws_reader.hpp): the frames a runtime sends the
// upstream, parsed from untrusted bytes; and the remote upstream reading them
// from a fake runtime over a real socket (fragments, pings between them,
// frames that came with the 101, violations ending the stream).

#include "ws_reader.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <gtest/gtest.h>

#include "upstream.hpp"

namespace {

using yoi::backend::detail::WsReader;
using Kind = WsReader::Kind;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// An unmasked frame as a server sends it, length in its shortest form.
std::string frame(unsigned b0, std::string_view payload) {
  std::string f(1, static_cast<char>(b0));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    f.push_back(126);
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  return f.append(payload);
}
constexpr unsigned kFin = 0x80, kText = 1, kBinary = 2, kCont = 0, kClose = 8, kPing = 9, kPong = 10;

// Every item of `in`, parsed as the upstream does (dropping `used` each time).
std::vector<std::pair<Kind, std::string>> items(WsReader& r, std::string_view in) {
  std::vector<std::pair<Kind, std::string>> out;
  for (;;) {
    auto it = r.next(in);
    in.remove_prefix(it.used);
    out.emplace_back(it.kind, std::string(it.payload));
    if (it.kind == Kind::need_more || it.kind == Kind::error) return out;
  }
}

TEST(WsReader, AWholeMessageIsHandedOutInPlace) {
  WsReader r(1024);
  auto in = frame(kFin | kText, "{\"a\":1}") + frame(kFin | kText, "x");
  auto it = r.next(in);
  ASSERT_EQ(it.kind, Kind::message);
  EXPECT_EQ(it.payload, "{\"a\":1}");
  EXPECT_EQ(it.payload.data(), in.data() + 2) << "no copy of an unfragmented message";
  EXPECT_EQ(it.used, 9u);
  auto second = r.next(std::string_view(in).substr(it.used));
  ASSERT_EQ(second.kind, Kind::message);
  EXPECT_EQ(second.payload, "x");
}

TEST(WsReader, APartialFrameNeedsMoreUntilItIsWhole) {
  for (std::size_t n : {5u, 300u, 70'000u}) {  // the 7-bit, 16-bit and 64-bit length forms
    WsReader r(1 << 20);
    auto f = frame(kFin | kBinary, std::string(n, 'p'));
    for (std::size_t cut = 0; cut < f.size(); cut += (cut < 12 ? 1 : 997)) {
      auto it = r.next(std::string_view(f).substr(0, cut));
      ASSERT_EQ(it.kind, Kind::need_more) << n << " bytes cut at " << cut;
      EXPECT_GT(it.need, cut);
      EXPECT_LE(it.need, f.size());
      EXPECT_EQ(it.used, 0u);
    }
    auto it = r.next(f);
    ASSERT_EQ(it.kind, Kind::message);
    EXPECT_EQ(it.payload.size(), n);
  }
}

TEST(WsReader, FragmentsAssembleInOrderAroundControlFrames) {
  WsReader r(1024);
  auto in = frame(kText, "ab") + frame(kFin | kPing, "hi") + frame(kCont, "cd") + frame(kFin | kPong, "") +
            frame(kFin | kCont, "ef") + frame(kFin | kText, "next") + frame(kFin | kClose, "\x03\xe8");
  auto got = items(r, in);
  std::vector<std::pair<Kind, std::string>> want{
      {Kind::fragment, ""}, {Kind::ping, "hi"},     {Kind::fragment, ""},        {Kind::pong, ""},
      {Kind::message, "abcdef"}, {Kind::message, "next"}, {Kind::close, "\x03\xe8"}, {Kind::need_more, ""}};
  EXPECT_EQ(got, want);
}

TEST(WsReader, AMessageOfExactlyTheLimitPassesOneByteMoreIsAnError) {
  {
    WsReader r(100);
    EXPECT_EQ(r.next(frame(kFin | kText, std::string(100, 'x'))).kind, Kind::message);
  }
  {
    WsReader r(100);  // refused at the header, before its payload is read
    EXPECT_EQ(r.next(frame(kFin | kText, std::string(101, 'x')).substr(0, 4)).kind, Kind::error);
  }
  {
    WsReader r(100);  // the fragments of one message count together
    auto got = items(r, frame(kText, std::string(60, 'x')) + frame(kFin | kCont, std::string(41, 'y')));
    EXPECT_EQ(got.back().first, Kind::error);
  }
  {
    WsReader r(100);
    auto got = items(r, frame(kText, std::string(60, 'x')) + frame(kFin | kCont, std::string(40, 'y')));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[1].first, Kind::message);
    EXPECT_EQ(got[1].second.size(), 100u);
  }
}

TEST(WsReader, ProtocolViolationsAreErrors) {
  auto masked = frame(kFin | kText, "abcd");
  masked[1] = static_cast<char>(masked[1] | 0x80);
  std::string long16 = "\x81\x7e";
  long16 += std::string("\x00\x05", 2) + "hello";  // 5 in the 16-bit form
  std::string long64 = "\x82\x7f";
  long64 += std::string("\x00\x00\x00\x00\x00\x00\x01\x00", 8);  // 256 in the 64-bit form
  std::string huge64 = "\x82\x7f";
  huge64 += std::string("\x80\x00\x00\x00\x00\x00\x00\x00", 8);
  std::vector<std::pair<std::string, std::string>> cases{
      {"masked", masked},
      {"rsv1", frame(kFin | 0x40 | kText, "a")},
      {"rsv3", frame(kFin | 0x10 | kText, "a")},
      {"non-final control", frame(kPing, "a")},
      {"long control", frame(kFin | kPong, std::string(126, 'a'))},
      {"stray continuation", frame(kFin | kCont, "a")},
      {"message inside a message", frame(kText, "a") + frame(kFin | kText, "b")},
      {"16-bit length not shortest", long16},
      {"64-bit length not shortest", long64},
      {"64-bit length high bit", huge64},
  };
  for (unsigned op : {3u, 4u, 5u, 6u, 7u, 11u, 12u, 13u, 14u, 15u})
    cases.emplace_back("opcode " + std::to_string(op), frame(kFin | op, ""));
  for (const auto& [name, in] : cases) {
    WsReader r(1 << 20);
    EXPECT_EQ(items(r, in).back().first, Kind::error) << name;
  }
}

// ---- the remote upstream against a fake runtime ----

// Answers one WebSocket upgrade with a 101 and `after` in the same write,
// then records what the client sends until it closes.
class FakeRuntime {
 public:
  FakeRuntime(asio::io_context& io, std::string after) : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}),
                                                          sock_(io), after_(std::move(after)) {
    acceptor_.async_accept(sock_, [this](boost::system::error_code ec) {
      if (!ec) read_upgrade();
    });
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  std::string received;  // bytes after the upgrade request
  std::string request;

 private:
  void read_upgrade() {
    asio::async_read_until(sock_, buf_, "\r\n\r\n", [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      request.assign(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + n);
      buf_.consume(n);
      const std::string name = "Sec-WebSocket-Key: ";
      auto k = request.find(name);
      auto key = request.substr(k + name.size(), request.find("\r\n", k) - k - name.size());
      boost::beast::websocket::detail::sec_ws_accept_type accept;
      boost::beast::websocket::detail::make_sec_ws_accept(accept, key);
      out_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
             std::string(accept.data(), accept.size()) + "\r\n\r\n" + after_;
      asio::async_write(sock_, asio::buffer(out_), [this](boost::system::error_code, std::size_t) { read_rest(); });
    });
  }
  void read_rest() {
    sock_.async_read_some(asio::buffer(chunk_), [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      received.append(chunk_, n);
      read_rest();
    });
  }
  tcp::acceptor acceptor_;
  tcp::socket sock_;
  asio::streambuf buf_;
  std::string after_, out_;
  char chunk_[4096];
};

std::string event_frame(std::uint64_t seq) {
  auto s = std::to_string(seq);
  return R"({"type":"event","cursor":"r1.0a0b.0123456789ab.)" + s + R"(","seq":)" + s +
         R"(,"runtime_id":"rt","worker_id":"w","event":{"type":"text_delta","seq":)" + s + R"(,"delta":"d"}})";
}

struct Observed {
  bool connected = false;
  std::vector<std::pair<std::string, std::uint64_t>> events;
  std::optional<yoi::Error> lost;
};

// Connects an upstream to `fake` (after seq 0) and runs the io until `done`
// or a 5 s deadline.
Observed observe(asio::io_context& io, FakeRuntime& fake, std::size_t max_frame, std::function<bool(const Observed&)> done) {
  yoi::backend::detail::RemoteEndpoint ep;
  ep.endpoint.host = "127.0.0.1";
  ep.endpoint.port = fake.port();
  yoi::backend::StreamOptions opts;
  opts.max_frame = max_frame;
  auto up = yoi::backend::detail::make_remote_upstream(io, ep, "w", opts);
  Observed o;
  yoi::backend::StreamHandlers h;
  h.connected = [&o] { o.connected = true; };
  h.snapshot = [](yoi::backend::StreamSnapshot) {};
  h.event = [&o](std::string_view epoch, std::uint64_t seq, std::string_view) { o.events.emplace_back(epoch, seq); };
  h.idle = [] {};
  h.diagnostic = [](yoi::Error, std::string) {};
  h.lost = [&o](yoi::Error e) { o.lost = e; };
  up->connect(yoi::backend::Position{"0a0b", 0}, h);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done(o) && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(10));
  up->disconnect();
  io.run_for(std::chrono::milliseconds(10));
  return o;
}

TEST(RemoteUpstreamFrames, FragmentsPingsAndFramesThatCameWithThe101AreRead) {
  asio::io_context io;
  auto first = event_frame(1);
  FakeRuntime fake(io, frame(kText, first.substr(0, 10)) + frame(kFin | kPing, "hi") +
                           frame(kFin | kCont, first.substr(10)) + frame(kFin | kText, event_frame(2)));
  // The pong: FIN + opcode 10, masked, 2 bytes, a 4-byte key.
  auto o = observe(io, fake, 1 << 20, [&fake](const Observed& o) { return o.events.size() == 2 && fake.received.size() >= 8; });
  EXPECT_TRUE(o.connected);
  std::vector<std::pair<std::string, std::uint64_t>> want{{"0a0b", 1}, {"0a0b", 2}};
  EXPECT_EQ(o.events, want);
  EXPECT_FALSE(o.lost);
  EXPECT_NE(fake.request.find("GET /v1/workers/w/events/ws?cursor=r1.0a0b."), std::string::npos) << fake.request;
  EXPECT_NE(fake.request.find("Sec-WebSocket-Version: 13"), std::string::npos);
  ASSERT_GE(fake.received.size(), 8u);
  EXPECT_EQ(static_cast<unsigned char>(fake.received[0]), 0x8au);
  EXPECT_EQ(static_cast<unsigned char>(fake.received[1]), 0x82u);
  std::string pong;
  for (int i = 0; i < 2; ++i) pong.push_back(static_cast<char>(fake.received[6 + i] ^ fake.received[2 + i]));
  EXPECT_EQ(pong, "hi");
}

TEST(RemoteUpstreamFrames, AViolationLosesTheStreamAfterTheEventsBeforeIt) {
  struct Case {
    const char* name;
    std::string bad;
    std::size_t max_frame;
  };
  std::vector<Case> cases{{"bad opcode", frame(kFin | 3, "x"), 1 << 20},
                          {"over the message limit", frame(kFin | kText, event_frame(10)), event_frame(1).size()},
                          {"close", frame(kFin | kClose, "\x03\xe8"), 1 << 20}};
  for (const auto& c : cases) {
    asio::io_context io;
    FakeRuntime fake(io, frame(kFin | kText, event_frame(1)) + c.bad);
    auto o = observe(io, fake, c.max_frame, [](const Observed& o) { return o.lost.has_value(); });
    ASSERT_TRUE(o.lost) << c.name;
    EXPECT_EQ(o.lost->code, yoi::Code::runtime_unavailable) << c.name;
    EXPECT_EQ(o.events.size(), 1u) << c.name;
  }
}

}  // namespace
