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
set -euo pipefail
cd "$(dirname "$0")/.."

programs_only=0 build=1
for arg in "$@"; do
  case "$arg" in
    --programs-only) programs_only=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: scripts/setup.sh [--programs-only] [--no-build]" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config
  # libraries
  libabsl-dev libsimdjson-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
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

[ "$build" = 1 ] || exit 0
if [ "$programs_only" = 1 ]; then
  cmake --preset release -DSKETCH_TESTS=OFF -DSKETCH_BENCH=OFF >/dev/null
  cmake --build --preset release --target sketch-trainer sketch-server sketch
else
  cmake --preset release -DSKETCH_TESTS=ON -DSKETCH_BENCH=ON >/dev/null
  cmake --build --preset release
fi
