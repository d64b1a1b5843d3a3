#include <cctype>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "yoi/json.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/wire.hpp"

namespace yoi::rt::wire {
namespace {

bj::object obj(std::string_view text) { return bj::parse(text).as_object(); }

TEST(Wire, CreateBodiesDecodeWithDefaults) {
  auto c = create_from_json(obj("{}"), Limits{});
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->worker_id);
  EXPECT_EQ(c->intent.kind, "assistant");
  EXPECT_EQ(c->profile, "runtime_default");
  auto full = create_from_json(obj(R"({"worker_id":"w1","display_name":"W","intent":{"kind":"task","objective":"ship"},
      "profile":"fast","config_bundle":{"digest":"abababababababababababababababababababababababababababababababab"},"capabilities":["x"],"workspace_refs":[{"id":"r"}],"mount_refs":[]})"),
                               Limits{});
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->worker_id, "w1");
  EXPECT_EQ(full->intent.objective, "ship");
  EXPECT_EQ(full->capabilities, std::vector<std::string>{"x"});
  EXPECT_EQ(full->workspace_refs.size(), 1u);
}

TEST(Wire, BadCreateBodiesAreTypedErrors) {
  struct Case {
    const char* body;
    Code code;
  } cases[] = {
      {R"({"worker_id":"../x"})", Code::invalid_id},
      {R"({"worker_id":5})", Code::invalid_request},
      {R"({"intent":{"kind":"wizard"}})", Code::invalid_request},
      {R"({"intent":{"kind":"task"}})", Code::invalid_request},
      {R"({"intent":{"kind":"role"}})", Code::invalid_request},
      {R"({"intent":"assistant"})", Code::invalid_request},
      {R"({"profile":"a/b"})", Code::invalid_request},
      {R"({"capabilities":[1]})", Code::invalid_request},
      {R"({"surprise":true})", Code::invalid_request},
  };
  for (const auto& c : cases) {
    auto r = create_from_json(obj(c.body), Limits{});
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code, c.code) << c.body;
  }
  Limits small;
  small.max_display_name = 3;
  EXPECT_FALSE(create_from_json(obj(R"({"display_name":"long"})"), small));
}

TEST(Wire, InputBodies) {
  Limits l;
  l.max_content_bytes = 5;
  EXPECT_TRUE(input_from_json(obj(R"({"content":"hi","client_message_id":"m-1"})"), l));
  EXPECT_EQ(input_from_json(obj(R"({})"), l).error().code, Code::invalid_request);
  EXPECT_EQ(input_from_json(obj(R"({"content":""})"), l).error().code, Code::invalid_request);
  EXPECT_EQ(input_from_json(obj(R"({"content":"toolong"})"), l).error().code, Code::payload_too_large);
  EXPECT_EQ(input_from_json(obj(R"({"content":"x","client_message_id":"a b"})"), l).error().code,
            Code::invalid_request);
  EXPECT_TRUE(reason_from_json(obj("{}")));
  EXPECT_EQ(reason_from_json(obj(R"({"reason":"done"})")).value(), "done");
  EXPECT_FALSE(reason_from_json(obj(R"({"reason":1})")));
}

TEST(Wire, DetailRoundTrips) {
  WorkerDetail d;
  d.runtime_id = "rt";
  d.record.worker_id = "w";
  d.record.display_name = "Dee";
  d.record.status = WorkerStatus::running;
  d.record.intent.kind = "role";
  d.record.intent.role = "reviewer";
  d.record.profile = "runtime_default";
  d.record.capabilities = {"a", "b"};
  d.record.current_run_id = "run-3";
  d.record.run_count = 3;
  d.last_seq = 42;
  d.transcript_total = 7;
  auto back = detail_from_json(bj::value(to_json(d)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(json::serialize(to_json(*back)), json::serialize(to_json(d)));
}

// The backend checks bodies against a remote runtime's advertised limits.
TEST(Wire, SummaryRoundTripsItsLimits) {
  RuntimeSummary s;
  s.runtime_id = "r";
  s.capabilities = {"workers.input"};
  s.limits.max_content_bytes = 16;
  s.limits.max_workers = 3;
  s.limits.retention_bytes = 1234;
  s.limits.max_tool_output_bytes = 2048;
  auto back = summary_from_json(bj::value(to_json(s)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->limits.max_content_bytes, 16u);
  EXPECT_EQ(back->limits.max_workers, 3u);
  EXPECT_EQ(back->limits.retention_bytes, 1234u);
  EXPECT_EQ(back->limits.max_tool_output_bytes, 2048u);
  auto odd = summary_from_json(bj::parse(R"({"runtime_id":"r","capabilities":[],
      "workers":{"total":-1},"limits":{"max_content_bytes":-5,"max_page":"x"}})"));
  ASSERT_TRUE(odd) << odd.error().message;
  EXPECT_EQ(odd->limits.max_content_bytes, Limits{}.max_content_bytes);
  EXPECT_EQ(odd->limits.max_page, Limits{}.max_page);
  EXPECT_FALSE(odd->worker_counts.contains("total"));
}

// Issue 18: a failed reply item carries its error through a remote runtime
// (the backend decodes and re-encodes transcript pages).
TEST(Wire, Issue18FailedTranscriptItemRoundTripsItsError) {
  TranscriptPage page;
  TranscriptItem it;
  it.index = 1;
  it.seq = 9;
  it.role = "assistant";
  it.run_id = "run-1";
  it.result = "failed";
  it.error = Error{Code::interrupted, "the runtime restarted during the run"};
  page.items.push_back(it);
  page.total = 2;
  auto json = to_json(page);
  const auto& item = json.at("items").as_array().at(0).as_object();
  EXPECT_EQ(item.at("content").as_string(), "");
  EXPECT_EQ(item.at("error").as_object(),
            obj(R"({"code":"interrupted","message":"the runtime restarted during the run"})"));
  auto back = transcript_from_json(json);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->items.size(), 1u);
  EXPECT_EQ(back->items[0].result, "failed");
  EXPECT_EQ(back->items[0].error, it.error);
  it.error.reset();
  it.result = "completed";
  EXPECT_FALSE(to_json(it).contains("error")) << "a completed item has no error field";
}

TEST(Wire, ResponseDecodersRejectGarbageAsBadResponse) {
  for (auto text : {"[]", "{}", R"({"workers":5})", R"({"worker_id":"w","status":"dancing"})"}) {
    auto v = bj::parse(text);
    auto d = detail_from_json(v);
    ASSERT_FALSE(d) << text;
    EXPECT_EQ(d.error().code, Code::runtime_bad_response) << text;
  }
  EXPECT_EQ(worker_page_from_json(bj::parse(R"({"workers":5})")).error().code, Code::runtime_bad_response);
  EXPECT_EQ(accepted_from_json(bj::parse("{}")).error().code, Code::runtime_bad_response);
  EXPECT_EQ(cancel_from_json(bj::parse("{}")).error().code, Code::runtime_bad_response);
  EXPECT_EQ(transcript_from_json(bj::parse(R"({"items":[{"role":"x"}],"total":1})")).error().code,
            Code::runtime_bad_response);
  EXPECT_EQ(summary_from_json(bj::parse(R"({"runtime_id":"r"})")).error().code, Code::runtime_bad_response);
}

TEST(Wire, FramesAreValidJsonWithTheirFields) {
  Event e{7, R"({"type":"text_delta","seq":7,"run_id":"run-1","delta":"hi \"there\""})", "r1.ab.cd.7"};
  auto f = bj::parse(event_frame("rt", "w\"x", e)).as_object();
  EXPECT_EQ(f.at("type"), "event");
  EXPECT_EQ(f.at("seq").to_number<int>(), 7);
  EXPECT_EQ(f.at("worker_id"), "w\"x");
  EXPECT_EQ(f.at("event").at("delta"), "hi \"there\"");
  auto d = bj::parse(diagnostic_frame(Code::cursor_expired, "old", "resync")).as_object();
  EXPECT_EQ(d.at("code"), "cursor_expired");
  EXPECT_EQ(d.at("action"), "resync");
  auto h = bj::parse(heartbeat_frame("c", 3)).as_object();
  EXPECT_EQ(h.at("cursor"), "c");
  Snapshot s;
  s.detail.runtime_id = "rt";
  s.detail.record.worker_id = "w";
  s.in_flight = InFlight{"run-1", "par", 1, {}};
  auto sf = bj::parse(snapshot_frame(s)).as_object();
  EXPECT_EQ(sf.at("type"), "snapshot");
  EXPECT_EQ(sf.at("in_flight").at("text"), "par");
  EXPECT_EQ(sf.at("worker").at("worker_id"), "w");
}


// Every event type: one builder, a name that round-trips, and a stored form
// whose type event_type_of reads back without a DOM.
TEST(WireEvents, EveryBuilderNamesItsTypeFirst) {
  WorkerDetail d;
  d.runtime_id = "rt";
  d.record.worker_id = "w";
  std::vector<EventBody> all{
      event::worker_created(d),
      event::status(WorkerStatus::running, WorkerStatus::idle),
      event::input_accepted("run-1", "hi", std::string("m-1")),
      event::run_started("run-1", "runtime_default"),
      EventBody{EventType::text_delta, bj::object{{"run_id", "run-1"}, {"delta", "x"}}},
      event::text_done("run-1", 1, "hello"),
      event::usage("run-1", 1, 3, 4),
      event::run_finished("run-1", "failed", Error{Code::interrupted, "crash"}, std::string("why"), 1),
      event::worker_stopped(std::nullopt),
      event::tool_call("run-1", 1, ToolCallRef{"call_1", "read", R"({"path":"a"})"}),
      event::tool_result("run-1", "call_1", "read", ToolOutcome{false, "", false, std::pair{std::string("not_found"), std::string("no /work/a")}, 3, std::nullopt}),
      event::tool_output("run-1", "call_2", "stdout", "hello\n"),
      event::approval_requested(PendingApproval{"run-1", "call_2", "write", R"({"path":"a"})", 5,
                                                bj::object{{"tool", "write"}, {"action", "ask"}, {"source", "default"}}}),
      event::approval_resolved(ApprovalOutcome{"run-1", "call_2", "denied", std::string("no"), false}),
  };
  ASSERT_EQ(all.size(), std::size(kEventTypes)) << "a builder per type";
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].type, kEventTypes[i]);
    auto name = event_type_name(all[i].type);
    EXPECT_EQ(event_type_from_name(name), all[i].type);
    auto stored = encode_event(all[i], 9, 1700000000000);
    EXPECT_EQ(event_type_of(stored), all[i].type) << stored;
    auto o = obj(stored);
    EXPECT_EQ(o.at("type").as_string(), name);
    EXPECT_EQ(o.at("seq").to_number<int>(), 9);
    EXPECT_EQ(o.at("time").to_number<std::int64_t>(), 1700000000000);
  }
  auto asked = obj(encode_event(all[12], 1, 0));
  EXPECT_EQ(asked.at("call_id"), "call_2");
  EXPECT_EQ(asked.at("rule").at("source"), "default");
  EXPECT_FALSE(asked.contains("requested_at")) << "the detail's field, not the event's";
  auto answered = obj(encode_event(all[13], 1, 0));
  EXPECT_EQ(answered.at("decision"), "denied");
  EXPECT_EQ(answered.at("reason"), "no");
  EXPECT_EQ(answered.at("remember"), false);
  auto fin = obj(encode_event(all[7], 1, 0));
  EXPECT_EQ(fin.at("error").at("code"), "interrupted");
  EXPECT_EQ(fin.at("reason"), "why");
  EXPECT_FALSE(obj(encode_event(all[8], 1, 0)).contains("reason"));
  EXPECT_EQ(fin.at("steps"), 1);
  auto call = obj(encode_event(all[9], 1, 0));
  EXPECT_EQ(call.at("arguments"), R"({"path":"a"})") << "arguments stay the model's text";
  EXPECT_EQ(call.at("step"), 1);
  auto res = obj(encode_event(all[10], 1, 0));
  EXPECT_EQ(res.at("error").at("code"), "not_found");
  EXPECT_EQ(res.at("ok"), false);
  EXPECT_EQ(res.at("duration_ms"), 3);
  EXPECT_FALSE(event_type_of(R"({"seq":1,"type":"status"})")) << "only the stored layout";
  EXPECT_FALSE(event_type_of(R"({"type":"no_such_type"})"));
}

// The hot path writes exactly what the builder path would.
TEST(WireEvents, TextDeltaHotPathMatchesTheEncoder) {
  for (std::string_view delta : {"plain", "quote \" back\\slash", "ctl \x01\x1f\n\t\r\b\f", "utf-8 \xc3\xa9 \xe2\x82\xac", ""}) {
    std::string fast;
    append_text_delta(fast, 42, 1700000000123, "run-\"7", delta);
    auto slow = encode_event(EventBody{EventType::text_delta, bj::object{{"run_id", "run-\"7"}, {"delta", delta}}},
                             42, 1700000000123);
    EXPECT_EQ(fast, slow);
  }
}

// The escaper reads eight bytes at a time: every byte value, at every place
// in and around a word, is written as the encoder writes it.
TEST(WireEvents, EveryByteAtEveryOffsetIsEscapedAsTheEncoderDoes) {
  for (int c = 0; c < 256; ++c) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string delta(20, 'a');
      delta[at] = static_cast<char>(c);
      if (at % 3 == 0) delta[19 - at / 3] = static_cast<char>(c);  // two of them, some in one word
      std::string fast;
      append_text_delta(fast, 1, 2, "r", delta);
      auto slow = encode_event(EventBody{EventType::text_delta, bj::object{{"run_id", "r"}, {"delta", delta}}}, 1, 2);
      ASSERT_EQ(fast, slow) << "byte " << c << " at " << at;
    }
  }
}

// parse_cursor's hex check, without the locale, takes exactly isxdigit's bytes.
TEST(WireEvents, ParseCursorTakesExactlyTheHexDigits) {
  for (int c = 0; c < 256; ++c) {
    const std::string ch(1, static_cast<char>(c));
    const bool hex = std::isxdigit(c) != 0;
    EXPECT_EQ(static_cast<bool>(yoi::rt::parse_cursor("r1.a" + ch + ".0123456789ab.5")), hex) << "epoch byte " << c;
    EXPECT_EQ(static_cast<bool>(yoi::rt::parse_cursor("r1.ab.01234567" + ch + "9ab.5")), hex) << "tag byte " << c;
  }
}

// The relay's DOM-free scan reads back exactly what event_frame writes; if
// the frame's layout changes, this fails instead of every frame silently
// taking the slow path.
TEST(WireEvents, ScanEventFrameRoundTripsTheFrameWriter) {
  std::string stored = encode_event(event::text_done("run-1", 1, "a \"quoted\" reply"), 12, 5);
  Event e{12, stored, "r1.epoch.tag.12"};
  auto frame = event_frame("rt-1", "w:1", e);
  auto v = scan_event_frame(frame);
  ASSERT_TRUE(v) << frame;
  EXPECT_EQ(v->cursor, e.cursor);
  EXPECT_EQ(v->seq, 12u);
  EXPECT_EQ(v->runtime_id, "rt-1");
  EXPECT_EQ(v->worker_id, "w:1");
  EXPECT_EQ(v->event, stored);
  // What the scan refuses goes to the general parser, never through wrong.
  EXPECT_FALSE(scan_event_frame(event_frame("rt", "w\"x", e))) << "escaped id";
  EXPECT_FALSE(scan_event_frame(event_frame("rt", "w", Event{1, "[1]", "c"}))) << "event not an object";
  EXPECT_FALSE(scan_event_frame(event_frame("rt", "w", Event{1, R"({"a":)", "c"}))) << "event not JSON";
  EXPECT_FALSE(scan_event_frame(frame.substr(0, frame.size() - 1)));
  EXPECT_FALSE(scan_event_frame(R"({"cursor":"c","type":"event","seq":1,"runtime_id":"r","worker_id":"w","event":{}})"));
}

// The events page written as text is the page to_json builds (the wire
// contract of §6 unchanged), and the backend's scan reads back exactly what
// it writes; a change of layout fails here instead of every page silently
// taking the slow path.
TEST(WireEvents, EventPageTextIsThePageAndScansBack) {
  EventPage page;
  page.epoch = "epoch";
  page.events.push_back(Event{7, encode_event(event::text_done("run-1", 1, "a \"quoted\" {reply}"), 7, 5), "r1.e.t.7"});
  page.events.push_back(Event{8, encode_event(event::worker_stopped(std::string("done")), 8, 6), "r1.e.t.8"});
  page.cursor = "r1.e.t.8";
  page.last_seq = 9;
  auto text = event_page_text(page);
  EXPECT_EQ(bj::parse(text), bj::value(to_json(page))) << text;
  auto v = scan_event_page(text);
  ASSERT_TRUE(v) << text;
  ASSERT_EQ(v->events.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(v->events[i].cursor, page.events[i].cursor);
    EXPECT_EQ(v->events[i].seq, page.events[i].seq);
    EXPECT_EQ(v->events[i].event, page.events[i].json);
  }
  EXPECT_EQ(v->cursor, page.cursor);
  EXPECT_EQ(v->last_seq, 9u);

  EventPage empty;
  empty.cursor = "r1.e.t.0";
  auto empty_text = event_page_text(empty);  // the view points into it
  auto none = scan_event_page(empty_text);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->events.empty());
  EXPECT_EQ(none->cursor, "r1.e.t.0");

  // What the scan refuses goes to the general parser, never through wrong.
  auto with_event = [&](std::string json) {
    EventPage p = page;
    p.events[1].json = std::move(json);
    return event_page_text(p);
  };
  EXPECT_FALSE(scan_event_page(with_event("[1]"))) << "event not an object";
  EXPECT_FALSE(scan_event_page(with_event(R"({"a":)"))) << "event not JSON";
  EXPECT_FALSE(scan_event_page(with_event(R"({"a":1}})"))) << "bytes after the event";
  EXPECT_FALSE(scan_event_page(text.substr(0, text.size() - 1)));
  EXPECT_FALSE(scan_event_page(text + " "));
  EXPECT_FALSE(scan_event_page(bj::serialize(bj::parse(R"({"cursor":"c","events":[],"last_seq":1})"))));
  EventPage escaped = page;
  escaped.cursor = "r1\"x";
  EXPECT_FALSE(scan_event_page(event_page_text(escaped))) << "escaped cursor";
  escaped.cursor = "r1.\xc3\xa9";
  EXPECT_FALSE(scan_event_page(event_page_text(escaped))) << "a cursor beyond ASCII";
}

// A parked run's state document (ARCHITECTURE §15) reads back whole: the
// pending approvals and remembered rules (also in the detail, which the
// remote source decodes), and the pending calls with their arguments, the
// step and the answers given (state document only).
TEST(Wire, ApprovalStateRoundTripsThroughTheRecordAndTheDetail) {
  WorkerRecord r;
  r.worker_id = "w";
  r.status = WorkerStatus::awaiting_approval;
  r.current_run_id = "run-2";
  r.run_step = 3;
  r.pending_calls.push_back(PendingCall{"c1", "write", R"({"path":"a"})"});
  r.pending_approvals.push_back(PendingApproval{"run-2", "c1", "write", R"({"path":"a"})", 42,
                                                bj::object{{"tool", "write"}, {"action", "ask"}, {"source", "default"}}});
  r.remembered_rules.push_back(tools::Rule{"bash", "npm test", tools::Action::allow});
  r.resolved_approvals.push_back(ApprovalOutcome{"run-2", "c0", "denied", std::string("no"), false});
  auto back = record_from_json(obj(boost::json::serialize(record_to_json(r))));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->status, WorkerStatus::awaiting_approval);
  EXPECT_EQ(back->run_step, 3u);
  ASSERT_EQ(back->pending_calls.size(), 1u);
  EXPECT_EQ(back->pending_calls[0].arguments, R"({"path":"a"})");
  ASSERT_EQ(back->pending_approvals.size(), 1u);
  EXPECT_EQ(back->pending_approvals[0].requested_at_ms, 42);
  EXPECT_EQ(back->pending_approvals[0].rule.at("source"), "default");
  EXPECT_EQ(back->remembered_rules, r.remembered_rules);
  ASSERT_EQ(back->resolved_approvals.size(), 1u);
  EXPECT_EQ(back->resolved_approvals[0].reason, std::optional<std::string>("no"));

  WorkerDetail d{"rt", r, 9, 4};
  auto wire = to_json(d);
  EXPECT_FALSE(wire.contains("resolved_approvals")) << "state document only";
  EXPECT_FALSE(wire.contains("pending_calls"));
  auto detail = detail_from_json(bj::value(wire));
  ASSERT_TRUE(detail) << detail.error().message;
  EXPECT_EQ(detail->record.pending_approvals.size(), 1u);
  EXPECT_EQ(detail->record.remembered_rules, r.remembered_rules);
}

TEST(Wire, ApprovalBodiesAreValidated) {
  auto ok = approval_decision_from_json(obj(R"({"decision":"deny","reason":"why"})"));
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->approve);
  EXPECT_EQ(ok->reason, std::optional<std::string>("why"));
  EXPECT_TRUE(approval_decision_from_json(obj(R"({"decision":"approve","remember":true})"))->remember);
  for (const char* bad : {R"({})", R"({"decision":"yes"})", R"({"decision":"approve","remember":"yes"})",
                          R"({"decision":"approve","extra":1})", R"({"decision":"deny","remember":true})",
                          R"({"decision":1})"}) {
    auto r = approval_decision_from_json(obj(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::invalid_request) << bad;
  }
  std::string long_reason(1025, 'x');
  EXPECT_FALSE(approval_decision_from_json(obj(R"({"decision":"deny","reason":")" + long_reason + R"("})")));
}

}  // namespace
}  // namespace yoi::rt::wire
