#!/usr/bin/env bash
# End to end on real programs and data: prepare a small dataset, train a few steps, build the
# bundle, serve it on port 0, query it with the `sketch` client (health, info, classify, search,
# embed, map), scrape the metrics endpoint, then SIGTERM and expect a clean exit 0.
# The live leave-one-out mAP (`sketch map`) must equal the bundle's offline figure.
#
# usage: serve_bundle_test.sh SKETCH_TRAINER SKETCH_SERVER SKETCH QUICKDRAW_DATA_DIR
# KEEP_WORK=1 keeps the work directory (printed) for a look afterwards.
set -euo pipefail

trainer=$1 server=$2 client=$3 data=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/sketch_e2e.XXXXXX")
server_pid=
started=$SECONDS

cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "work directory: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in server.out server.err; do
    [[ -f $work/$log ]] && { echo "--- $log" >&2; tail -n 20 "$work/$log" >&2; }
  done
  exit 1
}
step() { echo "[$((SECONDS - started)) s] $*"; }
# The number after "KEY": in a one-line or pretty JSON document.
json_number() { grep -o "\"$1\": *[-0-9.eE+]*" | head -n 1 | sed 's/.*: *//'; }

step "prepare"
"$trainer" prepare --input "$data/simplified" --output "$work/dataset.skds" -q --seed 7 \
  --classes airplane,cat,eye,guitar,television --train 60 --test 20 >/dev/null
step "train"
# 32 px and a handful of steps: a weak but real model, trained, saved and bundled by the programs.
"$trainer" train --dataset "$work/dataset.skds" --out "$work/model" --input-size 32 --batch 16 \
  --max-steps 12 --threads 2 --precision fp32 --checkpoint-every 0 -q >/dev/null
step "bundle"
"$trainer" bundle --model "$work/model" --dataset "$work/dataset.skds" --out "$work/bundle" \
  --no-train-eval -q >"$work/bundle.out" 2>&1 ||
  fail "sketch-trainer bundle: $(cat "$work/bundle.out")"
offline_map=$(json_number map <"$work/bundle/manifest.json")
[[ -n $offline_map ]] || fail "no metrics.map in the manifest"

step "start sketch-server"
"$server" --bundle "$work/bundle" --host 127.0.0.1 --port 0 --metrics-port 0 --threads 2 \
  --drain-timeout-s 5 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^sketch-server listening on ' "$work/server.out" && break
  kill -0 "$server_pid" 2>/dev/null || fail "sketch-server exited before listening"
  sleep 0.1
done
target=$(sed -n 's/^sketch-server listening on //p' "$work/server.out")
[[ $target =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "no listening line with a port: '$target'"
metrics=$(sed -n 's/^sketch-server metrics on //p' "$work/server.out")
sketch() { "$client" --target "$target" --deadline-ms 20000 "$@"; }

# Health answers at once (NOT_SERVING, exit 4) and turns SERVING once the bundle is loaded.
for _ in $(seq 1 600); do
  rc=0
  sketch health >/dev/null 2>&1 || rc=$?
  [[ $rc == 0 ]] && break
  [[ $rc == 4 ]] || fail "sketch health exited $rc"
  kill -0 "$server_pid" 2>/dev/null || fail "sketch-server exited while loading"
  sleep 0.1
done
[[ $(sketch health) == SERVING ]] || fail "never SERVING"
step "serving on $target"

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

step "SIGTERM"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[[ $rc == 0 ]] || fail "sketch-server exited $rc after SIGTERM"
step "passed"
