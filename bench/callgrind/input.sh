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
LOAD=${YOI_LOAD:-$B/bench/load/yoi-load}
run() {
  local n=$1 d rp sp rport sport
  d=$(mktemp -d /tmp/yoi-cg.XXXXXX)
  echo -n "tok-123456789" > "$d/tok"
  printf '[runtime]\nid = "rt"\n' > "$d/rt.toml"
  YOI_RUNTIME_TOKEN=tok-123456789 "$B/apps/yoi-runtime/yoi-runtime" --listen 127.0.0.1:0 --config "$d/rt.toml" \
    --log-level warn > "$d/rt.out" 2> "$d/rt.err" &
  rp=$!
  for _ in $(seq 100); do grep -qs listening "$d/rt.out" && break; sleep 0.1; done
  rport=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$d/rt.out")
  "$LOAD" http --method POST --url "http://127.0.0.1:$rport/v1/workers" --header "Authorization: Bearer tok-123456789" \
    --body '{"worker_id":"p{n}"}' --count "$n" > /dev/null
  printf '[embedded]\nenabled = false\n[[runtimes]]\nid = "rt"\nbase_url = "http://127.0.0.1:%s"\ntoken_file = "%s"\nprobe_interval_ms = 0\n' \
    "$rport" "$d/tok" > "$d/s.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$B/apps/yoi-server/yoi-server" --listen 127.0.0.1:0 \
    --config "$d/s.toml" --data-dir "$d/data" --no-auth --log-level warn > "$d/s.out" 2> "$d/s.err" &
  sp=$!
  for _ in $(seq 600); do grep -qs listening "$d/s.out" && break; sleep 0.1; done
  sport=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$d/s.out")
  local api=http://127.0.0.1:$sport/api/runtimes/rt/workers
  # Warm up: the summary (capabilities, limits) and a pooled connection.
  curl -sf "$api/p0" > /dev/null
  "$LOAD" http --method POST --url "$api/p{n}/input" --body '{"content":"hi"}' --count "$n" > /dev/null
  kill -TERM $sp; wait $sp || true
  kill -TERM $rp; wait $rp || true
  grep -E "^(summary|totals):" "$d/cg.out" | head -1 | awk '{print $2}'
  if [ -n "${CG_KEEP:-}" ]; then mkdir -p "$CG_KEEP"; cp "$d/cg.out" "$CG_KEEP/cg.$n.out"; fi
  rm -rf "$d"
}
a=$(run "$N1"); b=$(run "$N2")
echo "Ir: $N1 inputs $a, $N2 inputs $b; per proxied POST input: $(( (b - a) / (N2 - N1) ))"
