#!/usr/bin/env bash
# The GPU checks of the CUDA build (issue 15), as one script for a machine with an NVIDIA GPU:
#
#   1. build the torch2-cuda preset and run the whole test suite there (the CUDA tests run for
#      real instead of skipping: their names hold "Cuda"; they are listed first);
#   2. training and inference throughput on the GPU, LibTorch against PyTorch on the same GPU
#      (bench/compare_pytorch.py --device cuda: eager and torch.compile, both networks, 64 and
#      128 px, fp32 and bf16);
#   3. the study's default recipe on strokes-16 and bitmap-100 with --device cuda, with wall times,
#      the trainer's own "waiting for data" seconds and the GPU's utilization sampled by
#      nvidia-smi every 200 ms (the data pipeline must never be the bottleneck).
#
#   bench/gpu_checks.sh [DATASET_DIR]
#
# Needs what scripts/setup.sh --libtorch pytorch-cuda --no-build installs (Debian 12 packages, the
# PyTorch wheel in .venv/torch2, nvcc), and DATASET_DIR (default out/runs) holding strokes-16.skds
# and bitmap-100.skds, made by `sketch-trainer prepare` as docs/results.md shows (a few MB: they
# travel with the repo to a GPU machine that cannot reach ../shared). Everything it prints also
# goes to ${OUT:-out/gpu}/gpu_checks.log; JSON and CSV figures beside it. Bounded: each step has a
# timeout, and a failed step is reported and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
data="${1:-out/runs}"
out="${OUT:-out/gpu}"
mkdir -p "$out"
exec > >(tee "$out/gpu_checks.log") 2>&1
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
failed=()
step() {  # step NAME TIMEOUT_S COMMAND...: runs, times and reports one check
  local name="$1" limit="$2"; shift 2
  echo "=== $name ($(date -u +%T), limit ${limit}s): $*"
  local start=$SECONDS
  timeout "$limit" bash -c '"$@"' "$name" "$@"  # bash -c: steps may be the functions below
  local rc=$?
  echo "=== $name: rc=$rc in $((SECONDS - start)) s"
  [ "$rc" = 0 ] || failed+=("$name")
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "no GPU"; exit 1; }

step build 1800 bash -c 'scripts/setup.sh --no-build --libtorch pytorch-cuda &&
  cmake --preset torch2-cuda >/dev/null && cmake --build --preset torch2-cuda'
export T=build/torch2-cuda/trainer/sketch-trainer out

step tests-cuda 600 ctest --preset torch2-cuda -R Cuda -j 4
step tests-all 1800 ctest --preset torch2-cuda -j 8

step throughput 1800 .venv/torch2/bin/python bench/compare_pytorch.py --device cuda \
  --libtorch "libtorch-2.x=build/torch2-cuda/bench/sketch_models_bench" \
  --pytorch "pytorch-2.x=.venv/torch2/bin/python" --compile \
  --sizes 64,128 --precisions fp32,bf16 --batch 256 --rounds 3 --json "$out/throughput.json"

# One training run on the GPU with its utilization sampled; prints the trainer's summary.
train_on_gpu() {  # NAME DATASET EXTRA_FLAGS...
  local name="$1" dataset="$2"; shift 2
  rm -rf "out/gpu-runs/$name"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 200 \
    > "$out/$name-utilization.csv" &
  local sampler=$!
  local start=$SECONDS
  "$T" train --dataset "$dataset" --out "out/gpu-runs/$name" --device cuda --precision auto \
    --loader-threads 8 --threads 8 "$@"
  local rc=$?
  kill "$sampler" 2>/dev/null
  echo "$name: wall $((SECONDS - start)) s; GPU utilization mean over the run:" \
    "$(awk -F', ' '{gsub(/ %/, "", $2); s += $2; n++} END {printf "%.1f %%", n ? s / n : 0}' \
        "$out/$name-utilization.csv")"
  # The bundle's report: test accuracy and mAP, evaluated on the GPU too.
  [ "$rc" = 0 ] && "$T" bundle --model "out/gpu-runs/$name" --dataset "$dataset" \
    --out "out/gpu-runs/$name/bundle" --device cuda
}
export -f train_on_gpu
step strokes-16-sknet 1800 train_on_gpu s16-sknet "$data/strokes-16.skds"
step strokes-16-skresnet 1800 train_on_gpu s16-skresnet "$data/strokes-16.skds" --arch skresnet
step bitmap-100-sknet 1800 train_on_gpu b100-sknet "$data/bitmap-100.skds" --input-size 32

if ((${#failed[@]})); then
  echo "gpu_checks: FAILED: ${failed[*]}"
  exit 1
fi
echo "gpu_checks: all passed"
