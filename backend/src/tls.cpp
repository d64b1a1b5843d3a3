#include "tls.hpp"

namespace yoi::backend::tls {

namespace ssl = boost::asio::ssl;

bool configure_client(ssl::context& ctx, const std::string& ca_file) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx.set_default_verify_paths(ec);
  if (!ec && !ca_file.empty()) ctx.load_verify_file(ca_file, ec);
  ctx.set_verify_mode(ssl::verify_peer);
  return !ec;
}

}  // namespace yoi::backend::tls
