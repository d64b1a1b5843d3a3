#!/usr/bin/env bash
# Instructions yoi-server spends per relayed WebSocket event (issue 22).
#
#   bench/callgrind/ws.sh [BUILD] [K1] [K2]
#
# yoi-stamp-provider, a memory-store yoi-runtime with its `stamp` profile
# (openai engine) pointed at it, yoi-server (--no-auth) under valgrind
# --tool=callgrind with the runtime as its remote, one subscriber on yoi-server's
# stream (yoi-load ws) while one run of K events streams. Twice (K1, K2
# events); prints the slope (Ir(K2) - Ir(K1)) / (K2 - K1). Under valgrind the
# relay keeps up with fewer events per burst than at full speed, so the
# per-event figure is higher than at full speed; compare builds with it.
# RATE=N paces the stream at N events/s instead (bench/run's latency
# measurement: 10,000), so that each event is a burst of its own and the
# per-read costs count in full.
# YOI_LOAD / YOI_STAMP name the bench binaries (default under BUILD/bench/load).
set -euo pipefail
B=${1:-build}; K1=${2:-2000}; K2=${3:-12000}
. "$(dirname "$0")/lib.sh"
STAMP=${YOI_STAMP:-$B/bench/load/yoi-stamp-provider}
run() {
  local k=$1 d pp pport
  d=$(mktemp -d /tmp/yoi-cgws.XXXXXX)
  "$STAMP" --listen 127.0.0.1:0 > "$d/p.out" 2>&1 &
  pp=$!
  pport=$(cg_port "$d/p.out")
  printf '[limits]\nretention_events = 2000000\nretention_bytes = 2147483648\n[profiles.stamp]\nengine = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\nmodel = "stamp"\n' \
    "$pport" > "$d/rt.toml"
  cg_start "$d" $'timeout_ms = 60000\n[observe]\nupstream_idle_timeout_ms = 60000\n'
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"worker_id":"t","profile":"stamp"}' \
    "http://127.0.0.1:$SPORT/api/runtimes/rt/workers" > /dev/null
  "$LOAD" ws --url "ws://127.0.0.1:$SPORT/api/runtimes/rt/workers/t/events/ws" --subscribers 1 --count "$k" --rate "${RATE:-0}" \
    --trigger-url "http://127.0.0.1:$RPORT/v1/workers/t/input" --trigger-header "Authorization: Bearer $CG_TOKEN" \
    --name x --path yoi > "$d/load.out" 2>&1 || { cat "$d/load.out" >&2; exit 1; }
  kill -TERM $pp; wait $pp 2>/dev/null || true
  cg_total "$d" "ws.$k"
}
a=$(run "$K1"); b=$(run "$K2")
echo "Ir: $K1 events $a, $K2 events $b; per relayed event: $(( (b - a) / (K2 - K1) ))"
