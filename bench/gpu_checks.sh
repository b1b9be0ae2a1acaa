#!/usr/bin/env bash
# The GPU checks of the CUDA build (issue 15), sized for the GPU machine this project is lent at
# times: one NVIDIA GPU, 16 cores, no package registry, its own python3 with a CUDA torch >= 2.7,
# at most 10 minutes a command and 15 minutes of device time a session, start-up included. Two
# phases, each one command; run `build` first, then `measure` while the machine is still warm
# (build/gpu is kept between the calls of one lease):
#
#   bench/gpu_checks.sh build     configure and build against that python's LibTorch (CUDA) with
#                                 the packages of .gpu-kit (bench/gpu_kit.sh fetch, run here
#                                 first; the call carries .gpu-kit), then the CUDA tests, which run
#                                 for real there instead of skipping                (~4-6 min)
#   bench/gpu_checks.sh measure   training and inference images/s, LibTorch against PyTorch eager
#                                 on the same GPU (bench/compare_pytorch.py --device cuda, both
#                                 networks, 128 px, bf16 and fp32); then the study's default recipe
#                                 on strokes-16 (skNet) with --device cuda: wall time, the
#                                 trainer's data-wait seconds, the GPU's utilization sampled by
#                                 nvidia-smi every 200 ms, and the bundle's accuracy and mAP (~5 min)
#
# Everything it prints also goes to $OUT/gpu_checks-PHASE.log (OUT: the device call's return
# folder; out/gpu here), figures beside it. Each step has a limit that keeps the phase inside
# one call; a failed step is reported and the next one runs.
#
# SKETCH_GPU_CHECKS_DEVICE=cpu rehearses both phases on a machine without a GPU (the same steps
# on --device cpu, shortened: a few training steps), so the script itself is tested before a
# lease is spent on it. SKETCH_TORCH_PYTHON names the python (default: python3 if it imports
# torch with CUDA, else .venv/torch2/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
phase="${1:-}"
case "$phase" in build | measure) ;; *) echo "usage: bench/gpu_checks.sh build|measure" >&2; exit 2 ;; esac
device="${SKETCH_GPU_CHECKS_DEVICE:-cuda}"
out="${OUT:-out/gpu}"
mkdir -p "$out"
exec > >(tee "$out/gpu_checks-$phase.log") 2>&1
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
build=build/gpu
kit="${SKETCH_GPU_KIT:-.gpu-kit}"
# The rehearsal builds on a few cores: its limits are stretched (SKETCH_GPU_CHECKS_TIME_SCALE).
scale="${SKETCH_GPU_CHECKS_TIME_SCALE:-$([ "$device" = cuda ] && echo 1 || echo 8)}"
failed=()
step() {  # step NAME LIMIT_S COMMAND...: runs, times and reports one check
  local name="$1" limit=$(($2 * scale)); shift 2
  echo "=== $name ($(date -u +%T), limit ${limit}s): $*"
  local start=$SECONDS
  timeout -k 10 "$limit" "$@"
  local rc=$?
  echo "=== $name: rc=$rc in $((SECONDS - start)) s"
  [ "$rc" = 0 ] || failed+=("$name")
}

python="${SKETCH_TORCH_PYTHON:-}"
if [ -z "$python" ]; then
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    python=$(command -v python3)
  else
    python=.venv/torch2/bin/python
  fi
fi
echo "gpu_checks $phase: device $device, python $python ($("$python" -c 'import torch; print(torch.__version__)' 2>&1))"
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "no GPU"; exit 1; }
fi

# The Debian packages, unpacked outside /usr, where the machine has no gRPC of its own.
if [ ! -f /usr/lib/x86_64-linux-gnu/cmake/grpc/gRPCConfig.cmake ] || [ -n "${SKETCH_GPU_KIT_FORCE:-}" ]; then
  prefix=/tmp/sketch-gpu-kit
  [ -d "$kit/debs" ] || { echo "gpu_checks: no $kit/debs: run bench/gpu_kit.sh fetch here and carry $kit"; exit 1; }
  [ -d "$prefix/usr" ] || bench/gpu_kit.sh unpack "$kit" "$prefix" || exit 1
  # shellcheck source=/dev/null
  source <(bench/gpu_kit.sh env "$prefix")
fi

if [ "$phase" = build ]; then
  targets=(sketch-trainer sketch_models_bench sketch_models_test sketch_trainer_test)
  step configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSKETCH_LIBTORCH=pytorch-cuda -DSKETCH_TORCH_PYTHON="$python" -DSKETCH_TESTS=ON -DSKETCH_BENCH=ON
  step build 420 cmake --build "$build" --target "${targets[@]}" -j "$(nproc)"
  # The CUDA tests by name (their binaries, not CTest: only these targets are built).
  step tests-cuda 90 bash -c "$build/tests/sketch_models_test --gtest_filter='*Cuda*' &&
    $build/tests/sketch_trainer_test --gtest_filter='*Cuda*'"
fi

if [ "$phase" = measure ]; then
  T="$build/trainer/sketch-trainer"
  if [ "$device" = cuda ]; then
    sizes=128 batch=256 rounds=2 train_flags=()
  else  # the rehearsal: the same steps, small
    sizes=64 batch=8 rounds=1 train_flags=(--epochs 1 --input-size 32 --batch 64)
  fi
  step throughput 200 "$python" bench/compare_pytorch.py --device "$device" \
    --libtorch "libtorch=$build/bench/sketch_models_bench" --pytorch "pytorch=$python" \
    --nets sknet,skresnet --sizes "$sizes" --precisions bf16,fp32 --modes train,infer \
    --batch "$batch" --rounds "$rounds" --timeout 180 --json "$out/throughput.json"

  # One training run with the GPU's utilization sampled, then its bundle's report.
  data="$kit/data/strokes-16.skds"
  [ -f "$data" ] || data=out/runs/strokes-16.skds
  run=out/gpu-runs/s16-sknet
  rm -rf "$run"
  sampler=""
  if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 200 \
      >"$out/s16-sknet-utilization.csv" &
    sampler=$!
  fi
  step train-strokes-16 240 "$T" train --dataset "$data" --out "$run" --recipe default \
    --device "$device" --precision auto --loader-threads 8 --threads 8 --quiet "${train_flags[@]}"
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  if [ -s "$out/s16-sknet-utilization.csv" ]; then
    echo "GPU utilization over the run: $(awk -F', ' '{gsub(/ %/, "", $2); s += $2; n++}
      END {printf "mean %.1f %% over %d samples", n ? s / n : 0, n}' "$out/s16-sknet-utilization.csv")"
  fi
  [ -f "$run/train_log.jsonl" ] && cp "$run/train_log.jsonl" "$out/s16-sknet-train_log.jsonl"
  step bundle-strokes-16 120 "$T" bundle --model "$run" --dataset "$data" --out "$run/bundle" \
    --device "$device"
fi

if ((${#failed[@]})); then
  echo "gpu_checks $phase: FAILED: ${failed[*]}"
  exit 1
fi
echo "gpu_checks $phase: all passed"
