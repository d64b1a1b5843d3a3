// Compiles Boost.Asio and Boost.Beast once for the whole tree (see the
// *_SEPARATE_COMPILATION definitions in the top-level CMakeLists).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
