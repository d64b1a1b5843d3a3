// The `openai` engine: one streamed chat-completions request per turn.
// Design note (timeouts, retries, error mapping, cancel): engines/README.md.

#include "yoi/engines/openai.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "yoi/clock.hpp"
#include "yoi/engines/chat_stream.hpp"
#include "yoi/engines/sse.hpp"
#include "yoi/json.hpp"
#include "yoi/log.hpp"

namespace yoi::engines {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace bj = boost::json;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

// Where requests go, split out of base_url once at engine creation.
struct Endpoint {
  bool tls = false;
  std::string host;         // for DNS, TLS SNI and verification (no brackets)
  std::string port;         // service for the resolver
  std::string host_header;  // as written in the URL, with the port if any
  std::string target;       // {path}/chat/completions[?query]
};

Result<Endpoint> parse_base_url(const std::string& url, const std::string& profile) {
  // Messages name the profile, never the URL: base_url is a Secret.
  auto bad = [&](std::string_view why) {
    return fail(Code::config_invalid, fmt::format("profile '{}': base_url {}", profile, why));
  };
  auto u = boost::urls::parse_uri(url);
  if (!u) return bad("is not a valid absolute URL");
  Endpoint ep;
  if (u->scheme_id() == boost::urls::scheme::https)
    ep.tls = true;
  else if (u->scheme_id() != boost::urls::scheme::http)
    return bad("must use http or https");
  if (u->has_userinfo()) return bad("must not contain credentials (use api_key_env)");
  if (u->has_fragment()) return bad("must not contain a fragment");
  ep.host = u->host_address();
  if (ep.host.empty()) return bad("has no host");
  ep.port = u->has_port() ? std::string(u->port()) : (ep.tls ? "443" : "80");
  if (ep.port.empty()) return bad("has an empty port");
  ep.host_header = std::string(u->encoded_host_and_port());
  std::string path(u->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  ep.target = path + "/chat/completions";
  if (u->has_query()) ep.target += "?" + std::string(u->encoded_query());
  return ep;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Immutable after creation; shared by the engine and its turns, so a turn
// outlives an engine that is dropped while it runs.
struct Shared {
  asio::io_context& io;
  ProfileConfig profile;
  Endpoint ep;
  OpenAiOptions opts;
  std::unique_ptr<asio::ssl::context> ssl;

  std::string where() const { return fmt::format("openai profile '{}'", profile.name); }
};

milliseconds default_retry_delay(int retry, std::optional<milliseconds> retry_after) {
  if (retry_after) return std::min(*retry_after, milliseconds(30000));
  auto base = milliseconds(500) * (1 << std::min(retry - 1, 4));
  base = std::min(base, milliseconds(8000));
  auto jitter = milliseconds(Random::system().uniform(static_cast<std::uint64_t>(base.count() / 4) + 1));
  return base + jitter;
}

// How one attempt (one connection, one request) ended.
struct Outcome {
  enum Kind { ok, retry, failed, cancelled } kind = ok;
  Error error;
  int status = 0;
  std::optional<milliseconds> retry_after;

  static Outcome of(Kind k) {
    Outcome o;
    o.kind = k;
    return o;
  }
  static Outcome fail_with(Error e) {
    Outcome o;
    o.kind = failed;
    o.error = std::move(e);
    return o;
  }
  static Outcome fail_with(Code c, std::string m) { return fail_with(Error{c, std::move(m)}); }
};

struct TurnState {
  TurnState(std::shared_ptr<const Shared> s, TurnHandlers h, Result<std::string> b)
      : sh(std::move(s)),
        handlers(std::move(h)),
        body(b ? std::move(*b) : std::string()),
        body_error(b ? std::nullopt : std::optional<Error>(b.error())),
        resolver(sh->io),
        timer(sh->io) {}

  std::shared_ptr<const Shared> sh;
  TurnHandlers handlers;
  const std::string body;  // the request JSON, reused by every attempt
  const std::optional<Error> body_error;  // the request could not be built: no attempt
  tcp::resolver resolver;
  asio::steady_timer timer;  // retry backoff
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<asio::ssl::stream<beast::tcp_stream>> tls;
  std::array<char, 16384> chunk{};
  std::optional<Usage> usage;
  TurnEnd end;  // the tool calls of a complete response
  unsigned generation = 0;  // attempt number, to ignore stale DNS timer wakeups
  bool dns_timed_out = false;
  bool cancelled = false;

  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *plain; }

  void close_connection() {
    error_code ec;
    if (plain) plain->socket().close(ec);
    if (tls) tls->next_layer().socket().close(ec);
  }

  // Handlers are not touched here (cancel may run inside one of them); the
  // flag stops every later call and the coroutine frees them when it ends,
  // on the next turn of the io_context, because every pending operation has
  // just been aborted.
  void cancel() {
    if (cancelled) return;
    cancelled = true;
    resolver.cancel();
    timer.cancel();
    close_connection();
  }
};

std::optional<milliseconds> parse_retry_after(std::string_view v) {
  std::uint64_t secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec != std::errc() || p != v.data() + v.size() || secs > 3600) return std::nullopt;
  return milliseconds(secs * 1000);
}

// A malformed message, as opposed to the connection simply ending
// (end_of_stream, partial_message), which is the peer going away.
bool is_parse_error(const error_code& ec) {
  return ec.category() == error_code(http::error::bad_target).category() && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

// Writes the request. Until the first body byte one deadline covers writing
// it and waiting for the reply (a model may take long before its first
// token; that is what first_byte_timeout is for). nullopt once written.
template <class Stream>
asio::awaitable<std::optional<Outcome>> send_request(TurnState& st, Stream& stream,
                                                     std::chrono::steady_clock::time_point first_byte_deadline) {
  const Shared& sh = *st.sh;
  http::request<http::string_body> req{http::verb::post, sh.ep.target, 11};
  req.set(http::field::host, sh.ep.host_header);
  req.set(http::field::user_agent, "yoi");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  if (!sh.profile.api_key.empty()) req.set(http::field::authorization, "Bearer " + sh.profile.api_key.expose());
  req.body() = st.body;
  req.prepare_payload();
  st.lowest().expires_at(first_byte_deadline);
  auto [wec, wn] = co_await http::async_write(stream, req, kTok);
  if (st.cancelled) co_return Outcome::of(Outcome::cancelled);
  if (wec == beast::error::timeout)
    co_return Outcome::fail_with(Code::provider_timeout, sh.where() + ": timed out sending the request");
  if (wec)
    co_return Outcome::fail_with(Code::provider_error,
                                 sh.where() + ": connection lost sending the request: " + wec.message());
  co_return std::nullopt;
}

// What the response's header decides: failure, retry, or nullopt (a 2xx:
// read the body).
std::optional<Outcome> header_outcome(const Shared& sh, const error_code& hec,
                                      const http::response_header<>& head) {
  const std::string where = sh.where();
  if (hec == beast::error::timeout)
    return Outcome::fail_with(Code::provider_timeout, fmt::format("{}: no response within first_byte_timeout ({} ms)",
                                                                  where, sh.profile.first_byte_timeout.count()));
  if (hec && is_parse_error(hec))
    return Outcome::fail_with(Code::provider_bad_response, where + ": malformed HTTP response header: " + hec.message());
  if (hec)
    return Outcome::fail_with(Code::provider_error, where + ": connection lost before the response: " + hec.message());
  const int status = static_cast<int>(head.result_int());
  if (status == 401 || status == 403)
    return Outcome::fail_with(Code::provider_auth_failed,
                              fmt::format("{}: provider rejected the credentials (HTTP {})", where, status));
  if (status == 429 || status >= 500) {
    Outcome o = Outcome::of(Outcome::retry);
    o.status = status;
    if (auto ra = head.find(http::field::retry_after); ra != head.end()) o.retry_after = parse_retry_after(ra->value());
    return o;
  }
  if (status < 200 || status >= 300)
    return Outcome::fail_with(Code::provider_error,
                              fmt::format("{}: provider rejected the request (HTTP {})", where, status));
  return std::nullopt;
}

// The response body as it arrives: an event stream (chunks applied to the
// turn as they come), or one JSON completion from a server that ignores
// `stream: true`.
class BodyReader {
 public:
  BodyReader(TurnState& st, bool whole_json)
      : st_(st),
        sh_(*st.sh),
        where_(sh_.where()),
        whole_json_(whole_json),
        sse_(sh_.opts.max_event_bytes),
        decoder_(where_, sh_.opts.tool_calls) {}

  bool got_body() const { return got_body_; }

  // Takes the next bytes; an outcome when the turn is decided by them.
  std::optional<Outcome> feed(std::string_view bytes) {
    got_body_ = true;
    if (whole_json_) {
      json_body_.append(bytes);
      return std::nullopt;
    }
    auto fed = sse_.feed(bytes, [this](const SseEvent& ev) { return on_event(ev); });
    if (st_.cancelled) return Outcome::of(Outcome::cancelled);
    if (!fed)
      return Outcome::fail_with(Code::provider_bad_response, where_ + ": malformed event stream: " + fed.error().message);
    if (stream_error_) return Outcome::fail_with(*stream_error_);
    if (done_) return complete();
    return std::nullopt;
  }

  // A read error other than need_buffer; nullopt when the connection just
  // ended (judged by end()).
  std::optional<Outcome> read_error(const error_code& ec) const {
    if (ec == beast::error::timeout) {
      if (got_body_)
        return Outcome::fail_with(Code::provider_timeout,
                                  fmt::format("{}: the stream stalled for more than idle_timeout ({} ms)", where_,
                                              sh_.profile.idle_timeout.count()));
      return Outcome::fail_with(Code::provider_timeout, fmt::format("{}: no response within first_byte_timeout ({} ms)",
                                                                    where_, sh_.profile.first_byte_timeout.count()));
    }
    if (ec == http::error::body_limit)
      return Outcome::fail_with(Code::provider_bad_response,
                                fmt::format("{}: response exceeds {} bytes", where_, sh_.opts.max_body_bytes));
    if (is_parse_error(ec))
      return Outcome::fail_with(Code::provider_bad_response, where_ + ": malformed HTTP response body: " + ec.message());
    return std::nullopt;
  }

  // The body ended (`complete`: the whole HTTP message arrived).
  Outcome end(bool complete_message) {
    if (whole_json_) {
      if (!complete_message) return Outcome::fail_with(Code::provider_error, where_ + ": connection lost mid-response");
      if (json_body_.size() > sh_.opts.max_body_bytes)
        return Outcome::fail_with(Code::provider_bad_response,
                                  fmt::format("{}: response exceeds {} bytes", where_, sh_.opts.max_body_bytes));
      if (auto r = decoder_.chunk(json_body_, true, text_sink()); !r) return Outcome::fail_with(r.error());
      if (st_.cancelled) return Outcome::of(Outcome::cancelled);
      return complete();
    }
    // No [DONE]. A stream that reported its finish_reason and then closed
    // cleanly is complete (some servers omit [DONE]); anything else was cut
    // off, possibly inside a tool call whose arguments are incomplete.
    sse_.finish();
    if (decoder_.finished() && complete_message) return complete();
    return Outcome::fail_with(Code::provider_error,
                              where_ + (decoder_.has_tool_calls() ? ": the stream ended inside a tool call"
                                                                  : ": the stream ended before it finished"));
  }

 private:
  // The response is whole: its tool calls and usage become the turn's.
  Outcome complete() {
    auto end = decoder_.finish();
    if (!end) return Outcome::fail_with(end.error());
    st_.end = std::move(*end);
    st_.usage = decoder_.usage();
    return Outcome::of(Outcome::ok);
  }

  ChatStreamDecoder::TextSink text_sink() {
    return [this](std::string_view text) {
      if (!st_.cancelled && st_.handlers.on_delta) st_.handlers.on_delta(text);
    };
  }

  bool on_event(const SseEvent& ev) {
    if (ev.data == "[DONE]") {
      done_ = true;
      return false;
    }
    if (ev.type == "error") {
      stream_error_ = Error{Code::provider_error, where_ + ": provider reported an error in the stream"};
      return false;
    }
    if (auto r = decoder_.chunk(ev.data, false, text_sink()); !r) stream_error_ = r.error();
    return !stream_error_ && !st_.cancelled;
  }

  TurnState& st_;
  const Shared& sh_;
  std::string where_;
  bool whole_json_;
  SseParser sse_;
  ChatStreamDecoder decoder_;
  std::string json_body_;
  bool got_body_ = false, done_ = false;
  std::optional<Error> stream_error_;
};

// Sends the request on a connected stream and streams the response.
template <class Stream>
asio::awaitable<Outcome> exchange(std::shared_ptr<TurnState> st, Stream& stream) {
  const Shared& sh = *st->sh;
  const auto first_byte_deadline = std::chrono::steady_clock::now() + sh.profile.first_byte_timeout;
  if (auto sent = co_await send_request(*st, stream, first_byte_deadline)) co_return std::move(*sent);

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.header_limit(32 * 1024);
  p.body_limit(sh.opts.max_body_bytes);
  auto [hec, hn] = co_await http::async_read_header(stream, buf, p, kTok);
  if (st->cancelled) co_return Outcome::of(Outcome::cancelled);
  if (auto o = header_outcome(sh, hec, p.get())) co_return std::move(*o);

  const auto ctype = p.get()[http::field::content_type];
  BodyReader body(*st, ctype.find("application/json") != std::string_view::npos);
  while (!p.is_done()) {
    p.get().body().data = st->chunk.data();
    p.get().body().size = st->chunk.size();
    // After the first body byte, each read gets idle_timeout.
    if (body.got_body())
      st->lowest().expires_after(sh.profile.idle_timeout);
    else
      st->lowest().expires_at(first_byte_deadline);
    auto [ec, n] = co_await http::async_read_some(stream, buf, p, kTok);
    if (st->cancelled) co_return Outcome::of(Outcome::cancelled);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = st->chunk.size() - p.get().body().size;
    if (got > 0)
      if (auto o = body.feed(std::string_view(st->chunk.data(), got))) co_return std::move(*o);
    if (!ec) continue;
    if (auto o = body.read_error(ec)) co_return std::move(*o);
    break;  // the connection ended; judged below
  }
  co_return body.end(p.is_done());
}

// One attempt: resolve, connect (and handshake), exchange.
asio::awaitable<Outcome> attempt(std::shared_ptr<TurnState> st) {
  const Shared& sh = *st->sh;
  const std::string where = sh.where();
  const auto connect_timeout = sh.profile.connect_timeout;

  // tcp_stream timeouts do not cover DNS: race the resolver with a timer.
  const unsigned gen = ++st->generation;
  st->dns_timed_out = false;
  asio::steady_timer dns_timer(sh.io, connect_timeout);
  dns_timer.async_wait([st, gen](error_code ec) {
    if (ec || st->generation != gen) return;
    st->dns_timed_out = true;
    st->resolver.cancel();
  });
  auto [rec, endpoints] = co_await st->resolver.async_resolve(sh.ep.host, sh.ep.port, kTok);
  dns_timer.cancel();
  if (st->cancelled) co_return Outcome::of(Outcome::cancelled);
  if (rec && st->dns_timed_out)
    co_return Outcome::fail_with(Code::provider_unreachable,
                                 fmt::format("{}: name resolution took longer than connect_timeout ({} ms)",
                                             where, connect_timeout.count()));
  if (rec) co_return Outcome::fail_with(Code::provider_unreachable, where + ": name resolution failed: " + rec.message());

  if (sh.ep.tls)
    st->tls = std::make_unique<asio::ssl::stream<beast::tcp_stream>>(sh.io, *sh.ssl);
  else
    st->plain = std::make_unique<beast::tcp_stream>(sh.io);
  st->lowest().expires_after(connect_timeout);
  auto [cec, cep] = co_await st->lowest().async_connect(endpoints, kTok);
  if (st->cancelled) co_return Outcome::of(Outcome::cancelled);
  if (cec == beast::error::timeout)
    co_return Outcome::fail_with(Code::provider_unreachable,
                                 fmt::format("{}: could not connect within connect_timeout ({} ms)", where,
                                             connect_timeout.count()));
  if (cec) co_return Outcome::fail_with(Code::provider_unreachable, where + ": could not connect: " + cec.message());

  if (!sh.ep.tls) co_return co_await exchange(st, *st->plain);

  auto& tls = *st->tls;
  // SNI is for names only (RFC 6066); verification checks names and IPs.
  if (!is_ip_literal(sh.ep.host)) SSL_set_tlsext_host_name(tls.native_handle(), sh.ep.host.c_str());
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.set_verify_callback(asio::ssl::host_name_verification(sh.ep.host));
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, kTok);
  if (st->cancelled) co_return Outcome::of(Outcome::cancelled);
  if (hec == beast::error::timeout)
    co_return Outcome::fail_with(Code::provider_unreachable,
                                 fmt::format("{}: TLS handshake took longer than connect_timeout ({} ms)", where,
                                             connect_timeout.count()));
  if (hec) co_return Outcome::fail_with(Code::provider_unreachable, where + ": TLS handshake failed: " + hec.message());
  co_return co_await exchange(st, tls);
}

asio::awaitable<Result<void>> run_attempts(std::shared_ptr<TurnState> st) {
  const Shared& sh = *st->sh;
  for (int retry = 0;; ++retry) {
    Outcome o = co_await attempt(st);
    st->close_connection();
    st->plain.reset();
    st->tls.reset();
    if (o.kind == Outcome::cancelled || st->cancelled) co_return fail(Code::cancelled, "cancelled");
    if (o.kind == Outcome::ok) co_return Result<void>{};
    if (o.kind == Outcome::failed) co_return fail(std::move(o.error));
    // retry
    if (retry >= sh.profile.max_retries)
      co_return fail(Code::provider_error, fmt::format("{}: provider answered HTTP {} after {} retries", sh.where(),
                                                       o.status, retry));
    const auto delay = sh.opts.retry_delay ? sh.opts.retry_delay(retry + 1, o.retry_after)
                                           : default_retry_delay(retry + 1, o.retry_after);
    spdlog::info("{}: provider answered HTTP {}, retry {} of {} in {} ms", sh.where(), o.status, retry + 1,
                 sh.profile.max_retries, delay.count());
    st->timer.expires_after(delay);
    co_await st->timer.async_wait(kTok);
    if (st->cancelled) co_return fail(Code::cancelled, "cancelled");
  }
}

asio::awaitable<void> run_turn(std::shared_ptr<TurnState> st) {
  if (st->cancelled) co_return;
  Result<void> result;
  try {
    // (No co_await inside ?: — GCC miscompiles it.)
    if (st->body_error)
      result = fail(*st->body_error);
    else
      result = co_await run_attempts(st);
  } catch (const std::exception& e) {
    // Nothing here should throw (errors are values); a bug becomes `internal`.
    result = fail(Code::internal, st->sh->where() + ": unexpected failure");
    spdlog::error("{}: unexpected exception: {}", st->sh->where(), e.what());
  }
  st->close_connection();
  if (st->cancelled) co_return;
  Result<TurnEnd> end = result ? Result<TurnEnd>(std::move(st->end)) : Result<TurnEnd>(fail(result.error()));
  if (!result) {
    spdlog::warn("{} ({})", result.error().message, code_name(result.error().code));
  } else if (st->usage && st->handlers.on_usage) {
    st->handlers.on_usage(*st->usage);
    if (st->cancelled) co_return;
  }
  if (st->handlers.on_done) st->handlers.on_done(std::move(end));
}

class OpenAiTurn final : public Turn {
 public:
  explicit OpenAiTurn(std::shared_ptr<TurnState> st) : st_(std::move(st)) {}
  ~OpenAiTurn() override { st_->cancel(); }
  void cancel() override { st_->cancel(); }

 private:
  std::shared_ptr<TurnState> st_;
};

// A message in the OpenAI form. An assistant message that called tools
// carries them as `tool_calls` with the arguments text as the model sent it;
// its content is null when it said nothing (the OpenAI reference form, which
// llama.cpp, Ollama and vLLM all accept; an empty string is accepted too but
// makes some Ollama model templates fall back from structured tool calls to
// text markup on later turns). A tool result is `role: "tool"` with the
// call's id; the tool's `name` is left out, since not every server accepts it
// there and the id already names the call.
bj::object wire_message(const Message& m) {
  bj::object o{{"role", m.role}};
  if (m.role == "tool") {
    o["tool_call_id"] = m.tool_call_id;
    o["content"] = m.content;
    return o;
  }
  if (m.tool_calls.empty()) {
    o["content"] = m.content;
    return o;
  }
  if (m.content.empty())
    o["content"] = nullptr;
  else
    o["content"] = m.content;
  bj::array calls;
  for (const auto& c : m.tool_calls)
    calls.push_back(bj::object{{"id", c.call_id},
                               {"type", "function"},
                               {"function", bj::object{{"name", c.name}, {"arguments", c.arguments}}}});
  o["tool_calls"] = std::move(calls);
  return o;
}

Result<std::string> request_body(const Shared& sh, const std::vector<Message>& conversation,
                                  const std::vector<ToolSpec>& tools) {
  const ProfileConfig& p = sh.profile;
  bj::array messages;
  if (!p.system_prompt.empty()) messages.push_back(bj::object{{"role", "system"}, {"content", p.system_prompt}});
  for (const auto& m : conversation) messages.push_back(wire_message(m));
  bj::object req;
  req["model"] = p.model;
  req["messages"] = std::move(messages);
  if (!tools.empty()) {
    bj::array offered;
    for (const auto& t : tools) {
      // The schema is sent as an object, not as text.
      auto schema = json::parse(t.parameters);
      if (!schema || !schema->is_object())
        return fail(Code::internal, fmt::format("{}: tool '{}' has no JSON Schema object", sh.where(), t.name));
      offered.push_back(bj::object{
          {"type", "function"},
          {"function", bj::object{{"name", t.name}, {"description", t.description}, {"parameters", std::move(*schema)}}}});
    }
    req["tools"] = std::move(offered);
  }
  req["stream"] = true;
  req["stream_options"] = bj::object{{"include_usage", true}};
  if (p.temperature) req["temperature"] = *p.temperature;
  if (p.max_tokens) req["max_tokens"] = *p.max_tokens;
  return json::serialize(req);
}

class OpenAiEngine final : public Engine {
 public:
  explicit OpenAiEngine(std::shared_ptr<const Shared> sh) : sh_(std::move(sh)) {}
  std::string_view kind() const override { return "openai"; }

  using Engine::start;
  std::unique_ptr<Turn> start(std::vector<Message> conversation, std::vector<ToolSpec> tools,
                              TurnHandlers handlers) override {
    auto st = std::make_shared<TurnState>(sh_, std::move(handlers), request_body(*sh_, conversation, tools));
    asio::co_spawn(sh_->io, run_turn(st), [where = sh_->where()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("{}: turn ended by an exception: {}", where, x.what());
      } catch (...) {
        spdlog::error("{}: turn ended by an unknown exception", where);
      }
    });
    return std::make_unique<OpenAiTurn>(std::move(st));
  }

 private:
  std::shared_ptr<const Shared> sh_;
};

}  // namespace

Result<std::shared_ptr<Engine>> make_openai_engine(boost::asio::io_context& io, const ProfileConfig& profile,
                                                   OpenAiOptions options) {
  auto bad = [&](std::string_view why) {
    return fail(Code::config_invalid, fmt::format("profile '{}': {}", profile.name, why));
  };
  if (profile.model.empty()) return bad("model is required for the openai engine");
  if (profile.base_url.empty()) return bad("base_url is required for the openai engine");
  if (profile.max_retries < 0) return bad("max_retries must not be negative");
  if (profile.connect_timeout.count() <= 0 || profile.first_byte_timeout.count() <= 0 ||
      profile.idle_timeout.count() <= 0)
    return bad("timeouts must be positive");
  if (options.max_event_bytes == 0 || options.max_body_bytes == 0) return bad("limits must be positive");
  auto ep = parse_base_url(profile.base_url.expose(), profile.name);
  if (!ep) return fail(ep.error());

  auto sh = std::make_shared<Shared>(Shared{io, profile, std::move(*ep), std::move(options), nullptr});
  if (sh->ep.tls) {
    try {
      auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      error_code ec;
      ctx->set_default_verify_paths(ec);
      if (ec) return bad("cannot load the system certificate store: " + ec.message());
      if (!sh->opts.extra_ca_pem.empty()) {
        ctx->add_certificate_authority(asio::buffer(sh->opts.extra_ca_pem), ec);
        if (ec) return bad("extra CA certificate is unusable: " + ec.message());
      }
      ctx->set_verify_mode(asio::ssl::verify_peer);
      sh->ssl = std::move(ctx);
    } catch (const std::exception& e) {
      return bad(std::string("cannot set up TLS: ") + e.what());
    }
  }
  return std::shared_ptr<Engine>(std::make_shared<OpenAiEngine>(std::move(sh)));
}

}  // namespace yoi::engines
