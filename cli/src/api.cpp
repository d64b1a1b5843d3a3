#include "api.hpp"

#include <chrono>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "screen.hpp"
#include "yoi/json.hpp"

namespace yoi::cli {

namespace bj = boost::json;

CliError transport_error(const TransportFailure& f, const Endpoint& ep) {
  std::string code;
  switch (f.kind) {
    case TransportFailure::refused: code = "connection_refused"; break;
    case TransportFailure::timeout: code = "timeout"; break;
    case TransportFailure::unreachable: code = "connection_failed"; break;
    case TransportFailure::protocol: code = "bad_response"; break;
    case TransportFailure::too_large: code = "reply_too_large"; break;
  }
  return CliError{kExitConnection, code, fmt::format("{}: {}", ep.display, f.what)};
}

CliError reply_error(int status, std::string_view body) {
  auto v = json::parse(body, 1 << 20);
  if (v && v->is_object()) {
    const auto* err = v->as_object().if_contains("error");
    if (err && err->is_object()) {
      const auto& e = err->as_object();
      auto code = json::str_or_empty(e, "code");
      auto message = json::str_or_empty(e, "message");
      if (!code.empty()) return CliError{kExitServerError, std::string(code), std::string(message)};
    }
  }
  return CliError{kExitServerError, fmt::format("http_{}", status),
                  fmt::format("the server answered HTTP {} without a typed error", status)};
}

std::string query_escape(std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

CliResult<bj::value> Api::call(std::string_view method, std::string_view target, std::string_view body) {
  auto r = http_.request(method, target, body);
  if (!r) return tl::unexpected(transport_error(r.error(), http_.endpoint()));
  if (r->status < 200 || r->status >= 300) return tl::unexpected(reply_error(r->status, r->body));
  if (r->status == 204) return bj::value{};  // No Content (delete)
  auto v = json::parse(r->body, 16u << 20);
  if (!v)
    return cli_fail(kExitConnection, "bad_response",
                    fmt::format("{}: the reply is not JSON ({})", http_.endpoint().display, v.error().message));
  return std::move(*v);
}

namespace {
std::string new_message_id() {
  static std::mt19937_64 rng(std::random_device{}() ^
                             static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return fmt::format("cli-{:016x}", rng());
}
}  // namespace

CliResult<bj::value> Api::send_input(const WorkerRef& w, const std::string& text) {
  if (auto at = invalid_utf8_at(text))
    return cli_fail(kExitUsage, "usage",
                    fmt::format("the message is not valid UTF-8 (byte {} of {})", *at + 1, text.size()));
  bj::object body;
  body["content"] = text;
  body["client_message_id"] = new_message_id();
  return call("POST", worker_path(w) + "/input", json::serialize(body));
}

std::string worker_path(const WorkerRef& w) {
  return fmt::format("/api/runtimes/{}/workers/{}", w.runtime_id, w.worker_id);
}

CliResult<bj::value> post_approval(Api& api, const WorkerRef& w, std::string_view call_id, const ApprovalRequest& a) {
  bj::object body;
  body["decision"] = a.approve ? "approve" : "deny";
  if (!a.reason.empty()) body["reason"] = a.reason;
  if (a.remember) body["remember"] = true;
  return api.call("POST", worker_path(w) + "/approvals/" + query_escape(call_id), json::serialize(body));
}

}  // namespace yoi::cli
