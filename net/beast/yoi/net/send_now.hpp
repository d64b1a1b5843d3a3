#pragma once
// send_now: the fast path of a write on a plain TCP socket. One non-blocking
// send of what the socket takes now, with no completion handler: a write the
// socket takes whole costs no posted handler and no extra turn of the io
// loop, whose poll of the reactor is an epoll_wait system call (issue 22:
// two of them per proxied GET, one for each hop's write). The caller writes
// the rest, if any, with its async write, which also reports any error.
//
// The socket is switched to non-blocking once (Asio's async operations do
// not care; a synchronous read or write on it would then never block).

#include <cstddef>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

namespace yoi::net {

// The bytes of `bytes` the socket took: all of them, some, or none (it
// would block, or an error that the async write of the rest will meet).
template <class Socket>
std::size_t send_now(Socket& socket, boost::asio::const_buffer bytes) {
  boost::system::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  if (ec) return 0;
  const std::size_t n = socket.write_some(bytes, ec);
  return ec ? 0 : n;
}

}  // namespace yoi::net
