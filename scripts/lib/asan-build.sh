# Sourced by scripts/test-sanitize and scripts/fuzz: configures and builds
# the one clang-14 + ASan + UBSan tree they share (build-asan;
# YOI_ASAN_BUILD_DIR overrides), with libFuzzer coverage on every library
# (YOI_FUZZ) so the fuzz targets link from the same objects the sanitized
# test suite runs. ccache is used when present.
#
#   asan_build <root> [cmake --build args...]    sets $build
asan_build() {
  local root="$1"; shift
  build="${YOI_ASAN_BUILD_DIR:-$root/build-asan}"
  # Configuring again is cheap and keeps an older tree's options in line.
  CC="${CC:-clang-14}" CXX="${CXX:-clang++-14}" cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOI_SANITIZE=ON -DYOI_FUZZ=ON -DYOI_BENCH=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" "$@"
}
