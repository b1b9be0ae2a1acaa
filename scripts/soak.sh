#!/usr/bin/env bash
# The soak at the issue's full length (issue 13): 16 clients for 10 minutes against a real
# sketch-server, a mix of valid (answers checked), invalid, hostile, cancelled and
# deadline-bound calls; passes when no answer is wrong, no call ends with a code its kind does
# not allow, the server lives, and its RSS grows by less than 1 MB a minute through both halves
# of the measured window (tests/testing/memory_growth.h). The test suite runs the same for 30 s
# of load and 90 s measured (ctest -R e2e.soak).
#
#   scripts/soak.sh [SECONDS]        (default 600; needs the Release build: scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/release
SKETCH_SOAK_SECONDS=${1:-600} SKETCH_SOAK_MAX_RSS_SLOPE=${SKETCH_SOAK_MAX_RSS_SLOPE:-1} \
  exec bash tests/e2e/soak_test.sh "$B/trainer/sketch-trainer" "$B/server/sketch-server" \
  "$B/client/sketch" "$B/tests/sketch_soak_client" tests/data/quickdraw
