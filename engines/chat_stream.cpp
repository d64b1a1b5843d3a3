#include "yoi/engines/chat_stream.hpp"

#include <cstdint>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "yoi/json.hpp"
#include "yoi/utf8.hpp"

namespace yoi::engines {
namespace {

namespace bj = boost::json;

constexpr std::size_t kMaxIdOrNameBytes = 1024;

// Reads a non-negative integer field of a usage object; 0 when absent.
std::uint64_t token_count(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (auto p = it->value().if_int64()) return *p > 0 ? static_cast<std::uint64_t>(*p) : 0;
  if (auto p = it->value().if_uint64()) return *p;
  return 0;
}

// nullptr when absent or null.
const bj::value* field(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

}  // namespace

ChatStreamDecoder::ChatStreamDecoder(std::string where, ToolCallLimits limits)
    : where_(std::move(where)), limits_(limits) {}

Error ChatStreamDecoder::bad(std::string_view what) const {
  return Error{Code::provider_bad_response, fmt::format("{}: {}", where_, what)};
}

Result<void> ChatStreamDecoder::chunk(std::string_view json_text, bool whole, const TextSink& on_text) {
  // Strings are decoded as bytes: a provider that streams raw token bytes may
  // cut a UTF-8 sequence between two chunks, so UTF-8 is checked on the
  // assembled text (text(), finish()), not per chunk.
  bj::parse_options opts;
  opts.max_depth = 32;
  opts.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  bj::value v = bj::parse(json_text, ec, {}, opts);
  if (ec || !v.is_object()) return fail(bad(whole ? "malformed JSON response" : "malformed JSON in the event stream"));
  const bj::object& o = v.as_object();

  if (field(o, "error"))
    // The provider's own message may quote the request; it is not echoed.
    return fail(Code::provider_error, where_ + ": provider reported an error in the response");
  if (auto* u = field(o, "usage")) {
    if (!u->is_object()) return fail(bad("'usage' is not an object"));
    usage_ = Usage{token_count(u->as_object(), "prompt_tokens"), token_count(u->as_object(), "completion_tokens")};
  }
  auto* cs = field(o, "choices");
  if (!cs) return {};
  auto* choices = cs->if_array();
  if (!choices) return fail(bad("'choices' is not an array"));
  if (choices->empty()) return {};
  auto* choice = (*choices)[0].if_object();
  if (!choice) return fail(bad("a choice is not an object"));
  if (auto* fr = field(*choice, "finish_reason"); fr && fr->is_string()) finished_ = true;
  auto* d = field(*choice, whole ? "message" : "delta");
  if (!d) return {};
  auto* delta = d->if_object();
  if (!delta) return fail(bad("a choice's delta is not an object"));
  if (auto* c = field(*delta, "content")) {
    auto* s = c->if_string();
    if (!s) return fail(bad("delta content is not a string"));
    if (auto r = text(std::string_view(*s), on_text); !r) return r;
  }
  if (auto* tc = field(*delta, "tool_calls")) {
    auto* frags = tc->if_array();
    if (!frags) return fail(bad("'tool_calls' is not an array"));
    for (const auto& f : *frags)
      if (auto r = tool_fragment(f); !r) return r;
  }
  return {};
}

Result<void> ChatStreamDecoder::text(std::string_view piece, const TextSink& on_text) {
  if (piece.empty()) return {};
  std::string joined;
  if (!text_carry_.empty()) {
    joined = text_carry_ + std::string(piece);
    text_carry_.clear();
    piece = joined;
  }
  const std::size_t tail = utf8_incomplete_tail(piece);
  std::string_view ready = piece.substr(0, piece.size() - tail);
  if (!valid_utf8(ready)) return fail(bad("reply text is not UTF-8"));
  text_carry_.assign(piece.substr(ready.size()));
  if (!ready.empty() && on_text) on_text(ready);
  return {};
}

Result<void> ChatStreamDecoder::tool_fragment(const bj::value& fragment) {
  auto* f = fragment.if_object();
  if (!f) return fail(bad("a tool call fragment is not an object"));

  auto* id_v = field(*f, "id");
  if (id_v && !id_v->is_string()) return fail(bad("a tool call id is not a string"));
  const std::string_view id = id_v ? std::string_view(id_v->as_string()) : std::string_view();

  std::int64_t index = 0;
  if (auto* ix = field(*f, "index")) {
    if (auto p = ix->if_int64()) index = *p;
    else if (auto q = ix->if_uint64(); q && *q <= static_cast<std::uint64_t>(INT64_MAX)) index = static_cast<std::int64_t>(*q);
    else return fail(bad("a tool call index is not an integer"));
    if (index < 0) return fail(bad("a tool call index is negative"));
  } else if (!last_index_) {
    index = 0;
  } else if (!id.empty() && id != calls_[*last_index_].id) {
    // No index (some servers send each call whole): a new id is a new call.
    if (calls_.rbegin()->first == INT64_MAX) return fail(bad("a tool call index is out of range"));
    index = calls_.rbegin()->first + 1;
  } else {
    index = *last_index_;
  }

  auto it = calls_.find(index);
  if (it == calls_.end()) {
    if (calls_.size() >= limits_.max_calls)
      return fail(bad(fmt::format("more than {} tool calls in one turn", limits_.max_calls)));
    it = calls_.emplace(index, Partial{}).first;
  }
  last_index_ = index;
  Partial& call = it->second;
  if (!id.empty() && call.id.empty()) {
    if (id.size() > kMaxIdOrNameBytes) return fail(bad("a tool call id is too long"));
    call.id.assign(id);
  }

  auto* fn_v = field(*f, "function");
  if (!fn_v) return {};
  auto* fn = fn_v->if_object();
  if (!fn) return fail(bad("a tool call's function is not an object"));
  if (auto* n = field(*fn, "name")) {
    auto* name = n->if_string();
    if (!name) return fail(bad("a tool call name is not a string"));
    // Sent once, in the first fragment; a server that repeats it in every
    // fragment repeats the same name.
    if (std::string_view(*name) != call.name) call.name.append(name->data(), name->size());
    if (call.name.size() > kMaxIdOrNameBytes) return fail(bad("a tool call name is too long"));
  }
  if (auto* a = field(*fn, "arguments")) {
    std::string piece;
    if (auto* s = a->if_string())
      piece.assign(s->data(), s->size());
    else if (a->is_object())  // a server that sends the arguments as an object
      piece = json::serialize(*a);
    else
      return fail(bad("tool call arguments are not a string"));
    if (call.arguments.size() + piece.size() > limits_.max_argument_bytes)
      return fail(bad(fmt::format("tool call arguments exceed {} bytes", limits_.max_argument_bytes)));
    call.arguments += piece;
  }
  return {};
}

Result<TurnEnd> ChatStreamDecoder::finish() const {
  if (!text_carry_.empty()) return fail(bad("reply text ends inside a UTF-8 sequence"));
  TurnEnd end;
  for (const auto& [index, c] : calls_) {
    if (c.name.empty()) return fail(bad(fmt::format("tool call {} has no function name", index)));
    if (!valid_utf8(c.id) || !valid_utf8(c.name)) return fail(bad(fmt::format("tool call {} is not UTF-8", index)));
    if (!valid_utf8(c.arguments)) return fail(bad(fmt::format("tool call {} arguments are not UTF-8", index)));
    end.tool_calls.push_back(ToolCall{c.id.empty() ? fmt::format("call_{}", index) : c.id, c.name, c.arguments});
  }
  return end;
}

}  // namespace yoi::engines
