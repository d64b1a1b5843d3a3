// Token checks are constant-time: both servers decide authentication with
// yoi::Secret::equals (common/secret.cpp — one pass over the candidate,
// OR-accumulated differences, no early exit) and with nothing else.
//
// How this is asserted without timing: this test binary provides its own
// definition of yoi::Secret (the two out-of-line members of secret.cpp), so
// the linker never takes secret.o from libyoi_common.a and every call the
// servers make lands here. The spy counts calls and accepts one extra magic
// value. If an auth path compared tokens any other way (==, memcmp,
// starts_with …), the magic value would be refused and the count would not
// move — the test fails. Code: server/runtime_server.cpp (Impl::authorize),
// backend/src/api.cpp (BrowserApi::authorize; the event stream's bearer and
// subprotocol tokens go through the same function, backend/src/observe.cpp).
#include <openssl/crypto.h>

#include <atomic>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "harness.hpp"
#include "test_client.hpp"
#include "yoi/backend/api.hpp"
#include "yoi/backend/cursor.hpp"
#include "yoi/backend/registry.hpp"
#include "yoi/net/http_server.hpp"
#include "yoi/secret.hpp"

namespace {
std::atomic<int> g_equals_calls{0};
constexpr std::string_view kSpyAccepts = "accepted-only-by-the-spy";
}  // namespace

namespace yoi {

Secret::~Secret() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
}

bool Secret::equals(std::string_view candidate) const {
  ++g_equals_calls;
  if (candidate == kSpyAccepts) return true;
  return !value_.empty() && candidate.size() == value_.size() &&
         CRYPTO_memcmp(candidate.data(), value_.data(), value_.size()) == 0;
}

}  // namespace yoi

namespace yoi::reliability {
namespace {

using namespace std::chrono_literals;

TEST(ConstantTimeAuth, RuntimeServerDecidesWithSecretEquals) {
  runtime_server::test::Harness h;  // token "test-token"
  net::test::HttpClient c("127.0.0.1", h.port());
  auto get = [&](const std::string& token) {
    return c.request("GET", "/v1/workers", "", {{"Authorization", "Bearer " + token}}).status;
  };
  int before = g_equals_calls;
  EXPECT_EQ(get("test-token"), 200);
  EXPECT_EQ(get("test-tokeX"), 401);
  EXPECT_EQ(get(std::string(kSpyAccepts)), 200) << "the runtime compared the token without Secret::equals";
  EXPECT_EQ(g_equals_calls - before, 3) << "one Secret::equals per authenticated request";
  // The event stream's upgrade takes the same path.
  net::test::WsClient ws("127.0.0.1", h.port());
  before = g_equals_calls;
  auto hs = ws.connect("/v1/workers/none/events/ws", {{"Authorization", "Bearer " + std::string(kSpyAccepts)}});
  EXPECT_NE(hs.status, 401) << "the stream refused a token Secret::equals accepted";
  EXPECT_GE(g_equals_calls - before, 1);
}

TEST(ConstantTimeAuth, BackendDecidesWithSecretEquals) {
  boost::asio::io_context io;
  backend::RuntimeRegistry registry(io);
  backend::CursorCodec cursors(Secret("cursor-key"));
  backend::ApiOptions ao;
  ao.access_token = Secret("the-access-token");
  backend::BrowserApi api(registry, cursors, std::move(ao));
  auto check = [&](std::string token) {
    net::Request r;
    r.method = "GET";
    r.target = r.path = "/api/runtimes";
    r.headers = {{"Authorization", "Bearer " + token}};
    return api.authorize(r);
  };
  int before = g_equals_calls;
  EXPECT_FALSE(check("the-access-token"));
  ASSERT_TRUE(check("the-access-tokeX"));
  EXPECT_EQ(check("the-access-tokeX")->code, Code::unauthorized);
  EXPECT_FALSE(check(std::string(kSpyAccepts))) << "the backend compared the token without Secret::equals";
  EXPECT_EQ(g_equals_calls - before, 4);
}

}  // namespace
}  // namespace yoi::reliability
