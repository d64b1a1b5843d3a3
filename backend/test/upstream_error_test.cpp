// The one upstream failure mapper (src/upstream_error.cpp): one test per row
// of its table (backend/README.md, "Failure mapping"). The same rows hold for
// a REST call and for the event stream's dial and handshake.

#include <gtest/gtest.h>

#include "yoi/net/params.hpp"

#include <string>

#include "upstream_error.hpp"

namespace yoi::backend::upstream {
namespace {

std::string typed(std::string_view code, std::string_view message) {
  return std::string(R"({"error":{"code":")") + std::string(code) + R"(","message":")" + std::string(message) +
         R"("}})";
}

// No message may carry what the runtime or the transport said, except where a
// row says so.
void expect_own_message(const Error& e) {
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.message.find("/srv"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("secret"), std::string::npos) << e.message;
}

TEST(UpstreamError, RefusedResetOrUnresolvableIsRuntimeUnreachable) {
  auto e = map_failure(NoReply{http::Failure::unreachable});
  EXPECT_EQ(e.code, Code::runtime_unreachable);
  expect_own_message(e);
}

TEST(UpstreamError, TlsFailureIsRuntimeUnreachable) {
  auto e = map_failure(NoReply{http::Failure::tls});
  EXPECT_EQ(e.code, Code::runtime_unreachable);
  EXPECT_EQ(e.message, "a secure connection to the runtime could not be established");
}

TEST(UpstreamError, NoAnswerInTimeIsRuntimeTimeout) {
  auto e = map_failure(NoReply{http::Failure::timeout});
  EXPECT_EQ(e.code, Code::runtime_timeout);
  EXPECT_EQ(http_status(e.code), 504);
}

TEST(UpstreamError, OversizedOrInvalidHttpIsRuntimeBadResponse) {
  EXPECT_EQ(map_failure(NoReply{http::Failure::too_large}).code, Code::runtime_bad_response);
  EXPECT_EQ(map_failure(NoReply{http::Failure::protocol}).code, Code::runtime_bad_response);
}

TEST(UpstreamError, CancelledByTheBackendIsShuttingDown) {
  EXPECT_EQ(map_failure(NoReply{http::Failure::cancelled}).code, Code::shutting_down);
}

TEST(UpstreamError, AFullQueueForTheRuntimeIsRuntimeBusy) {
  auto e = map_failure(NoReply{http::Failure::busy});
  EXPECT_EQ(e.code, Code::runtime_busy);
  EXPECT_EQ(http_status(e.code), 503);
  EXPECT_FALSE(runtime_down(e.code)) << "a busy runtime is there: streams do not wait on it";
  // The answer says when to come back (the one error table), other errors do not.
  auto busy = net::error_response(e, net::Reply(200, "rt"));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.headers, (net::Fields{{"Retry-After", "1"}}));
  EXPECT_TRUE(net::error_response(map_failure(NoReply{http::Failure::timeout})).headers.empty());
}

TEST(UpstreamError, Http401Or403IsRuntimeAuthFailed) {
  for (int status : {401, 403}) {
    auto e = map_failure(Reply{status, "nope"});
    EXPECT_EQ(e.code, Code::runtime_auth_failed) << status;
    EXPECT_EQ(http_status(e.code), 401);
  }
}

TEST(UpstreamError, Http5xxIsRuntimeErrorWithoutTheBody) {
  auto e = map_failure(Reply{500, "stack trace at /srv/secret/path"});
  EXPECT_EQ(e.code, Code::runtime_error);
  EXPECT_EQ(e.message, "the runtime failed the request (HTTP 500)");
  EXPECT_EQ(map_failure(Reply{503, typed("worker_busy", "busy")}).code, Code::runtime_error);
}

TEST(UpstreamError, UntypedHttp4xxIsRuntimeBadResponse) {
  auto missing = map_failure(Reply{404, "<html>not here</html>"});
  EXPECT_EQ(missing.code, Code::runtime_bad_response);
  EXPECT_EQ(missing.message, "the runtime does not offer this operation");
  auto other = map_failure(Reply{418, "stack trace at /srv/secret/path"});
  EXPECT_EQ(other.code, Code::runtime_bad_response);
  expect_own_message(other);
  // A non-2xx that is not an error status (e.g. a declined WebSocket upgrade).
  EXPECT_EQ(map_failure(Reply{200, "{}"}).code, Code::runtime_bad_response);
}

TEST(UpstreamError, TypedWorkerNotFoundKeepsItsCodeNotItsMessage) {
  auto e = map_failure(Reply{404, typed("worker_not_found", "no worker at /srv/secret/w1")});
  EXPECT_EQ(e.code, Code::worker_not_found);
  EXPECT_EQ(e.message, "worker not found");
}

TEST(UpstreamError, TypedUnsupportedIsUnsupportedUnlessA5xx) {
  auto e = map_failure(Reply{501, typed("unsupported", "x")});
  EXPECT_EQ(e.code, Code::runtime_error) << "a 5xx is the runtime's failure, typed or not";
  auto e4 = map_failure(Reply{400, typed("unsupported", "not at /srv/secret")});
  EXPECT_EQ(e4.code, Code::unsupported);
  expect_own_message(e4);
}

TEST(UpstreamError, TypedUnauthorizedIsRuntimeAuthFailed) {
  EXPECT_EQ(map_failure(Reply{400, typed("unauthorized", "x")}).code, Code::runtime_auth_failed);
}

TEST(UpstreamError, RequestShapedCodesPassWithTheirBoundedMessage) {
  for (auto code : {Code::invalid_request, Code::invalid_id, Code::payload_too_large, Code::worker_exists,
                    Code::worker_busy, Code::worker_stopped, Code::worker_not_stopped, Code::limit_exceeded, Code::cursor_invalid,
                    Code::cursor_expired, Code::cursor_unknown}) {
    auto e = map_failure(Reply{409, typed(code_name(code), "as the runtime says")});
    EXPECT_EQ(e.code, code) << code_name(code);
    EXPECT_EQ(e.message, "as the runtime says");
  }
  auto long_one = map_failure(Reply{409, typed("worker_busy", std::string(1000, 'x'))});
  EXPECT_EQ(long_one.message.size(), 300u);
  EXPECT_EQ(map_failure(Reply{409, typed("worker_busy", "")}).message, "worker_busy");
}

TEST(UpstreamError, OtherTypedCodesAreRuntimeBadResponse) {
  auto route = map_failure(Reply{404, typed("not_found", "no route /srv/secret")});
  EXPECT_EQ(route.code, Code::runtime_bad_response);
  EXPECT_EQ(route.message, "the runtime does not offer this operation");
  auto other = map_failure(Reply{409, typed("store_io", "disk full at /srv/secret")});
  EXPECT_EQ(other.code, Code::runtime_bad_response);
  EXPECT_EQ(other.message, "the runtime answered with an unexpected error (store_io)");
}

TEST(UpstreamError, UndecodableReplyOrFrameIsRuntimeBadResponse) {
  auto e = map_failure(Undecodable{"reply"});
  EXPECT_EQ(e.code, Code::runtime_bad_response);
  EXPECT_EQ(e.message, "the runtime's reply could not be decoded");
  EXPECT_EQ(map_failure(Undecodable{"event frame"}).code, Code::runtime_bad_response);
}

TEST(UpstreamError, LostEventStreamIsRuntimeUnavailable) {
  auto e = map_failure(StreamLost{});
  EXPECT_EQ(e.code, Code::runtime_unavailable);
  expect_own_message(e);
}

TEST(UpstreamError, StreamDiagnosticKeepsTheRuntimesCodeAndMessage) {
  auto e = map_failure(StreamDiagnostic{"worker_not_found", "worker 'w1' not found"});
  EXPECT_EQ(e.code, Code::worker_not_found);
  EXPECT_EQ(e.message, "worker 'w1' not found");
  auto cursor = map_failure(StreamDiagnostic{"cursor_expired", std::string(1000, 'x')});
  EXPECT_EQ(cursor.code, Code::cursor_expired);
  EXPECT_EQ(cursor.message.size(), 300u) << "bounded, as a REST error's";
}

// Regression (issue 17 review): a stream diagnostic's message reached
// browsers unfiltered, so a runtime's store error could show its paths.
TEST(UpstreamError, StreamDiagnosticsAboutTheRuntimeGetTheBackendsOwnWords) {
  auto e = map_failure(StreamDiagnostic{"store_io", "cannot fsync /var/lib/yoi-runtime/workers/w1/events.log"});
  EXPECT_EQ(e.code, Code::store_io);
  EXPECT_EQ(e.message.find("/var/lib"), std::string::npos) << e.message;
  auto unknown = map_failure(StreamDiagnostic{"brand_new_code", "/etc/secret"});
  EXPECT_EQ(unknown.code, Code::runtime_error);
  EXPECT_EQ(unknown.message.find("/etc"), std::string::npos) << unknown.message;
}

TEST(UpstreamError, RuntimeDownIsTheRuntimeFailingNotAnAnswerAboutTheWorker) {
  for (auto code : {Code::runtime_unreachable, Code::runtime_timeout, Code::runtime_error, Code::runtime_bad_response,
                    Code::runtime_unavailable, Code::runtime_auth_failed})
    EXPECT_TRUE(runtime_down(code)) << code_name(code);
  for (auto code : {Code::worker_not_found, Code::worker_stopped, Code::cursor_expired, Code::cursor_unknown,
                    Code::unsupported, Code::shutting_down, Code::internal, Code::store_io})
    EXPECT_FALSE(runtime_down(code)) << code_name(code);
}

}  // namespace
}  // namespace yoi::backend::upstream
