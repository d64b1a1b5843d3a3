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
# YOI_LOAD / YOI_STAMP name the bench binaries (default under BUILD/bench/load).
set -euo pipefail
B=${1:-build}; K1=${2:-2000}; K2=${3:-12000}
LOAD=${YOI_LOAD:-$B/bench/load/yoi-load}
STAMP=${YOI_STAMP:-$B/bench/load/yoi-stamp-provider}
run() {
  local k=$1 d pp rp sp pport rport sport
  d=$(mktemp -d /tmp/yoi-cgws.XXXXXX)
  "$STAMP" --listen 127.0.0.1:0 > "$d/p.out" 2>&1 &
  pp=$!
  for _ in $(seq 100); do grep -qs "listening on" "$d/p.out" && break; sleep 0.1; done
  pport=$(grep -m1 "listening on" "$d/p.out" | sed -e 's|.*:||' -e 's|[^0-9].*||')
  printf '[limits]\nretention_events = 2000000\nretention_bytes = 2147483648\n[profiles.stamp]\nengine = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\nmodel = "stamp"\n' \
    "$pport" > "$d/rt.toml"
  YOI_RUNTIME_TOKEN=tok-123456789 "$B/apps/yoi-runtime/yoi-runtime" --listen 127.0.0.1:0 --runtime-id rt \
    --config "$d/rt.toml" --log-level warn > "$d/rt.out" 2> "$d/rt.err" &
  rp=$!
  for _ in $(seq 100); do grep -qs listening "$d/rt.out" && break; sleep 0.1; done
  rport=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$d/rt.out")
  echo -n "tok-123456789" > "$d/tok"
  printf '[embedded]\nenabled = false\n[[runtimes]]\nid = "rt"\nbase_url = "http://127.0.0.1:%s"\ntoken_file = "%s"\nprobe_interval_ms = 0\ntimeout_ms = 60000\n[observe]\nupstream_idle_timeout_ms = 60000\n' \
    "$rport" "$d/tok" > "$d/s.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$B/apps/yoi-server/yoi-server" --listen 127.0.0.1:0 \
    --config "$d/s.toml" --data-dir "$d/data" --no-auth --log-level warn > "$d/s.out" 2> "$d/s.err" &
  sp=$!
  for _ in $(seq 600); do grep -qs listening "$d/s.out" && break; sleep 0.1; done
  sport=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$d/s.out")
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"worker_id":"t","profile":"stamp"}' \
    "http://127.0.0.1:$sport/api/runtimes/rt/workers" > /dev/null
  "$LOAD" ws --url "ws://127.0.0.1:$sport/api/runtimes/rt/workers/t/events/ws" --subscribers 1 --count "$k" --rate 0 \
    --trigger-url "http://127.0.0.1:$rport/v1/workers/t/input" --trigger-header "Authorization: Bearer tok-123456789" \
    --name x --path yoi > "$d/load.out" 2>&1 || { cat "$d/load.out" >&2; exit 1; }
  kill -TERM $sp; wait $sp || true
  kill -TERM $rp $pp; wait $rp $pp 2>/dev/null || true
  grep -E "^(summary|totals):" "$d/cg.out" | head -1 | awk '{print $2}'
  if [ -n "${CG_KEEP:-}" ]; then mkdir -p "$CG_KEEP"; cp "$d/cg.out" "$CG_KEEP/ws.$k.out"; fi
  rm -rf "$d"
}
a=$(run "$K1"); b=$(run "$K2")
echo "Ir: $K1 events $a, $K2 events $b; per relayed event: $(( (b - a) / (K2 - K1) ))"
