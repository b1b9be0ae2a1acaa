#!/usr/bin/env bash
# The main job end to end on the real sample bundled in tests/data/quickdraw: setup and build,
# then prepare a dataset (16 classes x 100 train + 20 test) and print its summary.
# Re-running reuses the build and the prepared dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT=${SKETCH_OUT:-out/quickstart}
mkdir -p "$OUT"
if [ ! -f "$OUT/dataset.skds" ]; then
  build/release/trainer/sketch-trainer prepare --input tests/data/quickdraw/simplified \
    --output "$OUT/dataset.skds" --train 100 --test 20 --seed 1
else
  echo "quickstart: reusing $OUT/dataset.skds (delete it to prepare again)"
fi
