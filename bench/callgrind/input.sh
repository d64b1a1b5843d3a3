#!/usr/bin/env bash
# Instructions yoi-server spends per proxied POST input (docs/BENCHMARKS.md, issue 22).
#
#   bench/callgrind/input.sh [BUILD] [N1] [N2]
#
# hop.sh's method for `POST /api/runtimes/rt/workers/p{n}/input`: a
# memory-store yoi-runtime with N idle workers p0..p{N-1} (created directly on
# the runtime), yoi-server under valgrind --tool=callgrind with it as its one
# remote runtime, and N inputs `{"content":"hi"}` through yoi-server, one per
# worker (yoi-load http, one keep-alive connection, sequential). Done twice,
# with N1 and N2 inputs; the figure is the slope (Ir(N2) - Ir(N1)) / (N2 - N1),
# so start-up and shutdown cancel out.
# YOI_LOAD picks the yoi-load binary (default BUILD/bench/load/yoi-load).
# CG_KEEP=DIR keeps the two profiles there (callgrind_annotate them).
set -euo pipefail
B=${1:-build}; N1=${2:-1000}; N2=${3:-3000}
. "$(dirname "$0")/lib.sh"
run() {
  local n=$1
  cg_start_plain
  local d=$CG_DIR
  "$LOAD" http --method POST --url "http://127.0.0.1:$RPORT/v1/workers" --header "Authorization: Bearer $CG_TOKEN" \
    --body '{"worker_id":"p{n}"}' --count "$n" > /dev/null
  local api=http://127.0.0.1:$SPORT/api/runtimes/rt/workers
  # Warm up: the summary (capabilities, limits) and a pooled connection.
  curl -sf "$api/p0" > /dev/null
  "$LOAD" http --method POST --url "$api/p{n}/input" --body '{"content":"hi"}' --count "$n" > /dev/null
  cg_total "$d" "cg.$n"
}
a=$(run "$N1"); b=$(run "$N2")
echo "Ir: $N1 inputs $a, $N2 inputs $b; per proxied POST input: $(( (b - a) / (N2 - N1) ))"
