#include "yoi/log.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace yoi::log {
namespace {

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  int add(std::function<void(std::string_view)> fn) {
    std::lock_guard lock(mutex_);
    captures_[++next_] = std::move(fn);
    return next_;
  }
  void remove(int id) {
    std::lock_guard lock(mutex_);
    captures_.erase(id);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (captures_.empty()) return;
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    std::string_view line(buf.data(), buf.size());
    for (auto& [id, fn] : captures_) fn(line);
  }
  void flush_() override {}

 private:
  std::map<int, std::function<void(std::string_view)>> captures_;
  int next_ = 0;
};

std::shared_ptr<CaptureSink>& capture_sink() {
  static auto sink = std::make_shared<CaptureSink>();
  return sink;
}

std::once_flag g_once;

void ensure_logger() {
  std::call_once(g_once, [] {
    auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(
        "yoi", spdlog::sinks_init_list{err, capture_sink()});
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
  });
}

}  // namespace

std::optional<std::string> level_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::string_view, 6> kNames{"trace", "debug", "info", "warn", "error", "off"};
  for (auto n : kNames)
    if (lower == n) return lower;
  return std::nullopt;
}

void init(std::string_view level) {
  ensure_logger();
  auto name = level_name(level);
  spdlog::set_level(spdlog::level::from_str(name.value_or("info")));
  if (!name) spdlog::warn("unknown log level '{}' (want {}); logging at info", level, kLevelNames);
}

void fatal(std::string_view message) {
  ensure_logger();
  if (spdlog::should_log(spdlog::level::err)) {
    spdlog::error("{}", message);
    spdlog::default_logger()->flush();
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  }
}

int add_capture(std::function<void(std::string_view)> line) {
  ensure_logger();
  return capture_sink()->add(std::move(line));
}

void remove_capture(int id) { capture_sink()->remove(id); }

}  // namespace yoi::log
