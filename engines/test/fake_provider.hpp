#pragma once
// A fake OpenAI-compatible chat-completions server for engine tests: a real
// HTTP/1.1 server on 127.0.0.1:0 (its own thread and io_context), scripted per
// test. Each accepted request takes the next scripted FakeResponse (or the
// fallback, a 500, when the queue is empty), and every request is recorded.
//
// Responses are written as raw bytes, so a script can produce anything a
// real (or broken) provider might: chunked SSE, a malformed chunk, a stall,
// a drop mid-stream. While a response runs, the server also reads from the
// socket, so it notices a client close at once and records when it happened
// (the cancel-promptness test measures against that).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace yoi::engines::test {

struct FakeStep {
  enum Kind {
    send,   // write `bytes` (as one HTTP chunk when the response is chunked)
    raw,    // write `bytes` as they are, bypassing chunked framing
    sleep,  // wait `delay`
    drop,   // close the connection abruptly
    stall,  // do nothing until the client goes away
  };
  Kind kind = send;
  std::string bytes;
  std::chrono::milliseconds delay{0};

  static FakeStep data(std::string payload) { return {send, "data: " + payload + "\n\n", {}}; }
  static FakeStep text(std::string bytes) { return {send, std::move(bytes), {}}; }
  static FakeStep raw_bytes(std::string bytes) { return {raw, std::move(bytes), {}}; }
  static FakeStep wait(std::chrono::milliseconds d) { return {sleep, {}, d}; }
  static FakeStep close_now() { return {drop, {}, {}}; }
  static FakeStep hang() { return {stall, {}, {}}; }
};

struct FakeResponse {
  int status = 200;
  std::string content_type = "text/event-stream";
  std::vector<std::pair<std::string, std::string>> headers;
  bool chunked = true;  // false: no length, the body ends when the server closes
  std::chrono::milliseconds header_delay{0};
  bool hang_before_headers = false;  // accept, read the request, never answer
  bool drop_before_headers = false;  // accept, read the request, close
  std::optional<std::string> raw_head;  // written instead of the status line and headers
  std::vector<FakeStep> body;

  // A normal streamed answer: one delta chunk per piece, a usage chunk, [DONE].
  static FakeResponse stream(const std::vector<std::string>& pieces, int prompt_tokens = 11,
                             int completion_tokens = 7, std::chrono::milliseconds gap = {});
  static FakeResponse status_only(int status, std::string body = "{\"error\":{\"message\":\"nope\"}}");
};

// One chat-completions chunk carrying `content` as its delta.
std::string delta_chunk(const std::string& content);
std::string usage_chunk(int prompt_tokens, int completion_tokens);
// One chunk carrying one `tool_calls` fragment: `index` always, the other
// parts only when given (strings are written byte for byte, escaped as JSON
// requires, so a piece may end inside a UTF-8 sequence).
std::string tool_call_chunk(int index, std::optional<std::string> id, std::optional<std::string> name,
                            std::optional<std::string> arguments);
// A chunk with an empty delta and this finish_reason.
std::string finish_chunk(const std::string& reason);

struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Serve https with this certificate chain and key (PEM) instead of http.
struct FakeTls {
  std::string cert_pem;
  std::string key_pem;
};

class FakeProvider {
 public:
  explicit FakeProvider(std::optional<FakeTls> tls = std::nullopt);
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  std::uint16_t port() const { return port_; }
  // http(s)://HOST:PORT/v1; `host` must resolve to 127.0.0.1.
  std::string base_url(const std::string& host = "127.0.0.1") const;

  void enqueue(FakeResponse r);
  std::vector<RecordedRequest> requests() const;
  std::size_t connections() const;
  // The TLS SNI host name of each completed handshake ("" when none sent).
  std::vector<std::string> sni_names() const;

  // When the server saw connection `index` (0-based, accept order) close
  // from the client side; nullopt if it has not (waits up to `timeout`).
  std::optional<std::chrono::steady_clock::time_point> wait_client_close(
      std::size_t index, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
};

// A port on 127.0.0.1 with nothing listening (bound, then released).
std::uint16_t unused_port();

}  // namespace yoi::engines::test
