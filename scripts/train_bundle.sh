#!/usr/bin/env bash
# The trainer half of the main job: prepare a dataset from a folder of Quick, Draw! files, train
# a network on it and build its serving bundle (evaluation, test-set features, FAISS index,
# leave-one-out mAP). Shared by scripts/quickstart.sh and the container's one-shot `trainer`
# service (deploy/compose.yaml). A step whose output exists is skipped, so a second run reuses
# everything; an interrupted training resumes from its last checkpoint.
#
#   scripts/train_bundle.sh DATA_DIR OUT_DIR
#
# Writes OUT_DIR/dataset.skds, OUT_DIR/$SKETCH_ARCH/ (the run) and OUT_DIR/bundle/. Environment:
#   SKETCH_TRAINER         the program (default: build/release/trainer/sketch-trainer if built,
#                          else sketch-trainer on PATH)
#   SKETCH_TRAIN_PER_CLASS training drawings per class (default 100)
#   SKETCH_TEST_PER_CLASS  test drawings per class, the indexed set (default 20)
#   SKETCH_ARCH            sknet | skresnet (default sknet)
#   SKETCH_TRAIN_FLAGS     more `sketch-trainer train` flags (default: --recipe default --epochs 8)
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
DATA=$1
OUT=$2
HERE=$(cd "$(dirname "$0")/.." && pwd)
T=${SKETCH_TRAINER:-}
if [ -z "$T" ]; then
  T=$HERE/build/release/trainer/sketch-trainer
  [ -x "$T" ] || T=sketch-trainer
fi
ARCH=${SKETCH_ARCH:-sknet}
read -r -a TRAIN_FLAGS <<< "${SKETCH_TRAIN_FLAGS:---recipe default --epochs 8}"
mkdir -p "$OUT"

if [ ! -f "$OUT/dataset.skds" ]; then
  "$T" prepare --input "$DATA" --output "$OUT/dataset.skds" --seed 1 \
    --train "${SKETCH_TRAIN_PER_CLASS:-100}" --test "${SKETCH_TEST_PER_CLASS:-20}"
fi
if [ ! -f "$OUT/$ARCH/model.pt" ]; then
  resume=()
  [ -d "$OUT/$ARCH/checkpoints" ] && resume=(--resume)
  "$T" train --dataset "$OUT/dataset.skds" --out "$OUT/$ARCH" --arch "$ARCH" \
    --checkpoint-every 50 "${TRAIN_FLAGS[@]}" "${resume[@]}"
fi
if [ ! -f "$OUT/bundle/manifest.json" ]; then
  "$T" bundle --model "$OUT/$ARCH" --dataset "$OUT/dataset.skds" --out "$OUT/bundle"
fi
echo "train_bundle: bundle ready in $OUT/bundle"
