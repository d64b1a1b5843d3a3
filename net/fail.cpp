#include "fail.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>
#include <spdlog/spdlog.h>

namespace yoi::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

bool benign(const boost::system::error_code& ec) {
  // The peer closed its side between requests: how keep-alive connections
  // end (a plain read sees eof, Beast's parser end_of_stream).
  if (ec == asio::error::eof || ec == beast::http::error::end_of_stream) return true;
  // One of our own deadlines (keep_alive_timeout while idle, header_timeout
  // for a dribbled header, read_timeout, the linger after a 413): the limit
  // is the policy working, not a fault.
  if (ec == beast::error::timeout) return true;
  // We cancelled the operation: force_close, shutdown, abandon_close.
  if (ec == asio::error::operation_aborted) return true;
  // force_close (shutdown's deadline, the server's destructor) closed the
  // socket before this operation started.
  if (ec == asio::error::bad_descriptor) return true;
  // The peer vanished mid-exchange (a tab closed, a client gave up or was
  // killed, our own force-close during shutdown reset it): nobody is left to
  // answer, and nothing on our side went wrong.
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return true;
  // A WebSocket close handshake completed: the normal end of a session.
  if (ec == beast::websocket::error::closed) return true;
  return false;
}

void fail(const boost::system::error_code& ec, std::string_view what) {
  if (!ec || benign(ec)) return;
  spdlog::debug("net: {}: {}", what, ec.message());
}

std::function<void(std::exception_ptr)> log_exceptions(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("net: {} ended with an exception: {}", what, x.what());
    }
  };
}

}  // namespace yoi::net::detail
