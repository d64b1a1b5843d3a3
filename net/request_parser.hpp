#pragma once
// RequestParser: Beast's HTTP/1.1 grammar (basic_parser: the request line,
// fields, Content-Length and chunked framing, keep-alive, the header and
// body limits) writing straight into a yoi::net::Request, one per request.
//
// Why not http::request_parser<string_body>: that keeps a basic_fields (one
// allocation per field, case-insensitive sorted inserts) which HttpConn then
// copied into Request::headers again. Here each field is written once, into
// the Request's own vector, reusing the strings a previous request on the
// connection left there, so a keep-alive client with the same headers
// allocates nothing per request.
//
// Fed with put() from the connection's own buffer (eager: header and body in
// one call when both are there). io thread only. Private to net/.

#include <cstdint>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>

#include "yoi/net/http_server.hpp"

namespace yoi::net::detail {

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // `req`'s method, target, headers and body are overwritten; its other
  // fields are the caller's. `req` outlives the parser.
  RequestParser(Request& req, std::uint32_t header_limit, std::uint64_t body_limit) : req_(req) {
    this->header_limit(header_limit);
    this->body_limit(body_limit);
    eager(true);
    req_.body.clear();
  }

  // 10 or 11; valid once the request line is parsed.
  unsigned version() const { return version_; }
  // The first Expect field is "100-continue" (case-insensitive).
  bool expects_continue() const { return continue_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target,
                       int version, error_code&) override {
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}  // a request parser

  void on_field_impl(boost::beast::http::field f, string_view name, string_view value,
                     error_code&) override {
    if (f == boost::beast::http::field::expect && !expect_seen_) {
      expect_seen_ = true;
      continue_ = boost::beast::iequals(value, "100-continue");
    }
    auto& h = req_.headers;
    if (fields_ < h.size()) {
      h[fields_].first.assign(name.data(), name.size());
      h[fields_].second.assign(value.data(), value.size());
    } else {
      h.emplace_back(std::string(name), std::string(value));
    }
    ++fields_;
  }
  void on_header_impl(error_code&) override { req_.headers.resize(fields_); }

  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) req_.body.reserve(static_cast<std::size_t>(*length));  // within body_limit already
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request& req_;
  std::size_t fields_ = 0;
  unsigned version_ = 11;
  bool expect_seen_ = false;
  bool continue_ = false;
};

}  // namespace yoi::net::detail
