#pragma once
// TLS to remote runtimes (private to backend/src): the one definition of how
// yoi-server trusts and names an https runtime, shared by the REST client and
// the event-stream upstream. Asio/OpenSSL stay out of public headers.

#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream_base.hpp>

namespace yoi::backend::tls {

// TLS 1.2+, the system's trust anchors plus `ca_file` (private CAs, tests),
// peer verification on. Returns false when the anchors could not be loaded
// (the context is still usable; every handshake will then fail verification).
bool configure_client(boost::asio::ssl::context& ctx, const std::string& ca_file);

// SNI and host-name verification for one connection, before its handshake.
// false: OpenSSL refused the server name.
template <class SslStream>
bool name_peer(SslStream& stream, const std::string& host) {
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) return false;
  stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
  return true;
}

}  // namespace yoi::backend::tls
