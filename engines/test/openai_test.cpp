// The openai engine against a fake OpenAI-compatible server over real
// loopback sockets (fake_provider.hpp). Every test also checks, in TearDown,
// that the canary API key and the base URL never reached a delta, an error
// message or a log line.

#include "yoi/engines/openai.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include <mutex>
#include <thread>

#include "fake_provider.hpp"
#include "test_certs.hpp"
#include "yoi/log.hpp"

namespace yoi::engines {
namespace {

namespace asio = boost::asio;
namespace bj = boost::json;
using namespace std::chrono_literals;
using test::FakeProvider;
using test::FakeResponse;
using test::FakeStep;
using Clock = std::chrono::steady_clock;

constexpr const char* kKey = "sk-CANARY-7f3a9c1e5b";

struct TurnRun {
  std::vector<std::string> events;  // "delta:<text>", "usage:<in>/<out>", "done:<ok|code>"
  std::string text;
  std::optional<Result<TurnEnd>> done;
  int handler_calls = 0;
};

std::string outcome_name(const Result<TurnEnd>& r) { return r ? "ok" : std::string(code_name(r.error().code)); }

class OpenAiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("info");
    capture_ = log::add_capture([this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_lines_.emplace_back(line);
    });
  }

  void TearDown() override {
    log::remove_capture(capture_);
    const std::string hostport = fmt::format("127.0.0.1:{}", fake_.port());
    auto scan = [&](std::string_view what, std::string_view text) {
      EXPECT_EQ(text.find(kKey), std::string_view::npos) << what << " leaks the API key: " << text;
      EXPECT_EQ(text.find("CANARY"), std::string_view::npos) << what << " leaks part of the API key: " << text;
      EXPECT_EQ(text.find(hostport), std::string_view::npos) << what << " leaks the base URL: " << text;
    };
    std::lock_guard lock(log_mu_);
    for (auto& l : log_lines_) scan("a log line", l);
    for (auto& e : seen_events_) scan("an event", e);
  }

  ProfileConfig profile() {
    ProfileConfig p;
    p.name = "fake";
    p.engine = "openai";
    p.base_url = Secret(fake_.base_url());
    p.model = "fake-model";
    p.api_key = Secret(kKey);
    p.system_prompt = "You are terse.";
    p.connect_timeout = 2s;
    p.first_byte_timeout = 3s;
    p.idle_timeout = 3s;
    p.max_retries = 2;
    return p;
  }

  OpenAiOptions fast_retries() {
    OpenAiOptions o;
    o.retry_delay = [this](int retry, std::optional<std::chrono::milliseconds> hint) {
      retry_calls_.emplace_back(retry, hint);
      return 1ms;
    };
    return o;
  }

  std::shared_ptr<Engine> engine(const ProfileConfig& p, OpenAiOptions o) {
    auto e = make_openai_engine(io_, p, std::move(o));
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().message);
    return e ? *e : nullptr;
  }
  std::shared_ptr<Engine> engine(const ProfileConfig& p) { return engine(p, fast_retries()); }

  TurnHandlers handlers(TurnRun& r) {
    TurnHandlers h;
    h.on_delta = [this, &r](std::string_view d) {
      ++r.handler_calls;
      r.text += d;
      r.events.push_back("delta:" + std::string(d));
    };
    h.on_usage = [&r](const Usage& u) {
      ++r.handler_calls;
      r.events.push_back(fmt::format("usage:{}/{}", u.input_tokens, u.output_tokens));
    };
    h.on_done = [this, &r](Result<TurnEnd> res) {
      ++r.handler_calls;
      r.events.push_back("done:" + outcome_name(res));
      if (!res) seen_events_.push_back(res.error().message);
      r.done = std::move(res);
    };
    return h;
  }

  // Runs the io_context until `pred` holds; false on deadline.
  template <class Pred>
  bool drive(Pred pred, std::chrono::milliseconds deadline) {
    const auto end = Clock::now() + deadline;
    while (!pred()) {
      if (Clock::now() > end) return false;
      if (io_.stopped()) io_.restart();
      if (io_.run_one_for(5ms) == 0) std::this_thread::sleep_for(1ms);
    }
    return true;
  }
  // Runs the io_context for `d` regardless.
  void drive_for(std::chrono::milliseconds d) {
    drive([] { return false; }, d);
  }

  TurnRun run(Engine& e, std::vector<Message> conversation = {{"user", "hello"}},
              std::chrono::milliseconds deadline = 5s) {
    TurnRun r;
    auto turn = e.start(std::move(conversation), handlers(r));
    EXPECT_TRUE(drive([&] { return r.done.has_value(); }, deadline))
        << "turn did not finish within " << deadline.count() << " ms";
    for (auto& ev : r.events) seen_events_.push_back(ev);
    return r;
  }

  // As run(), offering `tools`.
  TurnRun run_tools(Engine& e, std::vector<Message> conversation, std::vector<ToolSpec> tools,
                    std::chrono::milliseconds deadline = 5s) {
    TurnRun r;
    auto turn = e.start(std::move(conversation), std::move(tools), handlers(r));
    EXPECT_TRUE(drive([&] { return r.done.has_value(); }, deadline))
        << "turn did not finish within " << deadline.count() << " ms";
    for (auto& ev : r.events) seen_events_.push_back(ev);
    return r;
  }

  Code failure_code(const TurnRun& r) {
    EXPECT_TRUE(r.done.has_value());
    EXPECT_FALSE(r.done && r.done->has_value()) << "turn succeeded but a failure was expected";
    return r.done && !r.done->has_value() ? r.done->error().code : Code::internal;
  }

  asio::io_context io_;
  FakeProvider fake_;
  std::vector<std::pair<int, std::optional<std::chrono::milliseconds>>> retry_calls_;
  std::vector<std::string> seen_events_;
  std::mutex log_mu_;
  std::vector<std::string> log_lines_;
  int capture_ = 0;
};

// ---- the happy path and the request ----

TEST_F(OpenAiTest, StreamsDeltasInOrderThenUsageThenDone) {
  fake_.enqueue(FakeResponse::stream({"Hel", "lo", ", wor", "ld\n\"quoted\""}, 12, 5));
  auto e = engine(profile());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), "openai");
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:Hel", "delta:lo", "delta:, wor", "delta:ld\n\"quoted\"",
                                                 "usage:12/5", "done:ok"}));
  EXPECT_EQ(r.text, "Hello, world\n\"quoted\"");
}

TEST_F(OpenAiTest, RequestCarriesModelSystemPromptHistoryStreamOptionsAndBearerKey) {
  fake_.enqueue(FakeResponse::stream({"ok"}));
  auto p = profile();
  p.temperature = 0.25;
  p.max_tokens = 64;
  auto e = engine(p);
  auto r = run(*e, {{"user", "first"}, {"assistant", "reply one"}, {"user", "second"}});
  ASSERT_TRUE(r.done && r.done->has_value());

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].headers["authorization"], std::string("Bearer ") + kKey);
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(reqs[0].headers["host"], fmt::format("127.0.0.1:{}", fake_.port()));
  const bj::value expected = bj::parse(R"({
    "model": "fake-model",
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "first"},
      {"role": "assistant", "content": "reply one"},
      {"role": "user", "content": "second"}
    ],
    "stream": true,
    "stream_options": {"include_usage": true},
    "temperature": 0.25,
    "max_tokens": 64
  })");
  EXPECT_EQ(bj::parse(reqs[0].body), expected) << reqs[0].body;
}

TEST_F(OpenAiTest, NoSystemMessageWithoutPromptAndNoAuthorizationWithoutKey) {
  fake_.enqueue(FakeResponse::stream({"ok"}));
  auto p = profile();
  p.system_prompt.clear();
  p.api_key = Secret();
  p.base_url = Secret(fake_.base_url() + "/");  // a trailing slash is tolerated
  auto e = engine(p);
  auto r = run(*e);
  ASSERT_TRUE(r.done && r.done->has_value());
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].headers.count("authorization"), 0u);
  EXPECT_EQ(bj::parse(reqs[0].body).at("messages"), bj::parse(R"([{"role":"user","content":"hello"}])"));
}

TEST_F(OpenAiTest, CommentsKeepAlivesAndCrlfFramingAreTolerated) {
  FakeResponse resp;
  resp.body = {FakeStep::text(": keep-alive\r\n\r\n"),
               FakeStep::text("data: " + test::delta_chunk("a") + "\r\n\r\ndata: " + test::delta_chunk("b")),
               FakeStep::text("\r\n\r\n"),
               FakeStep::text("data: [DONE]\r\n\r\n")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:a", "delta:b", "done:ok"}));
}

TEST_F(OpenAiTest, NonStreamingJsonAnswerIsAccepted) {
  // Some servers ignore `stream: true` and answer with one completion.
  auto resp = FakeResponse::status_only(
      200, R"({"choices":[{"index":0,"message":{"role":"assistant","content":"whole reply"},"finish_reason":"stop"}],)"
           R"("usage":{"prompt_tokens":3,"completion_tokens":2}})");
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:whole reply", "usage:3/2", "done:ok"}));
}

TEST_F(OpenAiTest, StreamClosedAfterFinishReasonWithoutDoneIsComplete) {
  FakeResponse resp;
  resp.chunked = false;  // body ends when the server closes
  resp.body = {FakeStep::data(test::delta_chunk("x")),
               FakeStep::data(R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:x", "done:ok"}));
}

// ---- typed failures ----

TEST_F(OpenAiTest, RefusedConnectionIsProviderUnreachable) {
  auto p = profile();
  p.base_url = Secret(fmt::format("http://127.0.0.1:{}/v1", test::unused_port()));
  auto e = engine(p);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_unreachable);
  EXPECT_EQ(r.events.size(), 1u);
}

TEST_F(OpenAiTest, DnsFailureIsProviderUnreachable) {
  auto p = profile();
  p.base_url = Secret("http://yoi-no-such-host.invalid/v1");
  auto e = engine(p);
  auto r = run(*e, {{"user", "hi"}}, 10s);
  EXPECT_EQ(failure_code(r), Code::provider_unreachable);
  ASSERT_TRUE(r.done && !r.done->has_value());
  EXPECT_EQ(r.done->error().message.find("no-such-host"), std::string::npos) << r.done->error().message;
}

TEST_F(OpenAiTest, Unauthorized401And403AreAuthFailedWithoutRetryOrEcho) {
  for (int status : {401, 403}) {
    SCOPED_TRACE(status);
    // A provider that quotes the key back in its error body (OpenAI does,
    // partially); the engine must not pass that on.
    fake_.enqueue(FakeResponse::status_only(
        status, std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKey + "\"}}"));
    auto e = engine(profile());
    auto before = fake_.requests().size();
    auto r = run(*e);
    EXPECT_EQ(failure_code(r), Code::provider_auth_failed);
    EXPECT_EQ(fake_.requests().size(), before + 1) << "auth failures are not retried";
  }
  EXPECT_TRUE(retry_calls_.empty());
}

TEST_F(OpenAiTest, RetriesOn429And5xxWithBackoffThenSucceeds) {
  auto limited = FakeResponse::status_only(429);
  limited.headers.push_back({"Retry-After", "2"});
  fake_.enqueue(limited);
  fake_.enqueue(FakeResponse::status_only(503));
  fake_.enqueue(FakeResponse::stream({"after", " retries"}));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:after", "delta: retries", "usage:11/7", "done:ok"}));
  EXPECT_EQ(fake_.requests().size(), 3u);
  ASSERT_EQ(retry_calls_.size(), 2u);
  EXPECT_EQ(retry_calls_[0].first, 1);
  EXPECT_EQ(retry_calls_[0].second, std::optional<std::chrono::milliseconds>(2000ms));
  EXPECT_EQ(retry_calls_[1].first, 2);
  EXPECT_EQ(retry_calls_[1].second, std::nullopt);
}

TEST_F(OpenAiTest, GivesUpAfterMaxRetriesWithProviderError) {
  for (int i = 0; i < 3; ++i) fake_.enqueue(FakeResponse::status_only(500));
  auto p = profile();
  p.max_retries = 2;
  auto e = engine(p);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_error);
  EXPECT_EQ(fake_.requests().size(), 3u) << "one attempt plus max_retries retries";
  EXPECT_EQ(retry_calls_.size(), 2u);
}

TEST_F(OpenAiTest, ZeroMaxRetriesMeansOneAttempt) {
  fake_.enqueue(FakeResponse::status_only(502));
  auto p = profile();
  p.max_retries = 0;
  auto e = engine(p);
  EXPECT_EQ(failure_code(run(*e)), Code::provider_error);
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiTest, Other4xxIsProviderErrorWithoutRetry) {
  fake_.enqueue(FakeResponse::status_only(404, R"({"error":{"message":"model not found"}})"));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_error);
  EXPECT_EQ(fake_.requests().size(), 1u);
  ASSERT_TRUE(r.done && !r.done->has_value());
  EXPECT_NE(r.done->error().message.find("404"), std::string::npos) << r.done->error().message;
}

TEST_F(OpenAiTest, NoResponseWithinFirstByteTimeoutIsProviderTimeout) {
  FakeResponse silent;
  silent.hang_before_headers = true;
  fake_.enqueue(silent);
  auto p = profile();
  p.first_byte_timeout = 200ms;
  auto e = engine(p);
  const auto t0 = Clock::now();
  auto r = run(*e);
  const auto took = Clock::now() - t0;
  EXPECT_EQ(failure_code(r), Code::provider_timeout);
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(fake_.wait_client_close(0, 2s).has_value()) << "the engine must close the connection";
}

TEST_F(OpenAiTest, HeadersButNoBodyWithinFirstByteTimeoutIsProviderTimeout) {
  // llama.cpp-style servers send headers at once and the first token later.
  FakeResponse r0;
  r0.body = {FakeStep::hang()};
  fake_.enqueue(r0);
  auto p = profile();
  p.first_byte_timeout = 200ms;
  auto e = engine(p);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_timeout);
  ASSERT_TRUE(r.done && !r.done->has_value());
  EXPECT_NE(r.done->error().message.find("first_byte_timeout"), std::string::npos);
}

TEST_F(OpenAiTest, SilentGapMidStreamIsProviderTimeoutAfterPartialText) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::delta_chunk("partial")), FakeStep::hang()};
  fake_.enqueue(resp);
  auto p = profile();
  p.idle_timeout = 200ms;
  auto e = engine(p);
  const auto t0 = Clock::now();
  auto r = run(*e);
  EXPECT_GE(Clock::now() - t0, 190ms);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:partial", "done:provider_timeout"}));
  ASSERT_TRUE(r.done && !r.done->has_value());
  EXPECT_NE(r.done->error().message.find("idle_timeout"), std::string::npos);
}

TEST_F(OpenAiTest, SlowButSteadyStreamIsNotAnIdleTimeout) {
  // Gaps of 100 ms, each well inside the 600 ms idle timeout, add up to
  // more than it: the timeout is per gap, not per stream.
  fake_.enqueue(FakeResponse::stream({"a", "b", "c", "d", "e", "f", "g", "h"}, 1, 8, 100ms));
  auto p = profile();
  p.idle_timeout = 600ms;
  p.first_byte_timeout = 600ms;
  auto e = engine(p);
  auto r = run(*e);
  EXPECT_EQ(r.events.back(), "done:ok");
  EXPECT_EQ(r.text, "abcdefgh");
}

TEST_F(OpenAiTest, DisconnectMidStreamIsProviderErrorAfterPartialText) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::delta_chunk("half")), FakeStep::close_now()};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:half", "done:provider_error"}));
  EXPECT_EQ(fake_.requests().size(), 1u) << "a stream that started is never retried";
}

TEST_F(OpenAiTest, ConnectionClosedBeforeTheResponseIsProviderError) {
  FakeResponse gone;
  gone.drop_before_headers = true;
  fake_.enqueue(gone);
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_error);
}

TEST_F(OpenAiTest, MalformedStatusLineIsBadResponse) {
  FakeResponse garbage;
  garbage.raw_head = "HTTP/1.1 two hundred OK\r\n\r\n";
  fake_.enqueue(garbage);
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, MalformedJsonChunkIsBadResponse) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::delta_chunk("fine")), FakeStep::data("{\"choices\": [ {\"delta\": "),
               FakeStep::data(test::delta_chunk("never"))};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:fine", "done:provider_bad_response"}));
}

TEST_F(OpenAiTest, WrongShapeChunkIsBadResponse) {
  FakeResponse resp;
  resp.body = {FakeStep::data(R"({"choices":[{"index":0,"delta":{"content":42}}]})")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, OversizedEventIsBadResponse) {
  FakeResponse resp;
  resp.body = {FakeStep::text("data: " + std::string(5000, 'x'))};
  fake_.enqueue(resp);
  auto o = fast_retries();
  o.max_event_bytes = 4096;
  auto e = engine(profile(), o);
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, OversizedBodyIsBadResponse) {
  FakeResponse resp;
  for (int i = 0; i < 50; ++i) resp.body.push_back(FakeStep::data(test::delta_chunk(std::string(100, 'y'))));
  fake_.enqueue(resp);
  auto o = fast_retries();
  o.max_body_bytes = 2000;
  auto e = engine(profile(), o);
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, BrokenChunkedFramingIsBadResponse) {
  FakeResponse resp;
  resp.body = {FakeStep::raw_bytes("zz-not-a-chunk-size\r\n")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, ErrorObjectInStreamIsProviderErrorWithoutEcho) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::delta_chunk("so far")),
               FakeStep::data(std::string(R"({"error":{"message":"overloaded, key )") + kKey + "\"}}")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:so far", "done:provider_error"}));
}

// ---- cancel ----

TEST_F(OpenAiTest, CancelMidStreamClosesTheConnectionPromptlyAndSilencesHandlers) {
  std::vector<std::string> pieces;
  for (int i = 0; i < 100; ++i) pieces.push_back(fmt::format("p{} ", i));
  fake_.enqueue(FakeResponse::stream(pieces, 1, 100, 50ms));
  auto e = engine(profile());
  TurnRun r;
  auto turn = e->start({{"user", "long answer please"}}, handlers(r));
  ASSERT_TRUE(drive([&] { return r.events.size() >= 3; }, 5s)) << "no deltas arrived";
  const int calls_at_cancel = r.handler_calls;
  const auto t0 = Clock::now();
  turn->cancel();
  auto closed = fake_.wait_client_close(0, 2s);
  ASSERT_TRUE(closed.has_value()) << "the fake never saw the connection close";
  const auto ms = std::chrono::duration<double, std::milli>(*closed - t0).count();
  std::printf("[ measure  ] cancel() -> provider saw close: %.3f ms\n", ms);
  EXPECT_LT(ms, 500.0) << "cancel must tear the request down promptly (target < 100 ms)";
  drive_for(300ms);
  EXPECT_EQ(r.handler_calls, calls_at_cancel) << "a handler ran after cancel()";
  EXPECT_FALSE(r.done.has_value());
  turn.reset();  // destroying a cancelled turn is fine
  drive_for(20ms);
  for (auto& ev : r.events) seen_events_.push_back(ev);
}

TEST_F(OpenAiTest, CancelFromInsideOnDeltaStopsTheRestOfTheSlice) {
  // Several deltas arrive in one read; cancelling in the first must silence
  // the rest even though they were already parsed from the same buffer.
  FakeResponse resp;
  std::string burst;
  for (int i = 0; i < 5; ++i) burst += "data: " + test::delta_chunk(std::to_string(i)) + "\n\n";
  resp.body = {FakeStep::text(burst), FakeStep::hang()};
  fake_.enqueue(resp);
  auto e = engine(profile());
  TurnRun r;
  std::unique_ptr<Turn> turn;
  auto h = handlers(r);
  auto inner = h.on_delta;
  h.on_delta = [&](std::string_view d) {
    inner(d);
    turn->cancel();
  };
  turn = e->start({{"user", "x"}}, h);
  ASSERT_TRUE(drive([&] { return !r.events.empty(); }, 5s));
  drive_for(200ms);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:0"}));
  EXPECT_TRUE(fake_.wait_client_close(0, 2s).has_value());
}

TEST_F(OpenAiTest, CancelRightAfterStartCallsNoHandler) {
  fake_.enqueue(FakeResponse::stream({"never"}));
  auto e = engine(profile());
  TurnRun r;
  auto turn = e->start({{"user", "x"}}, handlers(r));
  turn->cancel();
  drive_for(300ms);
  EXPECT_EQ(r.handler_calls, 0);
}

TEST_F(OpenAiTest, CancelDuringRetryBackoffEndsTheTurnSilently) {
  fake_.enqueue(FakeResponse::status_only(503));
  auto o = fast_retries();
  o.retry_delay = [](int, std::optional<std::chrono::milliseconds>) { return 10s; };
  auto e = engine(profile(), o);
  TurnRun r;
  auto turn = e->start({{"user", "x"}}, handlers(r));
  ASSERT_TRUE(drive([&] { return fake_.requests().size() == 1; }, 5s));
  drive_for(100ms);  // into the backoff
  const auto t0 = Clock::now();
  turn->cancel();
  drive_for(200ms);
  EXPECT_EQ(r.handler_calls, 0);
  EXPECT_EQ(fake_.requests().size(), 1u) << "no retry after cancel";
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST_F(OpenAiTest, DestroyingTheTurnCancelsIt) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::delta_chunk("a")), FakeStep::hang()};
  fake_.enqueue(resp);
  auto e = engine(profile());
  TurnRun r;
  auto turn = e->start({{"user", "x"}}, handlers(r));
  ASSERT_TRUE(drive([&] { return !r.events.empty(); }, 5s));
  turn.reset();
  EXPECT_TRUE(fake_.wait_client_close(0, 2s).has_value());
  drive_for(100ms);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:a"}));
}

TEST_F(OpenAiTest, TurnOutlivesItsEngine) {
  fake_.enqueue(FakeResponse::stream({"still", " here"}, 1, 2, 20ms));
  auto e = engine(profile());
  TurnRun r;
  auto turn = e->start({{"user", "x"}}, handlers(r));
  e.reset();
  ASSERT_TRUE(drive([&] { return r.done.has_value(); }, 5s));
  EXPECT_EQ(r.text, "still here");
}

TEST_F(OpenAiTest, TwoTurnsRunConcurrently) {
  fake_.enqueue(FakeResponse::stream({"one"}, 1, 1, 50ms));
  fake_.enqueue(FakeResponse::stream({"two"}, 1, 1, 50ms));
  auto e = engine(profile());
  TurnRun a, b;
  auto ta = e->start({{"user", "a"}}, handlers(a));
  auto tb = e->start({{"user", "b"}}, handlers(b));
  ASSERT_TRUE(drive([&] { return a.done && b.done; }, 5s));
  EXPECT_TRUE(a.done->has_value());
  EXPECT_TRUE(b.done->has_value());
  EXPECT_TRUE(a.text + b.text == "onetwo" || a.text + b.text == "twoone") << a.text << " / " << b.text;
  EXPECT_EQ(fake_.connections(), 2u);
}

// ---- https ----

TEST_F(OpenAiTest, HttpsVerifiesTheCertificateAgainstTrustedCasAndSendsSni) {
  FakeProvider tls_fake(test::FakeTls{test::kLeafCertPem, test::kLeafKeyPem});
  tls_fake.enqueue(FakeResponse::stream({"secure", " hello"}, 2, 3));
  auto p = profile();
  p.base_url = Secret(tls_fake.base_url("localhost"));
  auto o = fast_retries();
  o.extra_ca_pem = test::kTestCaPem;
  auto e = engine(p, o);
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:secure", "delta: hello", "usage:2/3", "done:ok"}));
  EXPECT_EQ(tls_fake.sni_names(), std::vector<std::string>{"localhost"});
  auto reqs = tls_fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["authorization"], std::string("Bearer ") + kKey);
}

TEST_F(OpenAiTest, HttpsWithAnUntrustedCertificateIsUnreachableAndSendsNothing) {
  FakeProvider tls_fake(test::FakeTls{test::kLeafCertPem, test::kLeafKeyPem});
  tls_fake.enqueue(FakeResponse::stream({"never"}));
  auto p = profile();
  p.base_url = Secret(tls_fake.base_url("localhost"));
  auto e = engine(p);  // system trust store only
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_unreachable);
  EXPECT_TRUE(tls_fake.requests().empty()) << "the key must not be sent to an unverified server";
}

TEST_F(OpenAiTest, HttpsWithTheWrongHostNameIsUnreachableAndSendsNothing) {
  // The certificate names DNS:localhost only; 127.0.0.1 does not match it.
  FakeProvider tls_fake(test::FakeTls{test::kLeafCertPem, test::kLeafKeyPem});
  tls_fake.enqueue(FakeResponse::stream({"never"}));
  auto p = profile();
  p.base_url = Secret(tls_fake.base_url("127.0.0.1"));
  auto o = fast_retries();
  o.extra_ca_pem = test::kTestCaPem;
  auto e = engine(p, o);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_unreachable);
  EXPECT_TRUE(tls_fake.requests().empty());
}

TEST_F(OpenAiTest, CancelTearsDownAnHttpsStreamPromptly) {
  FakeProvider tls_fake(test::FakeTls{test::kLeafCertPem, test::kLeafKeyPem});
  std::vector<std::string> pieces(100, "x");
  tls_fake.enqueue(FakeResponse::stream(pieces, 1, 100, 50ms));
  auto p = profile();
  p.base_url = Secret(tls_fake.base_url("localhost"));
  auto o = fast_retries();
  o.extra_ca_pem = test::kTestCaPem;
  auto e = engine(p, o);
  TurnRun r;
  auto turn = e->start({{"user", "x"}}, handlers(r));
  ASSERT_TRUE(drive([&] { return r.events.size() >= 2; }, 5s));
  const int calls = r.handler_calls;
  const auto t0 = Clock::now();
  turn->cancel();
  auto closed = tls_fake.wait_client_close(0, 2s);
  ASSERT_TRUE(closed.has_value());
  const auto ms = std::chrono::duration<double, std::milli>(*closed - t0).count();
  std::printf("[ measure  ] https cancel() -> provider saw close: %.3f ms\n", ms);
  EXPECT_LT(ms, 500.0);
  drive_for(200ms);
  EXPECT_EQ(r.handler_calls, calls);
}

// ---- configuration ----

TEST_F(OpenAiTest, InvalidProfilesAreConfigInvalidNamingTheProfileNotTheUrl) {
  struct Case {
    std::string base_url, model;
  };
  const std::vector<Case> cases = {
      {"", "m"},
      {"http://127.0.0.1:1/v1", ""},
      {"ftp://secret-host.example/v1", "m"},
      {"not a url", "m"},
      {"http://user:sk-CANARY-pass@secret-host.example/v1", "m"},
      {"/relative/v1", "m"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.base_url + " / " + c.model);
    auto p = profile();
    p.name = "my-profile";
    p.base_url = Secret(c.base_url);
    p.model = c.model;
    auto e = make_openai_engine(io_, p);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code, Code::config_invalid);
    EXPECT_NE(e.error().message.find("my-profile"), std::string::npos) << e.error().message;
    EXPECT_EQ(e.error().message.find("secret-host"), std::string::npos) << e.error().message;
    seen_events_.push_back(e.error().message);
  }
  auto p = profile();
  p.base_url = Secret("https://api.example.com/v1");
  EXPECT_TRUE(make_openai_engine(io_, p).has_value()) << "https with the system trust store";
}


// ---- tool calls (ARCHITECTURE §12) ----

// "id|name|arguments" per call, in the order the turn ended with them.
std::vector<std::string> calls_of(const TurnRun& r) {
  std::vector<std::string> out;
  if (!r.done || !r.done->has_value()) return out;
  for (const auto& c : (*r.done)->tool_calls) out.push_back(c.call_id + "|" + c.name + "|" + c.arguments);
  return out;
}

// A stream of `chunks` (each its own SSE event and HTTP chunk, a few ms
// apart so they arrive in separate reads), then finish_reason, usage, [DONE].
FakeResponse tool_stream(const std::vector<std::string>& chunks, const std::string& finish = "tool_calls") {
  FakeResponse r;
  for (const auto& c : chunks) {
    r.body.push_back(FakeStep::data(c));
    r.body.push_back(FakeStep::wait(2ms));
  }
  if (!finish.empty()) r.body.push_back(FakeStep::data(test::finish_chunk(finish)));
  r.body.push_back(FakeStep::data(test::usage_chunk(9, 4)));
  r.body.push_back(FakeStep::data("[DONE]"));
  return r;
}

TEST_F(OpenAiTest, TwoToolCallsInOneTurnAreAssembledByIndexInIndexOrder) {
  using test::tool_call_chunk;
  // The fragments of the two calls interleave; the second index opens first.
  fake_.enqueue(tool_stream({
      tool_call_chunk(1, "call_b", "glob", std::string()),
      tool_call_chunk(0, "call_a", "read", R"({"pa)"),
      tool_call_chunk(1, std::nullopt, std::nullopt, R"({"pattern":)"),
      tool_call_chunk(0, std::nullopt, std::nullopt, R"(th":"notes.md"})"),
      tool_call_chunk(1, std::nullopt, std::nullopt, R"("**/*.md"})"),
  }));
  auto e = engine(profile());
  auto r = run(*e);
  ASSERT_TRUE(r.done && r.done->has_value()) << r.events.back();
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{R"(call_a|read|{"path":"notes.md"})",
                                                    R"(call_b|glob|{"pattern":"**/*.md"})"}));
  EXPECT_EQ(r.events, (std::vector<std::string>{"usage:9/4", "done:ok"})) << "no text, usage before done";
}

TEST_F(OpenAiTest, ArgumentsSplitInsideUtf8SequencesAcrossChunksAreReassembledBytewise) {
  using test::tool_call_chunk;
  // The decoded pieces cut "é" (C3 A9) after its first byte and "😀"
  // (F0 9F 98 80) after one and after three bytes.
  fake_.enqueue(tool_stream({
      tool_call_chunk(0, "c1", "write", "{\"content\":\"caf\xC3"),
      tool_call_chunk(0, std::nullopt, std::nullopt, "\xA9 \xF0"),
      tool_call_chunk(0, std::nullopt, std::nullopt, "\x9F\x98"),
      tool_call_chunk(0, std::nullopt, std::nullopt, "\x80\"}"),
  }));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{"c1|write|{\"content\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}"}));
}

TEST_F(OpenAiTest, RawSseSplitInsideAUnicodeEscapeAndAMultibyteCharacterIsReassembled) {
  // One event whose raw bytes arrive in separate HTTP chunks, cut inside the
  // JSON escape "\u00e9" (in the arguments' JSON string, the model's "\\u00e9"
  // stays an escape of the arguments text) and inside a raw "é".
  const std::string event = test::tool_call_chunk(0, "c1", "write", "{\"a\":\"\\u00e9\",\"b\":\"\xC3\xA9\"}");
  const auto esc = event.find("u00e9");
  const auto raw = event.find("\xC3\xA9");
  ASSERT_NE(esc, std::string::npos);
  ASSERT_NE(raw, std::string::npos);
  const std::string whole = "data: " + event + "\n\n";
  const std::size_t cut1 = 6 + esc + 3, cut2 = 6 + raw + 1;  // "\u00|e9", "\xC3|\xA9"
  FakeResponse resp;
  resp.body = {FakeStep::text(whole.substr(0, cut1)), FakeStep::wait(5ms),
               FakeStep::text(whole.substr(cut1, cut2 - cut1)), FakeStep::wait(5ms),
               FakeStep::text(whole.substr(cut2)), FakeStep::data(test::finish_chunk("tool_calls")),
               FakeStep::data("[DONE]")};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{"c1|write|{\"a\":\"\\u00e9\",\"b\":\"\xC3\xA9\"}"}));
}

TEST_F(OpenAiTest, ArgumentsSplitInsideAJsonEscapeAreReassembledUnparsed) {
  using test::tool_call_chunk;
  // The arguments text {"command":"say \"hi\"\n"} cut after each backslash.
  fake_.enqueue(tool_stream({
      tool_call_chunk(0, "c1", "bash", R"({"command":"say \)"),
      tool_call_chunk(0, std::nullopt, std::nullopt, R"("hi\)"),
      tool_call_chunk(0, std::nullopt, std::nullopt, R"("\)"),
      tool_call_chunk(0, std::nullopt, std::nullopt, R"(n"})"),
  }));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{R"(c1|bash|{"command":"say \"hi\"\n"})"}));
}

TEST_F(OpenAiTest, ReplyTextSplitInsideAUtf8SequenceIsDeliveredWhole) {
  FakeResponse resp = FakeResponse::stream({"caf\xC3", "\xA9!"}, 1, 2);
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:caf", "delta:\xC3\xA9!", "usage:1/2", "done:ok"}));
}

TEST_F(OpenAiTest, ReplyTextThatIsNotUtf8IsBadResponse) {
  fake_.enqueue(FakeResponse::stream({"ok", "\xFF"}));
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, ReplyTextEndingInsideAUtf8SequenceIsBadResponse) {
  fake_.enqueue(FakeResponse::stream({"caf\xC3"}));
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, ToolCallArgumentsThatAreNotUtf8AreBadResponse) {
  fake_.enqueue(tool_stream({test::tool_call_chunk(0, "c1", "read", "{\"path\":\"\xC3\"}")}));
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, RequestOffersToolsAndReplaysAssistantToolCallsAndToolResults) {
  fake_.enqueue(FakeResponse::stream({"done"}));
  auto e = engine(profile());
  Message called("assistant", "");
  called.tool_calls = {{"call_1", "read", R"({"path":"a.md"})"}, {"call_2", "glob", R"({"pattern": "*"})"}};
  Message result1("tool", "line 1");
  result1.tool_call_id = "call_1";
  result1.name = "read";
  Message result2("tool", "{\"error\":\"not_found\"}");
  result2.tool_call_id = "call_2";
  result2.name = "glob";
  Message said("assistant", "Let me look.");
  said.tool_calls = {{"call_3", "grep", R"({"pattern":"x"})"}};
  Message result3("tool", "");
  result3.tool_call_id = "call_3";
  result3.name = "grep";
  std::vector<ToolSpec> tools = {
      {"read", "Reads a file.", R"({"type":"object","properties":{"path":{"type":"string"}},"required":["path"]})"},
      {"glob", "Finds files.", R"({"type":"object","properties":{}})"}};
  auto r = run_tools(*e, {{"user", "look"}, called, result1, result2, said, result3}, tools);
  ASSERT_TRUE(r.done && r.done->has_value());
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  // Arguments go back byte for byte as the model sent them (the space in
  // call_2's stays); a tool-only assistant message has null content.
  const bj::value expected = bj::parse(R"({
    "model": "fake-model",
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "look"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a.md\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "glob", "arguments": "{\"pattern\": \"*\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "line 1"},
      {"role": "tool", "tool_call_id": "call_2", "content": "{\"error\":\"not_found\"}"},
      {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "call_3", "type": "function", "function": {"name": "grep", "arguments": "{\"pattern\":\"x\"}"}}]},
      {"role": "tool", "tool_call_id": "call_3", "content": ""}
    ],
    "tools": [
      {"type": "function", "function": {"name": "read", "description": "Reads a file.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
      {"type": "function", "function": {"name": "glob", "description": "Finds files.",
        "parameters": {"type": "object", "properties": {}}}}
    ],
    "stream": true,
    "stream_options": {"include_usage": true}
  })");
  EXPECT_EQ(bj::parse(reqs[0].body), expected) << reqs[0].body;
}

TEST_F(OpenAiTest, NoToolsOfferedSendsNoToolsKey) {
  fake_.enqueue(FakeResponse::stream({"ok"}));
  auto e = engine(profile());
  auto r = run_tools(*e, {{"user", "hi"}}, {});
  ASSERT_TRUE(r.done && r.done->has_value());
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_FALSE(bj::parse(reqs[0].body).as_object().contains("tools")) << reqs[0].body;
}

TEST_F(OpenAiTest, ToolWhoseSchemaIsNotAnObjectEndsTheTurnInternalWithoutARequest) {
  auto e = engine(profile());
  auto r = run_tools(*e, {{"user", "hi"}}, {{"read", "Reads.", "not json"}});
  EXPECT_EQ(failure_code(r), Code::internal);
  EXPECT_EQ(fake_.requests().size(), 0u);
}

TEST_F(OpenAiTest, FinishReasonStopAfterToolCallsStillEndsWithTheCalls) {
  fake_.enqueue(tool_stream({test::tool_call_chunk(0, "c1", "read", R"({"path":"x"})")}, "stop"));
  auto e = engine(profile());
  EXPECT_EQ(calls_of(run(*e)), (std::vector<std::string>{R"(c1|read|{"path":"x"})"}));
}

TEST_F(OpenAiTest, DoneWithoutFinishReasonStillEndsWithTheCalls) {
  fake_.enqueue(tool_stream({test::tool_call_chunk(0, "c1", "read", R"({"path":"x"})")}, ""));
  auto e = engine(profile());
  EXPECT_EQ(calls_of(run(*e)), (std::vector<std::string>{R"(c1|read|{"path":"x"})"}));
}

TEST_F(OpenAiTest, FinishReasonToolCallsThenCloseWithoutDoneIsComplete) {
  FakeResponse resp;
  resp.chunked = false;  // body ends when the server closes
  resp.body = {FakeStep::data(test::tool_call_chunk(0, "c1", "read", R"({"path":"x"})")),
               FakeStep::data(test::finish_chunk("tool_calls"))};
  fake_.enqueue(resp);
  auto e = engine(profile());
  EXPECT_EQ(calls_of(run(*e)), (std::vector<std::string>{R"(c1|read|{"path":"x"})"}));
}

TEST_F(OpenAiTest, TextAndToolCallsInTheSameTurnStreamTheTextThenEndWithTheCalls) {
  fake_.enqueue(tool_stream({test::delta_chunk("Reading "), test::delta_chunk("it."),
                             test::tool_call_chunk(0, "c1", "read", R"({"path":"x"})")}));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"delta:Reading ", "delta:it.", "usage:9/4", "done:ok"}));
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{R"(c1|read|{"path":"x"})"}));
}

TEST_F(OpenAiTest, ToolCallWithoutIdGetsCallIndexAsItsId) {
  fake_.enqueue(tool_stream({test::tool_call_chunk(0, std::nullopt, "read", R"({"path":"x"})"),
                             test::tool_call_chunk(3, std::nullopt, "glob", R"({})")}));
  auto e = engine(profile());
  EXPECT_EQ(calls_of(run(*e)),
            (std::vector<std::string>{R"(call_0|read|{"path":"x"})", R"(call_3|glob|{})"}));
}

TEST_F(OpenAiTest, ToolCallWithoutNameIsBadResponse) {
  fake_.enqueue(tool_stream({test::tool_call_chunk(0, "c1", std::nullopt, R"({"path":"x"})")}));
  auto e = engine(profile());
  EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response);
}

TEST_F(OpenAiTest, WholeJsonAnswerWithToolCallsEndsWithThem) {
  fake_.enqueue(FakeResponse::status_only(
      200, R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[)"
           R"({"id":"c1","type":"function","function":{"name":"read","arguments":"{\"path\":\"x\"}"}},)"
           R"({"id":"c2","type":"function","function":{"name":"glob","arguments":"{}"}}]},)"
           R"("finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}})"));
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(r.events, (std::vector<std::string>{"usage:3/2", "done:ok"}));
  EXPECT_EQ(calls_of(r), (std::vector<std::string>{R"(c1|read|{"path":"x"})", R"(c2|glob|{})"}));
}

TEST_F(OpenAiTest, MoreToolCallsThanTheLimitIsBadResponse) {
  std::vector<std::string> chunks;
  for (int i = 0; i < 3; ++i) chunks.push_back(test::tool_call_chunk(i, fmt::format("c{}", i), "read", "{}"));
  fake_.enqueue(tool_stream(chunks));
  fake_.enqueue(tool_stream({chunks[0], chunks[1]}));
  auto o = fast_retries();
  o.tool_calls.max_calls = 2;
  auto e = engine(profile(), o);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_bad_response);
  EXPECT_NE(r.done->error().message.find("more than 2 tool calls"), std::string::npos) << r.done->error().message;
  EXPECT_EQ(calls_of(run(*e)).size(), 2u) << "exactly the limit is fine";
}

TEST_F(OpenAiTest, ArgumentsLongerThanTheLimitAreBadResponse) {
  using test::tool_call_chunk;
  fake_.enqueue(tool_stream({tool_call_chunk(0, "c1", "read", std::string(10, 'a')),
                             tool_call_chunk(0, std::nullopt, std::nullopt, std::string(7, 'b'))}));
  fake_.enqueue(tool_stream({tool_call_chunk(0, "c1", "read", std::string(10, 'a')),
                             tool_call_chunk(0, std::nullopt, std::nullopt, std::string(6, 'b'))}));
  auto o = fast_retries();
  o.tool_calls.max_argument_bytes = 16;
  auto e = engine(profile(), o);
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_bad_response);
  EXPECT_NE(r.done->error().message.find("exceed 16 bytes"), std::string::npos) << r.done->error().message;
  EXPECT_EQ(calls_of(run(*e)).size(), 1u) << "exactly the limit is fine";
}

TEST_F(OpenAiTest, StreamEndingInsideAToolCallIsProviderError) {
  FakeResponse resp;
  resp.body = {FakeStep::data(test::tool_call_chunk(0, "c1", "write", R"({"path":"x","content":"par)")),
               FakeStep::wait(5ms), FakeStep::close_now()};
  fake_.enqueue(resp);
  auto e = engine(profile());
  auto r = run(*e);
  EXPECT_EQ(failure_code(r), Code::provider_error);
  EXPECT_NE(r.done->error().message.find("inside a tool call"), std::string::npos) << r.done->error().message;
}

TEST_F(OpenAiTest, ToolCallFragmentOfTheWrongShapeIsBadResponse) {
  fake_.enqueue(tool_stream({R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":7}}]}}]})"}));
  fake_.enqueue(tool_stream({R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":-1,"id":"c"}]}}]})"}));
  fake_.enqueue(tool_stream({R"({"choices":[{"index":0,"delta":{"tool_calls":{"index":0}}}]})"}));
  auto e = engine(profile());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(failure_code(run(*e)), Code::provider_bad_response) << "case " << i;
}

TEST_F(OpenAiTest, FragmentsWithoutIndexContinueTheLastCallOrOpenANewOneOnANewId) {
  // Servers that omit `index`: a new id opens the next call.
  fake_.enqueue(tool_stream({
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"read","arguments":"{\"pa"}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"th\":1}"}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"glob","arguments":"{}"}}]}}]})",
  }));
  auto e = engine(profile());
  EXPECT_EQ(calls_of(run(*e)), (std::vector<std::string>{R"(a|read|{"path":1})", R"(b|glob|{})"}));
}

}  // namespace
}  // namespace yoi::engines

namespace yoi::engines {
namespace {

TEST(OpenAiFactory, MakeEngineBuildsTheOpenAiEngineOrNamesTheProfile) {
  boost::asio::io_context io;
  ProfileConfig p;
  p.name = "llama";
  p.engine = "openai";
  p.model = "m";
  p.base_url = Secret("http://127.0.0.1:8080/v1");
  auto e = make_engine(io, p);
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ((*e)->kind(), "openai");
  p.base_url = Secret("gopher://127.0.0.1/v1");
  auto bad = make_engine(io, p);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::config_invalid);
  EXPECT_NE(bad.error().message.find("llama"), std::string::npos);
}

}  // namespace
}  // namespace yoi::engines
