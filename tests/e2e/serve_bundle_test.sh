#!/usr/bin/env bash
# End to end on real programs and data: prepare a small dataset, train a few steps, build the
# bundle, serve it on port 0, query it with the `sketch` client (health, info, classify, search,
# embed, map), scrape the metrics endpoint, then SIGTERM and expect a clean exit 0.
# The live leave-one-out mAP (`sketch map`) must equal the bundle's offline figure.
#
# usage: serve_bundle_test.sh SKETCH_TRAINER SKETCH_SERVER SKETCH QUICKDRAW_DATA_DIR
# KEEP_WORK=1 keeps the work directory (printed) for a look afterwards (tests/e2e/lib.sh).
set -euo pipefail

trainer=$1 server=$2 client=$3 data=$4
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_make_bundle
e2e_start_server

info=$(sketch info --json)
hash=$(sha256sum "$work/bundle/manifest.json" | cut -d' ' -f1)
[[ $info == *"\"bundle_hash\":\"$hash\""* ]] || fail "info names another bundle: $info"
[[ $info == *'"index_size":"100"'* || $info == *'"index_size":100'* ]] || fail "index size: $info"
[[ $info == *'"input_size":32'* ]] || fail "input size: $info"

# Strokes, a raw drawing (normalized by the server) and a 28x28 bitmap all classify.
for input in "$data/simplified/cat.ndjson" "$data/raw/ant.ndjson" "$data/numpy_bitmap/cat.npy"; do
  out=$(sketch classify "$input" --line 1 -k 5 --json) || fail "classify $input"
  [[ $(grep -o '"probability"' <<<"$out" | wc -l) == 5 ]] || fail "classify $input: $out"
done

# Every eye drawing of the source file against the index (k = 1): exactly the 20 of the test
# split find themselves (distance ~0); --exclude-self then leaves one of them out.
key= found=0
while IFS= read -r line; do
  first_hit=$(sed 's/.*"hits":\[\([^]]*\)\].*/\1/' <<<"$line" | grep -o '"key_id":"[0-9]*"')
  own=$(sed 's/"hits":\[[^]]*\]//' <<<"$line" | grep -o '"key_id":"[0-9]*"')
  if [[ -n $own && $own == "$first_hit" ]]; then
    found=$((found + 1))
    key=$(cut -d'"' -f4 <<<"$own")
  fi
done < <(sketch search "$data/simplified/eye.ndjson" -k 1 --json)
[[ $found == 20 ]] || fail "$found eye drawings found themselves, expected the 20 indexed"
self=$(sketch search "$data/simplified/eye.ndjson" --key-id "$key" -k 3 --exclude-self --json)
[[ $(grep -o "\"key_id\":\"$key\"" <<<"$self" | wc -l) == 1 ]] || fail "--exclude-self: $self"
[[ $(sketch embed "$data/simplified/eye.ndjson" --key-id "$key") == *"dimension 1024"* ]] ||
  fail "embed"

step "sketch map"
map_out=$(sketch map --dataset "$work/dataset.skds" --json -q) || fail "sketch map"
live_map=$(json_number map <<<"$map_out")
step "mAP live $live_map, offline $offline_map"
# fp32 on both sides and the same folded inference copy: the same figure, whatever the batching
# (1e-6: the printed precision). bf16 may swap near-ties; that is what --expect-offline's 1e-3 allows.
awk -v a="$live_map" -v b="$offline_map" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }' ||
  fail "live mAP $live_map differs from the bundle's $offline_map by 1e-6 or more"

exec 3<>"/dev/tcp/${metrics%:*}/${metrics##*:}" || fail "metrics endpoint $metrics"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
scrape=$(cat <&3)
exec 3<&-
[[ $scrape == *" 200 "* && $scrape == *sketch* ]] || fail "metrics scrape: ${scrape:0:300}"

e2e_stop_server
step "passed"
