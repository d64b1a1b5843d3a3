// The HTTP client of yoi-runtime (src/http_client.cpp) against small real servers.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "fake_provider.hpp"  // engines/test: an https server with a test CA
#include "support.hpp"
#include "test_certs.hpp"
#include "yoi/backend/http_client.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/testing/thread_server.hpp"

namespace yoi::backend::test {
namespace {

struct ServerThread {
  boost::asio::io_context io;
  std::unique_ptr<net::HttpServer> server;
  std::thread thread;
  explicit ServerThread(net::Router r, std::uint16_t port = 0) {
    net::ServerOptions so;
    so.port = port;
    server = std::make_unique<net::HttpServer>(io, std::move(r), so);
    EXPECT_TRUE(server->start());
    thread = std::thread([this] { io.run(); });
  }
  ~ServerThread() {
    boost::asio::post(io, [this] { server->shutdown(std::chrono::milliseconds(200), [this] { io.stop(); }); });
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

Result<http::Response> call(boost::asio::io_context& io, http::Client& c, http::Request req,
                            http::TransportError* err = nullptr) {
  std::optional<http::Outcome> out;
  bool done = false;
  c.request(std::move(req), [&](http::Outcome o) {
    out = std::move(o);
    done = true;
  });
  if (!run_until(io, done, 10s)) return fail(Code::internal, "deadline");
  if (!*out) {
    if (err) *err = out->error();
    return fail(Code::runtime_unreachable, std::string(http::failure_name(out->error().kind)));
  }
  return std::move(**out);
}

TEST(HttpClient, ReusesKeepAliveConnectionsAndSendsTheBearer) {
  net::Router r;
  std::string seen_auth;
  r.add("POST", "/base/echo", [&](const net::Request& req, net::Respond respond) {
    seen_auth = std::string(req.header("authorization").value_or(""));
    respond(net::Response::text(200, req.body, "application/json"));
  });
  ServerThread st(std::move(r));
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(st.url() + "/base/"), {});
  ASSERT_TRUE(c);
  Secret tok("tkn");
  for (int i = 0; i < 5; ++i) {
    http::Request req;
    req.method = "POST";
    req.target = "/echo";
    req.body = "{\"i\":" + std::to_string(i) + "}";
    req.bearer = &tok;
    auto res = call(io, **c, req);
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, req.body);
  }
  EXPECT_EQ(seen_auth, "Bearer tkn");
  EXPECT_EQ((*c)->connections_opened(), 1u);
  EXPECT_EQ((*c)->idle_connections(), 1u);
}

// A GET of `target`, every other field at its default.
http::Request get(std::string target) {
  http::Request r;
  r.target = std::move(target);
  return r;
}

// GET /x answers `body`.
net::Router answering(std::string body) {
  net::Router r;
  r.add("GET", "/x", [body](const net::Request&, net::Respond respond) { respond(net::Response::text(200, body)); });
  return r;
}

TEST(HttpClient, RetriesOnceWhenAPooledConnectionWasClosedByTheServer) {
  boost::asio::io_context io;
  std::optional<ServerThread> st(std::in_place, answering("ok"));
  auto port = st->server->port();
  auto c = http::Client::make(io, Secret(st->url()), {});
  ASSERT_TRUE(call(io, **c, get("/x")));
  st.reset();  // closes the pooled connection from the server side
  st.emplace(answering("ok2"), port);
  auto res = call(io, **c, get("/x"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "ok2");
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

// Regression (issue 17, the web_e2e flake): a runtime killed and restarted
// left several connections in the pool; the retry took the next stale one
// and the request failed runtime_unreachable although the runtime was back.
TEST(HttpClient, ARestartedRuntimeLeavingSeveralStalePooledConnectionsStillAnswers) {
  net::Router r;
  // Answers once three requests are in, so the client needs three connections.
  std::vector<net::Respond> held;
  r.add("GET", "/x", [&held](const net::Request&, net::Respond respond) {
    held.push_back(std::move(respond));
    if (held.size() < 3) return;
    for (auto& h : held) h(net::Response::text(200, "ok"));
    held.clear();
  });
  boost::asio::io_context io;
  std::optional<ServerThread> st(std::in_place, std::move(r));
  auto port = st->server->port();
  auto c = http::Client::make(io, Secret(st->url()), {});
  int answered = 0;
  for (int i = 0; i < 3; ++i)
    (*c)->request(get("/x"), [&](http::Outcome o) { answered += o && o->status == 200; });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return answered == 3; }, 10s)) << answered << " of 3 answered";
  ASSERT_EQ((*c)->idle_connections(), 3u);
  st.reset();  // the runtime dies: every pooled connection is closed from its side
  st.emplace(answering("back"), port);
  auto res = call(io, **c, get("/x"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "back");
  EXPECT_EQ((*c)->connections_opened(), 4u) << "three stale, one fresh";
}

// ---------------------------------------------------------------- retries (issue 22)
// A fake upstream: a tiny HTTP/1.1 server on 127.0.0.1:0 (blocking sockets,
// a thread per connection) whose misbehaviour is scripted per request. It
// records the request line of every request it read, answered or not, so a
// test can tell whether the client sent something twice.
class FakeUpstream {
 public:
  // What to do with the n-th request (0-based) read on one connection.
  enum class Then { answer, close_silently, close_after_a_byte };
  struct Script {
    std::function<Then(int n_on_conn)> on_request = [](int) { return Then::answer; };
    // Closes a connection that sat idle this long after an answer (0: never).
    std::chrono::milliseconds idle_close{0};
    // When set, writes the answer itself (raw bytes on `fd`, the n-th request
    // on that connection); false: close the connection afterwards.
    std::function<bool(int fd, int n_on_conn)> write_reply;
  };

  explicit FakeUpstream(Script script) : script_(std::move(script)) {}
  std::string url() const { return server_.url(); }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int accepted() const { return server_.accepted(); }

 private:
  // One request: its head (to the blank line) and a Content-Length body.
  bool read_request(int c, std::string& buf, std::string& line) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!server_.readable(c, script_.idle_close)) return false;
      char tmp[4096];
      auto n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    std::size_t body = 0;
    auto cl = buf.find("Content-Length: ");
    if (cl != std::string::npos && cl < end) body = std::stoul(buf.substr(cl + 16));
    while (buf.size() < end + 4 + body) {
      char tmp[4096];
      auto n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    line = buf.substr(0, buf.find("\r\n"));
    buf.erase(0, end + 4 + body);
    return true;
  }
  void serve(int c) {
    std::string buf, line;
    for (int n = 0; read_request(c, buf, line); ++n) {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(line);
      }
      auto then = script_.on_request(n);
      if (then == Then::close_silently) break;
      if (then == Then::close_after_a_byte) {
        (void)!::send(c, "H", 1, MSG_NOSIGNAL);
        break;
      }
      if (script_.write_reply) {
        if (!script_.write_reply(c, n)) break;
        continue;
      }
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
      (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }

  Script script_;
  std::mutex mu_;
  std::vector<std::string> seen_;
  yoi::testing::ThreadServer server_{[this](int c) { serve(c); }};  // last: stopped first
};

// Answers the first request of each connection; reads the second and closes
// without a byte of reply: the server closing a pooled connection just as
// the client's request arrives.
FakeUpstream::Script drops_the_second_request() {
  FakeUpstream::Script s;
  s.on_request = [](int n) { return n == 0 ? FakeUpstream::Then::answer : FakeUpstream::Then::close_silently; };
  return s;
}

http::Request post(std::string target, bool repeatable) {
  http::Request r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = "{}";
  r.repeatable = repeatable;
  return r;
}

TEST(HttpClientRetry, AGetOnAPooledConnectionClosedUnderItIsRetriedOnAFreshOne) {
  FakeUpstream up(drops_the_second_request());
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  auto first = call(io, **c, get("/x"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->retried);
  auto res = call(io, **c, get("/x"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->retried) << "the caller is told the request went twice";
  EXPECT_EQ(up.seen().size(), 3u) << "answered, dropped, answered on the fresh connection";
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

TEST(HttpClientRetry, ARepeatablePostOnAPooledConnectionClosedUnderItIsRetried) {
  FakeUpstream up(drops_the_second_request());
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, post("/v1/workers/w/input", true)));
  auto res = call(io, **c, post("/v1/workers/w/input", true));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(up.seen(), std::vector<std::string>(3, "POST /v1/workers/w/input HTTP/1.1"));
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

// cancel, stop, delete: the server may have acted on the first copy.
TEST(HttpClientRetry, APostNotMarkedRepeatableIsNeverSentTwice) {
  FakeUpstream up(drops_the_second_request());
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, post("/v1/workers/w/cancel", false)));
  http::TransportError err;
  auto res = call(io, **c, post("/v1/workers/w/cancel", false), &err);
  ASSERT_FALSE(res);
  EXPECT_EQ(err.kind, http::Failure::unreachable);
  EXPECT_EQ(up.seen().size(), 2u) << "the dropped cancel was not sent again";
  EXPECT_EQ((*c)->connections_opened(), 1u);
}

TEST(HttpClientRetry, ADeleteIsNeverSentTwice) {
  FakeUpstream up(drops_the_second_request());
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  http::Request del;
  del.method = "DELETE";
  del.target = "/v1/workers/w";
  ASSERT_TRUE(call(io, **c, del));
  EXPECT_FALSE(call(io, **c, del));
  EXPECT_EQ(up.seen().size(), 2u);
  EXPECT_EQ((*c)->connections_opened(), 1u);
}

TEST(HttpClientRetry, AGetIsNotRetriedOnceAByteOfTheReplyArrived) {
  FakeUpstream::Script s;
  s.on_request = [](int n) {
    return n == 0 ? FakeUpstream::Then::answer : FakeUpstream::Then::close_after_a_byte;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, get("/x")));
  EXPECT_FALSE(call(io, **c, get("/x")));
  EXPECT_EQ(up.seen().size(), 2u);
  EXPECT_EQ((*c)->connections_opened(), 1u);
}

TEST(HttpClientRetry, AGetFailingOnAFreshConnectionIsNotRetried) {
  FakeUpstream::Script s;
  s.on_request = [](int) { return FakeUpstream::Then::close_silently; };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  http::TransportError err;
  EXPECT_FALSE(call(io, **c, get("/x"), &err));
  EXPECT_EQ(err.kind, http::Failure::unreachable);
  EXPECT_EQ(up.seen().size(), 1u);
  EXPECT_EQ((*c)->connections_opened(), 1u);
}

// The upstream closes keep-alive connections idle for 50 ms (as servers and
// proxies do): the pool notices before sending, so even a request that is
// never retried (a cancel) goes out once, on a fresh connection, and works.
TEST(HttpClientRetry, APooledConnectionTheServerClosedWhileIdleIsNeverUsed) {
  FakeUpstream::Script s;
  s.idle_close = 50ms;
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, post("/v1/workers/w/cancel", false)));
  ASSERT_EQ((*c)->idle_connections(), 1u);
  std::this_thread::sleep_for(300ms);  // the server closes it meanwhile
  auto res = call(io, **c, post("/v1/workers/w/cancel", false));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(up.seen().size(), 2u);
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

// ---------------------------------------------------------------- the reply parser
// The client reads replies with Beast's basic_parser fed by hand (issue 22):
// what a real server may send must still come through whole.

void send_all(int fd, std::string_view bytes) { (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); }

TEST(HttpClientReply, AChunkedReplyIsReassembledAndItsConnectionReused) {
  FakeUpstream::Script s;
  s.write_reply = [](int fd, int) {
    send_all(fd,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\n{\"a\r\n5;ext=1\r\n\":12}\r\n0\r\n\r\n");
    return true;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  for (int i = 0; i < 2; ++i) {
    auto res = call(io, **c, get("/v1/runtime"));
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, R"({"a":12})");
    EXPECT_EQ(res->content_type, "application/json");
  }
  EXPECT_EQ(up.accepted(), 1);
}

TEST(HttpClientReply, AReplyWrittenOneByteAtATimeIsParsed) {
  const std::string reply =
      "HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nX-Other: y\r\n"
      "Content-Length: 17\r\n\r\n{\"worker_id\":\"w\"}";
  FakeUpstream::Script s;
  s.write_reply = [&reply](int fd, int) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (char ch : reply) {
      send_all(fd, std::string_view(&ch, 1));
      std::this_thread::sleep_for(200us);  // each byte its own segment
    }
    return true;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  for (int i = 0; i < 2; ++i) {
    auto res = call(io, **c, post("/v1/workers", false));
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 201);
    EXPECT_EQ(res->body, R"({"worker_id":"w"})");
    EXPECT_EQ(res->content_type, "application/json; charset=utf-8");
  }
  EXPECT_EQ(up.accepted(), 1);  // the byte-wise reply left the connection reusable
}

TEST(HttpClientReply, AReplyOverMaxResponseBytesIsTooLargeAndItsConnectionIsNotReused) {
  std::atomic<int> order{0};
  FakeUpstream::Script s;
  s.write_reply = [&order](int fd, int) {
    if (order++ == 0) {  // the first request overall: 2 KiB, chunked, over the 1 KiB bound
      std::string body(2048, 'x');
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 4; ++i) send_all(fd, "200\r\n" + body.substr(0, 512) + "\r\n");
      send_all(fd, "0\r\n\r\n");
      return true;  // the server would keep it; the client must not
    }
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    return true;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  http::ClientOptions o;
  o.max_response_bytes = 1024;
  auto c = http::Client::make(io, Secret(up.url()), o);
  http::TransportError err;
  EXPECT_FALSE(call(io, **c, get("/v1/runtime"), &err));
  EXPECT_EQ(err.kind, http::Failure::too_large);
  EXPECT_EQ((*c)->idle_connections(), 0u);
  auto res = call(io, **c, get("/v1/runtime"));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->body, "{}");
  EXPECT_EQ((*c)->connections_opened(), 2u);
  EXPECT_EQ(up.accepted(), 2);
  EXPECT_EQ(up.seen().size(), 2u);  // the oversized GET was not retried
}

TEST(HttpClientReply, AKeepAliveReplyFollowedByTheServerClosingMeansAFreshConnectionNext) {
  FakeUpstream::Script s;
  s.write_reply = [](int fd, int) {
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    return false;  // keep-alive said, then closed
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, post("/v1/workers/w/cancel", false)));
  std::this_thread::sleep_for(100ms);  // the FIN arrives
  // Not repeatable: it goes through because the stale connection is never
  // used, not because of a retry.
  auto res = call(io, **c, post("/v1/workers/w/cancel", false));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(up.seen().size(), 2u);
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

TEST(HttpClientReply, AReplySayingConnectionCloseIsNotPooled) {
  FakeUpstream::Script s;
  s.write_reply = [](int fd, int) {
    send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
    // Keeps the socket open a moment: only the header says not to reuse it.
    std::this_thread::sleep_for(300ms);
    return false;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  auto c = http::Client::make(io, Secret(up.url()), {});
  ASSERT_TRUE(call(io, **c, get("/v1/runtime")));
  EXPECT_EQ((*c)->idle_connections(), 0u);
  ASSERT_TRUE(call(io, **c, get("/v1/runtime")));
  EXPECT_EQ((*c)->connections_opened(), 2u);
}

// One timer per connection, re-armed lazily (it may still be set for an
// earlier request's deadline): many fast requests over more than one
// timeout on the same connection all succeed, and a reply that stalls
// mid-body still ends at its own deadline.
TEST(HttpClientReply, TheDeadlineFiresMidBodyAfterManyFastRequestsOnOneConnection) {
  std::atomic<bool> stall{false};
  FakeUpstream::Script s;
  s.write_reply = [&stall](int fd, int) {
    if (!stall) {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
      return true;
    }
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\"");
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 3000);  // until the client gives up and closes
    return false;
  };
  FakeUpstream up(s);
  boost::asio::io_context io;
  http::ClientOptions o;
  o.timeout = 300ms;
  auto c = http::Client::make(io, Secret(up.url()), o);
  auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  while (std::chrono::steady_clock::now() - t0 < 800ms) {
    auto res = call(io, **c, get("/v1/runtime"));
    ASSERT_TRUE(res) << "request " << n << ": " << res.error().message;
    ++n;
  }
  EXPECT_GT(n, 20);
  EXPECT_EQ(up.accepted(), 1);
  stall = true;
  http::TransportError err;
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(call(io, **c, get("/v1/runtime"), &err));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_EQ(err.kind, http::Failure::timeout);
  EXPECT_EQ(err.step, "read");
  EXPECT_GE(ms, 280);
  EXPECT_LE(ms, 600);
  EXPECT_EQ((*c)->idle_connections(), 0u);
}

// ---------------------------------------------------------------- the queue bound
// With every connection busy, requests wait in a bounded queue; past the
// bound a request fails at once with `busy` and is never sent.
TEST(HttpClientQueue, OverTheBoundARequestIsBusyAtOnceAndNothingIsSent) {
  net::Router r;
  int arrived = 0;
  std::vector<net::Respond> held;
  std::mutex mu;
  r.add("GET", "/x", [&](const net::Request&, net::Respond respond) {
    std::lock_guard lock(mu);
    ++arrived;
    held.push_back(std::move(respond));
  });
  ServerThread st(std::move(r));
  boost::asio::io_context io;
  http::ClientOptions o;
  o.max_connections = 1;
  o.max_queued = 2;
  auto c = http::Client::make(io, Secret(st.url()), o);
  std::vector<std::optional<http::Outcome>> outs(4);
  for (std::size_t i = 0; i < outs.size(); ++i)
    (*c)->request(get("/x"), [&outs, i](http::Outcome o) { outs[i] = std::move(o); });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return outs[3].has_value(); }, 5s));
  ASSERT_FALSE(*outs[3]);
  EXPECT_EQ(outs[3]->error().kind, http::Failure::busy);
  EXPECT_EQ((*c)->queued(), 2u);
  EXPECT_FALSE(outs[0] || outs[1] || outs[2]);
  // The one connection serves the queue in order as answers come.
  for (int answered = 0; answered < 3; ++answered) {
    ASSERT_TRUE(yoi::testing::run_until(io, [&] {
      std::lock_guard lock(mu);
      return held.size() == 1u;
    }, 5s)) << "request " << answered << " did not arrive";
    {
      std::lock_guard lock(mu);
      boost::asio::post(st.io, [h = std::move(held.front())] { h(net::Response::text(200, "ok")); });
      held.clear();
    }
    ASSERT_TRUE(yoi::testing::run_until(io, [&] { return outs[answered].has_value(); }, 5s));
    EXPECT_TRUE(*outs[answered]) << answered;
  }
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(arrived, 3);
  }
  EXPECT_EQ((*c)->connections_opened(), 1u);
}

// A queued request keeps its own deadline: a hung runtime answers nobody,
// and each waiting request times out at its deadline, not later.
TEST(HttpClientQueue, QueuedRequestsTimeOutAtTheirDeadline) {
  boost::asio::io_context lio;
  boost::asio::ip::tcp::acceptor acc(lio, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = acc.local_endpoint().port();
  boost::asio::io_context io;
  http::ClientOptions o;
  o.timeout = 300ms;
  o.max_connections = 1;
  auto c = http::Client::make(io, Secret("http://127.0.0.1:" + std::to_string(port)), o);
  std::vector<std::optional<http::Outcome>> outs(3);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < outs.size(); ++i)
    (*c)->request(get("/x"), [&outs, i](http::Outcome o) { outs[i] = std::move(o); });
  ASSERT_TRUE(yoi::testing::run_until(io, [&] { return outs[0] && outs[1] && outs[2]; }, 5s));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  for (auto& out : outs) {
    ASSERT_FALSE(*out);
    EXPECT_EQ(out->error().kind, http::Failure::timeout);
  }
  EXPECT_LE(ms, 700);
  EXPECT_EQ((*c)->queued(), 0u);
}

TEST(HttpClient, AcceptsButNeverAnswersIsATimeoutAtTheDeadline) {
  // A listener that accepts (the kernel does, backlog) and never reads.
  boost::asio::io_context lio;
  boost::asio::ip::tcp::acceptor acc(lio, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = acc.local_endpoint().port();
  boost::asio::io_context io;
  http::ClientOptions o;
  o.timeout = 400ms;
  auto c = http::Client::make(io, Secret("http://127.0.0.1:" + std::to_string(port)), o);
  http::TransportError err;
  auto t0 = std::chrono::steady_clock::now();
  auto res = call(io, **c, get("/v1/runtime"), &err);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(res);
  EXPECT_EQ(err.kind, http::Failure::timeout);
  EXPECT_GE(ms, 320);
  EXPECT_LE(ms, 480);
}

TEST(HttpClient, RefusedOversizedAndMalformed) {
  boost::asio::io_context io;
  // Refused: a port nothing listens on.
  boost::asio::ip::tcp::acceptor tmp(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto dead = tmp.local_endpoint().port();
  tmp.close();
  auto c = http::Client::make(io, Secret("http://127.0.0.1:" + std::to_string(dead)), {});
  http::TransportError err;
  EXPECT_FALSE(call(io, **c, get("/"), &err));
  EXPECT_EQ(err.kind, http::Failure::unreachable);
  EXPECT_EQ(err.step, "connect");

  net::Router r;
  r.add("GET", "/big", [](const net::Request&, net::Respond respond) {
    respond(net::Response::text(200, std::string(4096, 'x')));
  });
  ServerThread st(std::move(r));
  http::ClientOptions o;
  o.max_response_bytes = 1024;
  auto small = http::Client::make(io, Secret(st.url()), o);
  EXPECT_FALSE(call(io, **small, get("/big"), &err));
  EXPECT_EQ(err.kind, http::Failure::too_large);

  EXPECT_FALSE(http::parse_base_url(Secret("ftp://x")));
  EXPECT_FALSE(http::parse_base_url(Secret("http://user:pw@x:1")));
  auto ep = http::parse_base_url(Secret("https://[::1]:8443/p/"));
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->tls);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, "8443");
  EXPECT_EQ(ep->base_path, "/p");
}

TEST(HttpClient, HttpsVerifiesTheCertificateAndHostNameAndSendsSni) {
  namespace et = yoi::engines::test;
  et::FakeProvider tls_server(et::FakeTls{et::kLeafCertPem, et::kLeafKeyPem});
  TmpDir dir;
  auto ca = dir.file("ca.pem", et::kTestCaPem);
  const auto port = std::to_string(tls_server.port());
  boost::asio::io_context io;
  http::TransportError err;

  // Trusted CA, matching host name: works.
  tls_server.enqueue(et::FakeResponse::status_only(200, "{\"ok\":true}"));
  http::ClientOptions o;
  o.ca_file = ca;
  auto good = http::Client::make(io, Secret("https://localhost:" + port), o);
  auto res = call(io, **good, get("/v1/runtime"), &err);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  auto sni = tls_server.sni_names();
  ASSERT_FALSE(sni.empty());
  EXPECT_EQ(sni.back(), "localhost");

  // The certificate does not name 127.0.0.1: host-name verification fails.
  auto wrong_host = http::Client::make(io, Secret("https://127.0.0.1:" + port), o);
  EXPECT_FALSE(call(io, **wrong_host, get("/v1/runtime"), &err));
  EXPECT_EQ(err.kind, http::Failure::tls);

  // Without the test CA the chain is untrusted.
  auto untrusted = http::Client::make(io, Secret("https://localhost:" + port), {});
  EXPECT_FALSE(call(io, **untrusted, get("/v1/runtime"), &err));
  EXPECT_EQ(err.kind, http::Failure::tls);
}

}  // namespace
}  // namespace yoi::backend::test
