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
#   --libtorch debian                 (default) build against Debian's libtorch-dev 1.13
#   --libtorch pytorch                also install the PyTorch 2.x wheel into .venv/torch2
#                                     (scripts/requirements-torch2.txt) and build against its
#                                     LibTorch, CPU only (preset torch2, in build/torch2)
#   --libtorch pytorch-cuda           the same wheel with CUDA (preset torch2-cuda, build/torch2-cuda;
#                                     needs the CUDA toolkit's nvcc to configure)
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/setup.sh [--programs-only] [--no-build] [--libtorch debian|pytorch|pytorch-cuda]"
programs_only=0 build=1 libtorch=debian
while (($#)); do
  case "$1" in
    --programs-only) programs_only=1 ;;
    --no-build) build=0 ;;
    --libtorch) shift; libtorch="${1:-}" ;;
    --libtorch=*) libtorch="${1#--libtorch=}" ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
case "$libtorch" in
  debian) preset=release ;;
  pytorch) preset=torch2 ;;
  pytorch-cuda) preset=torch2-cuda ;;
  *) echo "setup: --libtorch must be debian, pytorch or pytorch-cuda, got '$libtorch'" >&2
     echo "$usage" >&2; exit 2 ;;
esac

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config
  # libraries
  libabsl-dev libsimdjson-dev libcli11-dev nlohmann-json3-dev
  libtorch-dev libfaiss-dev libopenblas0-pthread libssl-dev
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
[ "$libtorch" = debian ] || PACKAGES+=(python3-venv python3-pip)

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

if [ "$libtorch" != debian ]; then
  # The wheel, pinned; pip is quiet when it is already there.
  venv=.venv/torch2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  wanted=$(sed -n 's/^torch==//p' scripts/requirements-torch2.txt)
  have=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
  if [ "${have%%+*}" != "$wanted" ]; then
    echo "setup: installing PyTorch $wanted into $venv (the wheel and its CUDA libraries, ~5 GB)"
    "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-torch2.txt
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
