#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan/UBSan; `fuzz` preset) and fuzzes each for SECONDS
# (default 600). Corpora grow under out/corpus/<fuzzer>, seeded from the saved regressions.
# A crash stops the run with the input saved as out/crashes/<fuzzer>/crash-*: fix the bug, then
# copy the input to tests/fuzz/regressions/<fuzzer>/ so the test suite replays it forever.
# Usage: scripts/fuzz.sh [SECONDS] [FUZZER...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
shift || true
FUZZERS=("$@")
[ ${#FUZZERS[@]} -gt 0 ] ||
  FUZZERS=(ndjson_fuzzer bin_fuzzer npy_fuzzer normalize_rasterize_fuzzer request_fuzzer)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${FUZZERS[@]}"
for f in "${FUZZERS[@]}"; do
  mkdir -p "out/corpus/$f" "out/crashes/$f"
  echo "fuzz: $f for ${SECONDS_EACH}s"
  "build/fuzz/tests/fuzz/$f" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    -artifact_prefix="out/crashes/$f/" "out/corpus/$f" "tests/fuzz/regressions/$f" 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY" || true
  if ls "out/crashes/$f"/crash-* "out/crashes/$f"/leak-* "out/crashes/$f"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $f found a failing input in out/crashes/$f" >&2
    exit 1
  fi
done
echo "fuzz: no findings"
