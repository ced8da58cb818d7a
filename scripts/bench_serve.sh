#!/usr/bin/env bash
# Load benchmark of `sean serve` with the shipped shapes package (docs/performance.md, "Serving"):
# concurrency 1, 4, 8 with batching off (--max-batch 1) and on (--max-batch 8), for both request kinds,
# then a soak at concurrency 8. Servers listen on loopback only; results go to runs/bench-serve/.
#   scripts/bench_serve.sh [SOAK_SECONDS]      (default 600; 0 skips the soak)
#   SERVE_ARGS="--threads 1 --workers 2" REQUESTS=400 scripts/bench_serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEAN=${SEAN:-.venv/bin/sean}
SOAK=${1:-600}
REQUESTS=${REQUESTS:-300}
SERVE_ARGS=${SERVE_ARGS:-"--threads 1 --workers 2"}
PKG=packages/shapes
OUT=runs/bench-serve
mkdir -p "$OUT"
[ -f "$PKG/manifest.json" ] || "$SEAN" export sean_train/pretrained/shapes -o "$PKG"

SERVER=""
start_server() {  # start_server NAME ARGS... -> sets URL; the server's log is $OUT/NAME.log
  local name=$1; shift
  # shellcheck disable=SC2086
  "$SEAN" serve "$PKG" --port 0 $SERVE_ARGS "$@" > "$OUT/$name.ready" 2> "$OUT/$name.log" &
  SERVER=$!
  for _ in $(seq 600); do grep -q http "$OUT/$name.ready" 2>/dev/null && break; sleep 0.1; done
  URL=$(grep -o 'http://[^ ]*' "$OUT/$name.ready")
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER"; }
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(lscpu | sed -n 's/^Model name: *//p')"
for batch in 1 8; do
  start_server "batch$batch" --max-batch "$batch"
  for kind in image styles; do
    echo "== --max-batch $batch, requests with $kind"
    "$SEAN" bench-serve "$URL" --concurrency 1,4,8 --requests "$REQUESTS" --kind "$kind" \
      --json "$OUT/batch$batch-$kind.json" 2>/dev/null
  done
  stop_server
done
if [ "$SOAK" != 0 ]; then
  start_server soak --max-batch 8
  echo "== soak: --max-batch 8, 8 clients, $SOAK s"
  "$SEAN" bench-serve "$URL" --concurrency 8 --requests 50 --soak-s "$SOAK" --json "$OUT/soak.json" 2>/dev/null
  stop_server
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
