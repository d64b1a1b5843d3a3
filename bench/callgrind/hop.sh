#!/usr/bin/env bash
# Instructions yoi-server spends per proxied GET (docs/BENCHMARKS.md, issue 22).
#
#   bench/callgrind/hop.sh [BUILD] [N1] [N2]
#
# Starts a memory-store yoi-runtime, yoi-server under valgrind --tool=callgrind
# with it as its one remote runtime, and serves N GETs of one worker through
# yoi-server (yoi-load http, one keep-alive connection, sequential). It does
# that twice, with N1 and N2 requests, and prints the slope
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up and shutdown cancel out, so the
# figure is repeatable whatever else the machine is doing.
# YOI_LOAD picks the yoi-load binary (default BUILD/bench/load/yoi-load).
# CG_KEEP=DIR keeps the two profiles there (callgrind_annotate them).
set -euo pipefail
B=${1:-build}; N1=${2:-1000}; N2=${3:-3000}
. "$(dirname "$0")/lib.sh"
run() {
  local n=$1
  cg_start_plain
  local d=$CG_DIR
  local api=http://127.0.0.1:$SPORT/api/runtimes/rt/workers
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"worker_id":"w"}' "$api" > /dev/null
  curl -sf "$api/w" > /dev/null
  "$LOAD" http --url "$api/w" --count "$n" > /dev/null
  cg_total "$d" "cg.$n"
}
a=$(run "$N1"); b=$(run "$N2")
echo "Ir: $N1 GETs $a, $N2 GETs $b; per proxied GET: $(( (b - a) / (N2 - N1) ))"
