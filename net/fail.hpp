#pragma once
// The one sink for the I/O errors of net/'s coroutines (connections,
// WebSocket sessions). Private to net/.

#include <exception>
#include <functional>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace yoi::net::detail {

// True for the errors that end a connection or a session in the ordinary
// course of things (fail.cpp says why, one by one).
bool benign(const boost::system::error_code& ec);

// Every failed operation ends here: a benign error is dropped; any other is
// logged (spdlog debug) with `what` was being done. The caller then ends the
// connection or session; nothing is answered.
void fail(const boost::system::error_code& ec, std::string_view what);

// The completion handler for co_spawn: an exception is logged (error), never
// swallowed as `detached` would.
std::function<void(std::exception_ptr)> log_exceptions(const char* what);

}  // namespace yoi::net::detail
