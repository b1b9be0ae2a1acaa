#!/usr/bin/env bash
# Installs the Debian 12 packages sketchsearch needs, then configures and builds it (Release).
# Idempotent: quiet when every package is already present.
#
#   scripts/setup.sh                  everything: programs, tests, benchmarks, fuzzers (build/release)
#   scripts/setup.sh --no-build       the packages only
#   scripts/setup.sh --programs-only  only what the three programs need to build, and build just
#                                     them (sketch-trainer, sketch-server, sketch): the container
#                                     image's build stage (deploy/Dockerfile); with --no-build,
#                                     just those packages
#   --libtorch pytorch                (default) build against the LibTorch of the PyTorch 2.x wheel,
#                                     CPU only (preset release, build/release): installs the wheel
#                                     into .venv/torch2, only what the C++ build needs (~1.3 GB,
#                                     scripts/requirements-libtorch.txt)
#   --libtorch debian                 build against Debian's libtorch-dev 1.13 (preset debian,
#                                     build/debian)
#   --libtorch pytorch-cuda           the same wheel with CUDA (preset torch2-cuda, build/torch2-cuda;
#                                     needs the CUDA toolkit's nvcc to configure; installs the whole
#                                     wheel, ~5 GB)
#   --python-torch                    also make Python's torch in .venv/torch2 importable (the whole
#                                     wheel with its CUDA libraries, ~5 GB): the PyTorch 2.x side of
#                                     bench/compare_pytorch.py
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/setup.sh [--programs-only] [--no-build] [--libtorch pytorch|debian|pytorch-cuda] [--python-torch]"
programs_only=0 build=1 libtorch=pytorch python_torch=0
while (($#)); do
  case "$1" in
    --programs-only) programs_only=1 ;;
    --no-build) build=0 ;;
    --libtorch) shift; libtorch="${1:-}" ;;
    --libtorch=*) libtorch="${1#--libtorch=}" ;;
    --python-torch) python_torch=1 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
case "$libtorch" in
  pytorch) preset=release ;;
  debian) preset=debian ;;
  pytorch-cuda) preset=torch2-cuda python_torch=1 ;;
  *) echo "setup: --libtorch must be debian, pytorch or pytorch-cuda, got '$libtorch'" >&2
     echo "$usage" >&2; exit 2 ;;
esac
# The wheel goes into .venv/torch2 for a build against it, or for Python's torch.
wheel=1
if [ "$libtorch" = debian ] && [ "$python_torch" = 0 ]; then wheel=0; fi

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config
  # libraries
  libabsl-dev libsimdjson-dev libcli11-dev nlohmann-json3-dev
  libfaiss-dev libopenblas0-pthread libssl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc prometheus-cpp-dev
  libpng-dev  # the client's PNG contact sheets (sketch search --png)
  # the HTTP/JSON API (Debian builds it with OpenSSL, zlib and brotli: their -dev packages come along)
  libcpp-httplib-dev
)
DEVELOPER_PACKAGES=(
  git
  # tests and benchmarks (python3-torch: the PyTorch side of the side-by-side benchmark)
  libgtest-dev libgmock-dev libbenchmark-dev python3-numpy python3-torch
  # the web page's browser test (headless Chromium driven by Selenium; nothing downloads a browser)
  chromium chromium-driver python3-selenium
  # fuzzing (clang + ASan/UBSan/libFuzzer runtimes)
  clang libclang-rt-14-dev
)
[ "$programs_only" = 1 ] || PACKAGES+=("${DEVELOPER_PACKAGES[@]}")
[ "$libtorch" != debian ] || PACKAGES+=(libtorch-dev)
[ "$wheel" = 0 ] || PACKAGES+=(python3-venv python3-pip)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$wheel" = 1 ]; then
  # The wheel, pinned. The C++ build needs only the LibTorch in it (--no-deps: no CUDA libraries
  # beyond the two libtorch_cpu names); Python's torch needs the whole wheel.
  venv=.venv/torch2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  pip=("$venv/bin/pip" install -q --disable-pip-version-check)
  wanted=$(sed -n 's/^torch==//p' scripts/requirements-libtorch.txt)
  have=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
  if [ "${have%%+*}" != "$wanted" ]; then
    echo "setup: installing LibTorch $wanted from the PyTorch wheel into $venv (~1.3 GB)"
    "${pip[@]}" --no-deps -r scripts/requirements-libtorch.txt
  fi
  if [ "$python_torch" = 1 ] && ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "setup: installing the rest of PyTorch $wanted into $venv (Python's torch, its CUDA libraries, ~4 GB)"
    "${pip[@]}" -r scripts/requirements-torch2.txt
  fi
  if [ "$libtorch" = pytorch-cuda ] && ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "setup: --libtorch pytorch-cuda needs the CUDA toolkit (nvcc) to configure" >&2
    exit 1
  fi
  if [ "$libtorch" = pytorch-cuda ] && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="$PATH:/usr/local/cuda/bin"  # TorchConfig looks for nvcc on the PATH
  fi
fi

[ "$build" = 1 ] || exit 0
if [ "$programs_only" = 1 ]; then
  cmake --preset "$preset" -DSKETCH_TESTS=OFF -DSKETCH_BENCH=OFF >/dev/null
  cmake --build --preset "$preset" --target sketch-trainer sketch-server sketch
else
  cmake --preset "$preset" -DSKETCH_TESTS=ON -DSKETCH_BENCH=ON >/dev/null
  cmake --build --preset "$preset"
fi
