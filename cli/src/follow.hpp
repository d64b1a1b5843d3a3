#pragma once
// Following one worker's event stream (attach, send --wait, chat): the
// reconnect policy of cli/README.md.
//
// - WebSocket `…/events/ws?cursor=` first. Every frame's cursor is kept; after
//   a dropped connection the follower reconnects with jittered exponential
//   backoff and resumes from the last cursor, dropping events whose seq it has
//   already delivered (at-least-once upstream → exactly-once out).
// - A `snapshot` resets the position (it follows a resync).
// - If the server has no WebSocket route (404 not_found / 405), it polls
//   `GET …/events?after=` instead, producing the same frames.
// - A refusal with a typed error other than those (401, 404 worker_not_found)
//   is fatal: next() returns it.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "api.hpp"
#include "yoi/backoff.hpp"

namespace yoi::cli {

struct Frame {
  std::string type;  // snapshot | event | diagnostic | heartbeat
  boost::json::object obj;
  std::string raw;  // the frame as one JSON line
};

// How a diagnostic that does not end the stream reads to people: what
// happened and, in words, what the CLI does about it (never the bare action
// token). nullopt: nothing to say — a `runtime_recovered` for an outage this
// client never saw reported.
class DiagnosticWords {
 public:
  std::optional<std::string> text(const Frame& diagnostic);

 private:
  bool outage_ = false;  // a runtime_unavailable was reported and not yet its recovery
};

class Follower {
 public:
  // `note` receives human notices (reconnecting, polling) for stderr.
  Follower(Api& api, WorkerRef ref, std::function<void(const std::string&)> note);
  ~Follower();

  // Opens the stream: from `cursor` when given, else from a snapshot. With
  // `from_start`, every retained event is read first (REST pages), then the
  // stream continues after them. Errors: a typed refusal (exit 1) or, for
  // the first connection only, a connection failure (exit 3).
  CliResult<void> start(std::optional<std::string> cursor, bool from_start);

  // The next frame within `wait`, or nullopt. Reconnects as needed (a
  // reconnect in progress just looks like waiting). After a fatal diagnostic
  // it has been returned, finished() is true.
  CliResult<std::optional<Frame>> next(std::chrono::milliseconds wait);

  // Gives back frames taken with next() but not handled (chat's approval
  // prompt reads while the run goes on): next() returns them first, in order.
  void requeue(std::vector<Frame> frames);
  // For an event loop that poll()s: the socket to watch (-1: none now — a
  // reconnect or a poll is due by a timer), and when next(0) next has work
  // even if nothing arrives (a reconnect, a poll, the connection's pings).
  int wait_fd() { return ws_ ? ws_->native_handle() : -1; }
  std::chrono::steady_clock::time_point due() const;

  bool finished() const { return finished_; }
  const std::optional<std::string>& cursor() const { return cursor_; }
  bool polling() const { return polling_; }

 private:
  enum class Open { ok, retry, fallback };
  CliResult<Open> open_ws();
  CliResult<void> poll_once();
  void end_if_stopped(std::size_t from);
  CliResult<void> catch_up(bool emit);
  bool accept(Frame& f);  // dedupe + track position; false: drop it
  void schedule_reconnect(std::string why);  // by value: callers pass ws_'s own reason

  Api& api_;
  WorkerRef ref_;
  std::function<void(const std::string&)> note_;
  std::unique_ptr<WsConnection> ws_;
  std::deque<Frame> pending_;
  std::optional<std::string> cursor_;
  std::optional<std::uint64_t> last_seq_;
  bool polling_ = false;
  bool finished_ = false;
  bool ever_connected_ = false;
  bool reconnecting_ = false;  // a connection was lost: the next open is a resume
  Backoff backoff_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::steady_clock::time_point next_poll_{};
};

}  // namespace yoi::cli
