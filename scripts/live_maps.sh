#!/usr/bin/env bash
# Serves each bundle in turn on 127.0.0.1 and runs `sketch map --expect-offline` on its dataset:
# the live leave-one-out mAP must equal the bundle's offline figure (to 1e-3). Exits non-zero if
# any bundle misses it.
#   scripts/live_maps.sh out/runs/strokes-16.skds:out/runs/study-strokes16-default/sknet-default/bundle ...
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 DATASET.skds:BUNDLE_DIR ..." >&2; exit 2; }
SERVER=build/release/server/sketch-server
CLIENT=build/release/client/sketch
PORT=${SKETCH_PORT:-50170}
failed=0
for pair in "$@"; do
  dataset=${pair%%:*}; bundle=${pair#*:}
  log=$(mktemp)
  "$SERVER" --bundle "$bundle" --host 127.0.0.1 --port "$PORT" --metrics-port -1 > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    [ "$("$CLIENT" --target "127.0.0.1:$PORT" health 2>/dev/null)" = SERVING ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "== $bundle on $dataset"
  start=$SECONDS
  "$CLIENT" --target "127.0.0.1:$PORT" --deadline-ms 300000 map --dataset "$dataset" -q --expect-offline
  rc=$?
  echo "exit $rc, $((SECONDS - start)) s"
  [ "$rc" = 0 ] || { failed=1; cat "$log"; }
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  rm -f "$log"
done
exit "$failed"
