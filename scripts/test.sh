#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: setup, a warnings-as-errors Release build,
# then every test (unit, fuzz-crash regressions, program smoke tests) through CTest; then the same
# build and tests against the PyTorch 2.x wheel's LibTorch (CPU), the second supported LibTorch.
#
#   scripts/test.sh                 both LibTorch builds (what CI runs)
#   SKETCH_TEST_LIBTORCH=debian scripts/test.sh    only Debian's 1.13 (build/release)
#   SKETCH_TEST_LIBTORCH=pytorch scripts/test.sh   only the wheel's 2.x (build/torch2)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${SKETCH_TEST_LIBTORCH:-all}"

if [ "$which" = all ] || [ "$which" = debian ]; then
  scripts/setup.sh --no-build
  cmake --preset ci >/dev/null
  cmake --build --preset ci
  ctest --preset ci -j "$(nproc)"
fi
if [ "$which" = all ] || [ "$which" = pytorch ]; then
  scripts/setup.sh --no-build --libtorch pytorch
  cmake --preset ci-torch2 >/dev/null
  cmake --build --preset ci-torch2
  ctest --preset ci-torch2 -j "$(nproc)"
fi
