// The openai engine driven through the runtime core (memory store), against
// the fake provider over loopback: the event sequence a Worker's observers
// see, the transcript it keeps, cancel and failures ending runs while the
// worker stays usable, and the canary key never reaching either.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include <mutex>

#include "fake_provider.hpp"
#include "yoi/log.hpp"
#include "yoi/runtime/runtime.hpp"
#include "yoi/testing/run_until.hpp"

namespace yoi::engines {
namespace {

namespace bj = boost::json;
using namespace std::chrono_literals;
using test::FakeProvider;
using test::FakeResponse;
using test::FakeStep;

constexpr const char* kKey = "sk-CANARY-runtime-55e1d0";

class OpenAiRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("info");
    capture_ = log::add_capture([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
    rt::RuntimeOptions o;
    ProfileConfig p;
    p.name = "fake";
    p.engine = "openai";
    p.base_url = Secret(fake_.base_url());
    p.model = "fake-model";
    p.api_key = Secret(kKey);
    p.system_prompt = "Be brief.";
    p.history_messages = 2;
    p.first_byte_timeout = 3s;
    p.idle_timeout = 3s;
    p.max_retries = 0;
    o.profiles.push_back(p);
    opts_ = o;
    open();
  }

  // (Re)opens the runtime with opts_ on a new memory store.
  void open() {
    rt_.reset();
    auto r = rt::Runtime::open(io_, opts_, store::make_memory_store(io_, {}));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    rt_ = std::move(*r);
  }

  void TearDown() override {
    log::remove_capture(capture_);
    const std::string hostport = fmt::format("127.0.0.1:{}", fake_.port());
    std::lock_guard lock(mu_);
    for (auto& l : lines_) {
      EXPECT_EQ(l.find("CANARY"), std::string::npos) << "log line leaks the key: " << l;
      EXPECT_EQ(l.find(hostport), std::string::npos) << "log line leaks the base URL: " << l;
    }
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    return yoi::testing::run_until(io_, done, limit);
  }

  template <class T>
  Result<T> wait(const std::function<void(rt::Callback<T>)>& start) {
    std::optional<Result<T>> out;
    start([&](Result<T> r) { out = std::move(r); });
    if (!run_until([&] { return out.has_value(); })) {
      ADD_FAILURE() << "operation did not complete within the deadline";
      return fail(Code::internal, "deadline");
    }
    return std::move(*out);
  }

  void create(const std::string& id) {
    rt::CreateWorker req;
    req.worker_id = id;
    req.profile = "fake";
    auto r = wait<rt::WorkerDetail>([&](auto cb) { rt_->create(req, std::move(cb)); });
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  void input(const std::string& id, const std::string& text) {
    auto r = wait<rt::InputAccepted>([&](auto cb) { rt_->input(id, rt::Input{text, std::nullopt}, std::move(cb)); });
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  std::vector<bj::object> events(const std::string& id) {
    std::vector<bj::object> out;
    std::string cursor;
    for (;;) {
      auto page = rt_->read_after(id, cursor, 1000);
      EXPECT_TRUE(page.has_value());
      if (!page || page->events.empty()) break;
      for (auto& e : page->events) {
        EXPECT_EQ(e.json.find("CANARY"), std::string::npos) << "event leaks the key: " << e.json;
        out.push_back(bj::parse(e.json).as_object());
      }
      cursor = page->cursor;
    }
    return out;
  }

  // The events of the last run, as "type" or "type:detail".
  std::vector<std::string> run_trace(const std::string& id) {
    std::vector<std::string> out;
    for (auto& e : events(id)) {
      std::string type(e.at("type").as_string());
      if (type == "text_delta")
        out.push_back("text_delta:" + std::string(e.at("delta").as_string()));
      else if (type == "usage")
        out.push_back(fmt::format("usage:{}/{}", e.at("input_tokens").to_number<int>(),
                                  e.at("output_tokens").to_number<int>()));
      else if (type == "run_finished")
        out.push_back("run_finished:" + std::string(e.at("result").as_string()) +
                      (e.contains("error") ? ":" + std::string(e.at("error").at("code").as_string()) : ""));
      else if (type == "text_done" || type == "run_started")
        out.push_back(type);
    }
    return out;
  }

  // The last run's end as run_trace writes it, once the run has ended.
  std::string run_end(const std::string& id) {
    std::string end;
    EXPECT_TRUE(run_until([&] {
      auto t = run_trace(id);
      if (t.empty() || t.back().rfind("run_finished", 0) != 0) return false;
      end = t.back();
      return true;
    })) << "the run did not end";
    return end;
  }

  bool wait_idle(const std::string& id) {
    return run_until([&] {
      auto snap = rt_->snapshot(id);
      return snap && snap->detail.record.status == rt::WorkerStatus::idle;
    });
  }

  std::vector<rt::TranscriptItem> transcript(const std::string& id) {
    auto t = rt_->transcript(id, 0, 100);
    EXPECT_TRUE(t.has_value());
    if (!t) return {};
    for (auto& item : t->items) EXPECT_EQ(item.content.find("CANARY"), std::string::npos);
    return t->items;
  }

  FakeProvider fake_;
  boost::asio::io_context io_;
  rt::RuntimeOptions opts_;
  std::unique_ptr<rt::Runtime> rt_;
  std::mutex mu_;
  std::vector<std::string> lines_;
  int capture_ = 0;
};

TEST_F(OpenAiRuntimeTest, RunStreamsDeltasThenUsageAndKeepsTheReplyInTheTranscript) {
  fake_.enqueue(FakeResponse::stream({"Hi", " there"}, 9, 2));
  create("w1");
  input("w1", "hello");
  ASSERT_TRUE(run_until([&] {
    auto t = run_trace("w1");
    return !t.empty() && t.back().rfind("run_finished", 0) == 0;
  })) << "the run did not finish";
  EXPECT_EQ(run_trace("w1"), (std::vector<std::string>{"run_started", "text_delta:Hi", "text_delta: there",
                                                         "usage:9/2", "text_done", "run_finished:completed"}));
  ASSERT_TRUE(wait_idle("w1"));
  auto items = transcript("w1");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].role, "user");
  EXPECT_EQ(items[0].content, "hello");
  EXPECT_EQ(items[1].role, "assistant");
  EXPECT_EQ(items[1].content, "Hi there");
  EXPECT_EQ(items[1].result, std::optional<std::string>("completed"));
}

// Issue 21: a model's write asks (the default policy); the run parks with no
// request to the provider in flight, and once approved the tool runs and
// the next request carries the call and its result.
TEST_F(OpenAiRuntimeTest, AWriteCallAsksAndRunsOnceApproved) {
  FakeResponse call;
  for (const auto& c : {test::tool_call_chunk(0, "call_w", "write", R"({"path":"note.md",)"),
                        test::tool_call_chunk(0, std::nullopt, std::nullopt, R"("content":"hi"})")})
    call.body.push_back(FakeStep::data(c));
  call.body.push_back(FakeStep::data(test::finish_chunk("tool_calls")));
  call.body.push_back(FakeStep::data("[DONE]"));
  fake_.enqueue(std::move(call));
  fake_.enqueue(FakeResponse::stream({"written"}));
  create("w1");
  input("w1", "write a note");
  ASSERT_TRUE(run_until([&] {
    auto snap = rt_->snapshot("w1");
    return snap && snap->detail.record.status == rt::WorkerStatus::awaiting_approval;
  })) << "the write did not ask";
  auto d = rt_->detail("w1");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->record.pending_approvals.size(), 1u);
  EXPECT_EQ(d->record.pending_approvals[0].call_id, "call_w");
  EXPECT_EQ(d->record.pending_approvals[0].arguments, R"({"path":"note.md","content":"hi"})");
  io_.restart();
  io_.run_for(100ms);
  EXPECT_EQ(fake_.requests().size(), 1u) << "nothing is asked of the model while the call waits";

  auto out = wait<rt::ApprovalOutcome>([&](auto cb) {
    rt_->approve("w1", "call_w", rt::ApprovalDecision{true, std::nullopt, false}, std::move(cb));
  });
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(wait_idle("w1"));
  auto items = transcript("w1");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[2].role, "tool");
  EXPECT_TRUE(items[2].ok) << items[2].content;
  EXPECT_EQ(items[3].content, "written");
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto body = bj::parse(reqs[1].body).as_object();
  const auto& msgs = body.at("messages").as_array();
  const auto& last = msgs.back().as_object();
  EXPECT_EQ(last.at("role"), "tool");
  EXPECT_EQ(last.at("tool_call_id"), "call_w");
  const auto& asked = msgs[msgs.size() - 2].as_object();
  EXPECT_EQ(asked.at("tool_calls").at(0).at("id"), "call_w");
}

TEST_F(OpenAiRuntimeTest, HistoryIsBoundedAndSentWithTheSystemPrompt) {
  fake_.enqueue(FakeResponse::stream({"one"}));
  fake_.enqueue(FakeResponse::stream({"two"}));
  create("w2");
  input("w2", "first");
  ASSERT_TRUE(wait_idle("w2"));
  ASSERT_TRUE(run_until([&] { return transcript("w2").size() == 2; }));
  input("w2", "second");
  ASSERT_TRUE(run_until([&] { return transcript("w2").size() == 4; }));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  // history_messages = 2: the previous user/assistant pair, then the new input.
  EXPECT_EQ(bj::parse(reqs[1].body).at("messages"), bj::parse(R"([
      {"role":"system","content":"Be brief."},
      {"role":"user","content":"first"},
      {"role":"assistant","content":"one"},
      {"role":"user","content":"second"}])"));
}

TEST_F(OpenAiRuntimeTest, CancelKeepsThePartialReplyAndClosesTheProviderConnection) {
  std::vector<std::string> pieces(200, "w ");
  fake_.enqueue(FakeResponse::stream(pieces, 1, 200, 30ms));
  create("w3");
  input("w3", "talk");
  ASSERT_TRUE(run_until([&] {
    int deltas = 0;
    for (auto& t : run_trace("w3")) deltas += t.rfind("text_delta", 0) == 0;
    return deltas >= 2;
  }));
  const auto t0 = std::chrono::steady_clock::now();
  auto c = wait<rt::CancelResult>([&](auto cb) { rt_->cancel("w3", std::nullopt, std::move(cb)); });
  ASSERT_TRUE(c.has_value()) << c.error().message;
  auto closed = fake_.wait_client_close(0, 2s);
  ASSERT_TRUE(closed.has_value());
  std::printf("[ measure  ] runtime cancel -> provider saw close: %.3f ms\n",
              std::chrono::duration<double, std::milli>(*closed - t0).count());
  ASSERT_TRUE(wait_idle("w3"));
  auto trace = run_trace("w3");
  EXPECT_EQ(trace.back(), "run_finished:cancelled");
  auto items = transcript("w3");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_FALSE(items[1].content.empty());
  EXPECT_EQ(items[1].result, std::optional<std::string>("cancelled"));
}

// A model's reply past max_reply_bytes ends the run at the bound: the turn
// is cancelled from inside its delta (the provider sees the connection
// close), the run fails with payload_too_large, and the worker goes on.
TEST_F(OpenAiRuntimeTest, AReplyPastMaxReplyBytesFailsTheRunAndClosesTheProviderConnection) {
  opts_.limits.max_reply_bytes = 1024;
  open();
  std::vector<std::string> pieces(2000, "word ");  // 10,000 bytes
  fake_.enqueue(FakeResponse::stream(pieces, 1, 2000, 1ms));
  fake_.enqueue(FakeResponse::stream({"fine"}));
  create("w5");
  input("w5", "talk at length");
  EXPECT_EQ(run_end("w5"), "run_finished:failed:payload_too_large");
  ASSERT_TRUE(fake_.wait_client_close(0, 2s).has_value()) << "the provider's stream was not closed";
  ASSERT_TRUE(wait_idle("w5"));
  auto items = transcript("w5");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].content.size(), 1024u);
  EXPECT_EQ(items[1].result, std::optional<std::string>("failed"));
  input("w5", "again");
  ASSERT_TRUE(run_until([&] { return run_trace("w5").back() == "run_finished:completed"; }));
  EXPECT_EQ(transcript("w5").back().content, "fine");
}

TEST_F(OpenAiRuntimeTest, ProviderFailureFailsTheRunAndTheWorkerStaysUsable) {
  fake_.enqueue(FakeResponse::status_only(
      401, std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKey + "\"}}"));
  fake_.enqueue(FakeResponse::stream({"recovered"}));
  create("w4");
  input("w4", "first");
  EXPECT_EQ(run_end("w4"), "run_finished:failed:provider_auth_failed");
  ASSERT_TRUE(wait_idle("w4"));
  input("w4", "again");
  ASSERT_TRUE(run_until([&] { return run_trace("w4").back() == "run_finished:completed"; }));
  auto items = transcript("w4");
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items.back().content, "recovered");
}

}  // namespace
}  // namespace yoi::engines
