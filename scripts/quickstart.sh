#!/usr/bin/env bash
# The main job end to end on the real sample bundled in tests/data/quickdraw: setup and build,
# prepare a 16-class dataset (100 train + 20 test drawings per class), train a small skNet
# (64x64 input, a few minutes on 2 cores), build its bundle (evaluation, test-set features,
# FAISS index, leave-one-out mAP), serve it with sketch-server on 127.0.0.1:${SKETCH_PORT:-50051},
# query it with `sketch classify`, `sketch search` and `sketch map` (the live leave-one-out mAP),
# print a summary, and stop the server cleanly (SIGTERM). Set SKETCH_KEEP_SERVING=1 to leave it
# running instead. Re-running reuses the build, the dataset, the trained model and the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT=${SKETCH_OUT:-out/quickstart}
scripts/train_bundle.sh tests/data/quickdraw/simplified "$OUT"

PORT=${SKETCH_PORT:-50051}
TARGET=127.0.0.1:$PORT
build/release/server/sketch-server --bundle "$OUT/bundle" --host 127.0.0.1 --port "$PORT" \
  --metrics-port -1 > "$OUT/server.log" 2>&1 &
SERVER=$!
stop_server() { kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" || true; }
[ "${SKETCH_KEEP_SERVING:-0}" = 1 ] || trap stop_server EXIT
S="build/release/client/sketch --target $TARGET"
for _ in $(seq 1 300); do
  [ "$($S health 2>/dev/null)" = SERVING ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.2
done
echo "== sketch classify (first cat drawing of the sample)"
$S classify tests/data/quickdraw/simplified/cat.ndjson --line 1 -k 3
echo "== sketch search (its 5 nearest indexed sketches)"
$S search tests/data/quickdraw/simplified/cat.ndjson --line 1 -k 5
echo "== sketch map (live leave-one-out mAP over the test set)"
$S map --dataset "$OUT/dataset.skds" -q --expect-offline | tee "$OUT/live_map.txt"

python3 - "$OUT/bundle/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
k = m["metrics"]
print(f"\nquickstart: {m['architecture']} on {len(m['classes'])} classes, "
      f"{m['dataset']['num_train']} train / {m['dataset']['num_test']} test drawings")
print(f"  test accuracy {k['test_top1']:.3f} (top-5 {k['test_top5']:.3f}), "
      f"leave-one-out mAP {k['map']:.3f}")
print(f"  bundle: {sys.argv[1].rsplit('/', 1)[0]} ({m['index']['size']} indexed sketches)")
PY
if [ "${SKETCH_KEEP_SERVING:-0}" = 1 ]; then
  echo "  serving on $TARGET (pid $SERVER); query it: build/release/client/sketch --target $TARGET info"
else
  echo "  server stopped; serve again: build/release/server/sketch-server --bundle $OUT/bundle"
fi
