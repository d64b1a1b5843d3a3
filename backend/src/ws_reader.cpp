#include "ws_reader.hpp"

namespace yoi::backend::detail {

WsReader::Item WsReader::next(std::string_view in) {
  Item it;
  auto fail = [&it] {
    it.kind = Kind::error;
    return it;
  };
  auto more = [&it](std::size_t need) {
    it.need = need;
    return it;
  };
  if (in.size() < 2) return more(2);
  const auto b0 = static_cast<unsigned char>(in[0]);
  const auto b1 = static_cast<unsigned char>(in[1]);
  const bool fin = b0 & 0x80;
  const unsigned op = b0 & 0x0f;
  if ((b0 & 0x70) != 0 || (b1 & 0x80) != 0) return fail();  // RSV bits; a masked frame from a server
  std::size_t head = 2;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    head = 4;
    if (in.size() < head) return more(head);
    len = (std::uint64_t{static_cast<unsigned char>(in[2])} << 8) | static_cast<unsigned char>(in[3]);
    if (len < 126) return fail();  // not the shortest form
  } else if (len == 127) {
    head = 10;
    if (in.size() < head) return more(head);
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(in[i]);
    if (len <= 0xffff || (len >> 63) != 0) return fail();
  }
  const bool control = op >= 8;
  if (control) {
    if (op > 10 || !fin || len > 125) return fail();
  } else {
    if (op > 2) return fail();
    if ((op == 0) != in_message_) return fail();  // a stray continuation; a message inside a message
    const std::uint64_t so_far = op == 0 ? assembled_.size() : 0;
    if (len > max_ || so_far + len > max_) return fail();
  }
  // len <= max_ (or 125) here, so head + len does not overflow.
  const std::size_t total = head + static_cast<std::size_t>(len);
  if (in.size() < total) return more(total);
  it.used = total;
  const auto payload = in.substr(head, static_cast<std::size_t>(len));
  switch (op) {
    case 8: it.kind = Kind::close; it.payload = payload; return it;
    case 9: it.kind = Kind::ping; it.payload = payload; return it;
    case 10: it.kind = Kind::pong; it.payload = payload; return it;
    default: break;
  }
  if (fin && op != 0) {  // the common case: a whole message in one frame, handed out in place
    it.kind = Kind::message;
    it.payload = payload;
    return it;
  }
  if (op != 0) assembled_.clear();
  assembled_.append(payload);
  in_message_ = !fin;
  if (!fin) {
    it.kind = Kind::fragment;
    return it;
  }
  it.kind = Kind::message;
  it.payload = assembled_;
  return it;
}

}  // namespace yoi::backend::detail
