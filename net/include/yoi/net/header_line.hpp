#pragma once
// One HTTP/1.1 header line, appended as "\r\n<name>: <value>". Shared by the
// server's response writer and yoi-server's client of yoi-runtime, which
// both format a head into one buffer. A name or value carrying CR or LF is
// dropped rather than allowed to split the message.

#include <string>
#include <string_view>

namespace yoi::net {

inline void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  if (name.find_first_of("\r\n") != std::string_view::npos || value.find_first_of("\r\n") != std::string_view::npos)
    return;
  out += "\r\n";
  out += name;
  out += ": ";
  out += value;
}

}  // namespace yoi::net
