// The work per relayed event that yoi-server's design requires and a byte
// relay (nginx) does not do (issue 22), one part at a time, on an event like
// those of bench/run's latency measurement (a text_delta of the stamp
// provider). No processes, no sockets: each figure is the user-space time
// that part adds to an event's way through the proxy.
//
//   BM_ByteRelay       what a byte relay does with the frame: copy it into
//                      its write buffer
//   BM_CheckEvent      the runtime's event frame read without a DOM, the
//                      event's JSON grammar checked (rt::wire::scan_event_frame:
//                      a runtime is untrusted input) and its cursor's epoch
//                      taken (rt::parse_cursor: a new history resyncs clients)
//   BM_MintCursor      the backend cursor, HMAC-SHA256 (CursorCodec::Minter)
//   BM_WriteFrame      the client's frame with that cursor (rt::wire::event_frame)
//   BM_RequiredWork    the three together
//
//   build/backend/backend_relay_work_bench [--benchmark_min_time=0.5]

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "yoi/backend/cursor.hpp"
#include "yoi/runtime/cursor.hpp"
#include "yoi/runtime/types.hpp"
#include "yoi/runtime/wire.hpp"
#include "yoi/secret.hpp"

namespace {

namespace wire = yoi::rt::wire;

constexpr std::uint64_t kSeq = 123456;
const std::string kEpoch = "9f3c2a7b1d4e6f80";
const std::string kWorker = "tl-yoi";

// The runtime's frame for one stamp delta, as yoi-server reads it.
std::string runtime_frame() {
  std::string event;
  wire::append_text_delta(event, kSeq, 1'765'000'000'000, "run-0123456789ab", "5123456789012 ");
  const auto cursor = yoi::rt::encode_cursor(kEpoch, yoi::rt::worker_tag(kWorker), kSeq);
  return wire::event_frame("rt", kWorker, yoi::rt::Event{kSeq, event, cursor});
}

yoi::backend::CursorCodec::Minter minter() {
  static const yoi::backend::CursorCodec codec(yoi::Secret(std::string(32, 'k')));
  return codec.minter("rt", kWorker, kEpoch);
}

void BM_ByteRelay(benchmark::State& state) {
  const auto frame = runtime_frame();
  std::string out;
  out.reserve(64 * 1024);
  for (auto _ : state) {
    out.clear();
    out.append(frame);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ByteRelay);

// What remote_upstream.cpp's fast_event does with a frame.
std::optional<wire::EventFrameView> check(std::string_view frame) {
  auto v = wire::scan_event_frame(frame);
  if (!v || !yoi::rt::parse_cursor(v->cursor)) return std::nullopt;
  return v;
}

void BM_CheckEvent(benchmark::State& state) {
  const auto frame = runtime_frame();
  for (auto _ : state) {
    auto v = check(frame);
    if (!v) state.SkipWithError("the frame did not check");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_CheckEvent);

void BM_MintCursor(benchmark::State& state) {
  const auto mint = minter();
  std::string cursor;
  std::uint64_t seq = kSeq;
  for (auto _ : state) {
    cursor.clear();
    mint.append_to(cursor, ++seq);
    benchmark::DoNotOptimize(cursor.data());
  }
}
BENCHMARK(BM_MintCursor);

void BM_WriteFrame(benchmark::State& state) {
  const auto v = wire::scan_event_frame(runtime_frame());
  const std::string event(v->event);
  std::string cursor;
  minter().append_to(cursor, kSeq);
  for (auto _ : state) {
    auto frame = wire::event_frame("rt", kWorker, kSeq, event, cursor);
    benchmark::DoNotOptimize(frame.data());
  }
}
BENCHMARK(BM_WriteFrame);

void BM_RequiredWork(benchmark::State& state) {
  const auto in = runtime_frame();
  const auto mint = minter();
  std::string cursor;
  for (auto _ : state) {
    auto v = check(in);
    if (!v) state.SkipWithError("the frame did not check");
    cursor.clear();
    mint.append_to(cursor, v->seq);
    auto frame = wire::event_frame("rt", kWorker, v->seq, v->event, cursor);
    benchmark::DoNotOptimize(frame.data());
  }
}
BENCHMARK(BM_RequiredWork);

}  // namespace

BENCHMARK_MAIN();
