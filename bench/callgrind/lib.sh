# The driver the callgrind scripts share (hop.sh, input.sh, ws.sh): a
# memory-store yoi-runtime, yoi-server under valgrind --tool=callgrind with it
# as its one remote runtime, and the profile's total instruction count. Each
# script runs its workload twice (N1 and N2 operations) and prints the slope,
# so start-up and shutdown cancel out.
# Sourced; expects B (the build dir). YOI_LOAD picks the yoi-load binary
# (default B/bench/load/yoi-load); CG_KEEP=DIR keeps the profiles.
set -euo pipefail
LOAD=${YOI_LOAD:-$B/bench/load/yoi-load}
CG_TOKEN=tok-123456789

# cg_port FILE: the port FILE's "listening" line names, once it appears.
cg_port() {
  for _ in $(seq 600); do grep -qs listening "$1" && break; sleep 0.1; done
  grep -m1 listening "$1" | sed -e 's|.*127.0.0.1:||' -e 's|[^0-9].*||'
}

# cg_start DIR [SERVER_TOML_EXTRA]: the runtime on DIR/rt.toml (written by the
# caller), then yoi-server under callgrind. Sets RP, RPORT, SP, SPORT.
cg_start() {
  local d=$1 extra=${2:-}
  YOI_RUNTIME_TOKEN=$CG_TOKEN "$B/apps/yoi-runtime/yoi-runtime" --listen 127.0.0.1:0 --runtime-id rt \
    --config "$d/rt.toml" --log-level warn > "$d/rt.out" 2> "$d/rt.err" &
  RP=$!
  RPORT=$(cg_port "$d/rt.out")
  echo -n "$CG_TOKEN" > "$d/tok"
  printf '[embedded]\nenabled = false\n[[runtimes]]\nid = "rt"\nbase_url = "http://127.0.0.1:%s"\ntoken_file = "%s"\nprobe_interval_ms = 0\n%s' \
    "$RPORT" "$d/tok" "$extra" > "$d/s.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$B/apps/yoi-server/yoi-server" --listen 127.0.0.1:0 \
    --config "$d/s.toml" --data-dir "$d/data" --no-auth --log-level warn > "$d/s.out" 2> "$d/s.err" &
  SP=$!
  SPORT=$(cg_port "$d/s.out")
}

# cg_start_plain: cg_start in a fresh scratch dir, the runtime needing no
# profile (hop.sh, input.sh). The dir is CG_DIR.
cg_start_plain() {
  CG_DIR=$(mktemp -d /tmp/yoi-cg.XXXXXX)
  printf '[runtime]\nid = "rt"\n' > "$CG_DIR/rt.toml"
  cg_start "$CG_DIR"
}

# cg_total DIR NAME: stops both, prints the profile's total, keeps it as
# CG_KEEP/NAME.out when asked, removes DIR.
cg_total() {
  local d=$1
  kill -TERM "$SP"; wait "$SP" || true
  kill -TERM "$RP"; wait "$RP" || true
  grep -E "^(summary|totals):" "$d/cg.out" | head -1 | awk '{print $2}'
  if [ -n "${CG_KEEP:-}" ]; then mkdir -p "$CG_KEEP"; cp "$d/cg.out" "$CG_KEEP/$2.out"; fi
  rm -rf "$d"
}
