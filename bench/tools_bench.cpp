// grep over a generated source tree of at least 100 MB (issue 20), against
// ripgrep (`rg`, Debian) on the same tree in the same run. The tree is made
// once under $TMPDIR (kept for reruns: yoi-tools-bench-tree-v1) and read
// once before timing, so both measure the page cache, not the disk. yoi's
// grep is single-threaded (it runs on one pool thread); rg is shown with its
// default threads and with -j1.

#include <benchmark/benchmark.h>

#include <stdio.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <boost/json/object.hpp>
#include <fmt/format.h>

#include "yoi/tools/tools.hpp"

namespace {

namespace fs = std::filesystem;

constexpr int kDirs = 40, kFilesPerDir = 50, kFileBytes = 56 * 1024;  // 2,000 files, ~112 MB
const char* kRare = "needle_[a-z]+_\\d+";                             // ~1 match per 50 files
const char* kCommon = "return [a-z]+_\\d+\\(";                       // bounded at 500 matches

fs::path tree() {
  static fs::path root = [] {
    fs::path r = fs::temp_directory_path() / "yoi-tools-bench-tree-v1";
    if (fs::exists(r / "done")) return r;
    fs::remove_all(r);
    std::mt19937 rng(42);
    const char* words[] = {"value", "count", "index", "buffer", "result", "offset", "length", "status"};
    for (int d = 0; d < kDirs; ++d) {
      for (int f = 0; f < kFilesPerDir; ++f) {
        fs::path p = r / fmt::format("mod{:02}/sub{}/file{:03}.cpp", d, f % 5, f);
        fs::create_directories(p.parent_path());
        std::string text;
        while (text.size() < static_cast<std::size_t>(kFileBytes)) {
          const char* w = words[rng() % 8];
          unsigned n = rng() % 10000;
          switch (rng() % 4) {
            case 0: text += fmt::format("  int {}_{} = compute_{}({}, {});\n", w, n, w, n % 97, n % 13); break;
            case 1: text += fmt::format("  if ({}_{} > limit) return {}_{}(x);\n", w, n, w, n); break;
            case 2: text += fmt::format("  // {} the {} of {} before {}\n", w, words[n % 8], words[(n / 8) % 8], n); break;
            default: text += fmt::format("  {}_{}.push_back(std::move(item_{}));\n", w, n, n % 31); break;
          }
          if (rng() % 200000 == 0) text += fmt::format("  auto needle_{}_{} = 1;\n", w, n);
        }
        std::ofstream(p, std::ios::binary) << text;
      }
    }
    std::ofstream(r / "done") << "ok";
    return r;
  }();
  return root;
}

std::size_t tree_bytes() {
  std::size_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(tree()))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// Output lines of a command (stdout to a pipe, read to the end).
std::size_t run_lines(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return 0;
  std::size_t lines = 0;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    for (std::size_t i = 0; i < n; ++i) lines += buf[i] == '\n';
  ::pclose(p);
  return lines;
}

void warm() {
  static bool done = [] {
    run_lines(fmt::format("cat $(find '{}' -type f) > /dev/null", tree().string()));
    return true;
  }();
  (void)done;
}

void BM_GrepYoi(benchmark::State& state, const char* pattern) {
  warm();
  auto scope = yoi::tools::Scope::open({tree().string(), {}});
  if (!scope) return state.SkipWithError("scope");
  boost::json::object args;
  args["pattern"] = pattern;
  std::size_t lines = 0;
  for (auto _ : state) {
    auto r = yoi::tools::grep(*scope, args);
    if (!r.ok) return state.SkipWithError(r.error->message.c_str());
    lines = static_cast<std::size_t>(std::count(r.output.begin(), r.output.end(), '\n'));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * tree_bytes()));
  state.counters["lines"] = static_cast<double>(lines);
}

void BM_GrepRipgrep(benchmark::State& state, const char* pattern, const char* flags) {
  warm();
  // rg's own bound for the common pattern: `head` ends it like the 500 cap.
  std::string cmd = fmt::format("rg -n --no-heading {} '{}' '{}' | head -n 500", flags, pattern, tree().string());
  std::size_t lines = 0;
  for (auto _ : state) lines = run_lines(cmd);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * tree_bytes()));
  state.counters["lines"] = static_cast<double>(lines);
}

BENCHMARK_CAPTURE(BM_GrepYoi, rare, kRare)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GrepRipgrep, rare, kRare, "")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GrepRipgrep, rare_j1, kRare, "-j1")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GrepYoi, common, kCommon)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GrepRipgrep, common, kCommon, "")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
