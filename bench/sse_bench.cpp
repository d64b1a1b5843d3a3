// SSE parsing throughput on a typical chat-completions stream (one small
// JSON chunk per event), fed in network-sized slices: the per-byte cost the
// openai engine pays before JSON decoding.

#include <benchmark/benchmark.h>

#include <string>

#include "yoi/engines/sse.hpp"

namespace {

std::string make_stream(int events) {
  std::string s;
  for (int i = 0; i < events; ++i)
    s += "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},\"finish_reason\":null}]}\n\n";
  s += "data: [DONE]\n\n";
  return s;
}

void BM_SseParse(benchmark::State& state) {
  const std::string stream = make_stream(1000);
  const std::size_t slice = static_cast<std::size_t>(state.range(0));
  std::size_t events = 0;
  for (auto _ : state) {
    yoi::engines::SseParser p;
    auto sink = [&](const yoi::engines::SseEvent& e) {
      benchmark::DoNotOptimize(e.data.data());
      ++events;
      return true;
    };
    for (std::size_t i = 0; i < stream.size(); i += slice)
      if (!p.feed(std::string_view(stream).substr(i, slice), sink)) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SseParse)->Arg(1)->Arg(64)->Arg(4096)->Arg(16384);

}  // namespace

BENCHMARK_MAIN();
