#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: setup, a warnings-as-errors Release build,
# then every test (unit, fuzz-crash regressions, program smoke tests) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci -j "$(nproc)"
