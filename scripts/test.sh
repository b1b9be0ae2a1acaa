#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: setup, a warnings-as-errors Release build,
# then every test (unit, fuzz-crash regressions, program smoke tests) through CTest; first against
# the default LibTorch (the PyTorch 2.x wheel's, CPU), then the same build and tests against
# Debian's libtorch-dev 1.13, the second supported LibTorch.
#
#   scripts/test.sh                 both LibTorch builds (what CI runs)
#   SKETCH_TEST_LIBTORCH=pytorch scripts/test.sh   only the wheel's 2.x (build/release)
#   SKETCH_TEST_LIBTORCH=debian scripts/test.sh    only Debian's 1.13 (build/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${SKETCH_TEST_LIBTORCH:-all}"
case "$which" in
  all | pytorch | debian) ;;
  *) echo "test: SKETCH_TEST_LIBTORCH must be all, pytorch or debian, got '$which'" >&2; exit 2 ;;
esac

if [ "$which" = all ] || [ "$which" = pytorch ]; then
  scripts/setup.sh --no-build --libtorch pytorch
  cmake --preset ci >/dev/null
  cmake --build --preset ci
  ctest --preset ci -j "$(nproc)"
fi
if [ "$which" = all ] || [ "$which" = debian ]; then
  scripts/setup.sh --no-build --libtorch debian
  cmake --preset ci-debian >/dev/null
  cmake --build --preset ci-debian
  ctest --preset ci-debian -j "$(nproc)"
fi
