#!/usr/bin/env bash
# The main job end to end on the real sample bundled in tests/data/quickdraw: setup and build,
# prepare a 16-class dataset (100 train + 20 test drawings per class), train a small skNet
# (64x64 input, a few minutes on 2 cores), build its bundle (evaluation, test-set features,
# FAISS index, leave-one-out mAP) and print a summary.
# Re-running reuses the build, the dataset, the trained model and the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
T=build/release/trainer/sketch-trainer
OUT=${SKETCH_OUT:-out/quickstart}
mkdir -p "$OUT"

if [ ! -f "$OUT/dataset.skds" ]; then
  $T prepare --input tests/data/quickdraw/simplified --output "$OUT/dataset.skds" \
    --train 100 --test 20 --seed 1
fi
if [ ! -f "$OUT/sknet/model.pt" ]; then
  resume=(); [ -d "$OUT/sknet/checkpoints" ] && resume=(--resume)
  $T train --dataset "$OUT/dataset.skds" --out "$OUT/sknet" --arch sknet --recipe default \
    --input-size 64 --epochs 8 --checkpoint-every 50 "${resume[@]}"
fi
if [ ! -f "$OUT/bundle/manifest.json" ]; then
  $T bundle --model "$OUT/sknet" --dataset "$OUT/dataset.skds" --out "$OUT/bundle"
fi

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
