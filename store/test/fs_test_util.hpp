#pragma once
// Helpers for the fs store tests: temporary directories and synchronous
// wrappers around the callback API, each with a deadline.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "yoi/store/fs_store.hpp"
#include "yoi/testing/run_until.hpp"

namespace yoi::store::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "yoi-fs-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the io_context until `done` holds a value or the deadline passes.
template <class T>
bool run_until(boost::asio::io_context& io, const std::optional<T>& done,
               std::chrono::seconds deadline = std::chrono::seconds(20)) {
  return yoi::testing::run_until(io, [&] { return done.has_value(); }, deadline);
}

inline Result<void> commit_sync(boost::asio::io_context& io, Store& s, Commit c) {
  std::optional<Result<void>> r;
  s.commit(std::move(c), [&](Result<void> x) { r = std::move(x); });
  if (!run_until(io, r)) {
    ADD_FAILURE() << "commit did not complete within the deadline";
    return fail(Code::internal, "timeout");
  }
  return *r;
}

inline Result<void> remove_sync(boost::asio::io_context& io, Store& s, std::string_view id) {
  std::optional<Result<void>> r;
  s.remove(id, [&](Result<void> x) { r = std::move(x); });
  if (!run_until(io, r)) {
    ADD_FAILURE() << "remove did not complete within the deadline";
    return fail(Code::internal, "timeout");
  }
  return *r;
}

inline Result<void> flush_sync(boost::asio::io_context& io, Store& s) {
  std::optional<Result<void>> r;
  s.flush([&](Result<void> x) { r = std::move(x); });
  if (!run_until(io, r)) {
    ADD_FAILURE() << "flush did not complete within the deadline";
    return fail(Code::internal, "timeout");
  }
  return *r;
}

inline std::string event_json(std::uint64_t seq, std::string_view text = "hello") {
  return fmt::format(R"({{"seq":{},"type":"text_delta","text":"{}"}})", seq, text);
}

inline std::string item_json(std::uint64_t index, std::uint64_t seq, std::string_view text = "hi") {
  return fmt::format(R"({{"index":{},"seq":{},"role":"user","content":"{}"}})", index, seq, text);
}

// A commit of `n` events after `last` for `worker`, optionally with state.
inline Commit make_commit(const std::string& worker, std::uint64_t last, std::size_t n,
                          std::optional<std::string> state = std::nullopt) {
  Commit c;
  c.worker_id = worker;
  c.state = std::move(state);
  for (std::size_t i = 1; i <= n; ++i) c.events.push_back(EventRecord{last + i, event_json(last + i)});
  return c;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline void append_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << content;
}

}  // namespace yoi::store::test
