#!/usr/bin/env bash
# A gallery end to end: a tiny model (lib.sh) indexes drawings of words it never saw
# (sketch-trainer index), sketch-server serves the gallery bundle, and searches with
# include_drawings get back the very drawings that were indexed (sketch_gallery_client). Then the
# same drawings as a whitened gallery (--whiten): the server whitens each query as the rows were,
# so `sketch map` over them equals the mAP `index` measured offline.
#
# usage: gallery_test.sh SKETCH_TRAINER SKETCH_SERVER SKETCH SKETCH_GALLERY_CLIENT DATA_DIR
set -euo pipefail

trainer=$1 server=$2 client=$3 gallery=$4 data=$5
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_make_bundle
step "index a gallery"
"$trainer" index --model "$work/model" --input "$data/simplified-25" \
  --input "$data/simplified/cat.ndjson" --out "$work/gallery" --chunk 64 -q \
  >"$work/index.out" 2>&1 || fail "sketch-trainer index: $(cat "$work/index.out")"
grep -q "unseen classes" "$work/index.out" || fail "no mAP report: $(cat "$work/index.out")"
rm -rf "$work/bundle" && mv "$work/gallery" "$work/bundle"
e2e_start_server
step "search with drawings"
"$gallery" --target "$target" --drawings "$data/simplified-25/axe.ndjson" --unseen-word axe ||
  fail "drawings"
e2e_stop_server

step "index a whitened gallery"
"$trainer" index --model "$work/model" --input "$data/simplified-25" \
  --input "$data/simplified/cat.ndjson" --out "$work/whitened" --whiten 16 --no-drawings -q \
  >"$work/whitened.out" 2>&1 || fail "sketch-trainer index --whiten: $(cat "$work/whitened.out")"
grep -q "whitened (16-d) features" "$work/whitened.out" || fail "report: $(cat "$work/whitened.out")"
e2e_bundle=$work/whitened e2e_start_server
grep -q "whitened (16-d) indexed" "$work/server.out" || fail "server: $(cat "$work/server.out")"
step "live mAP of the whitened gallery"
sketch map "$data"/simplified-25/*.ndjson "$data/simplified/cat.ndjson" --expect-offline \
  --tolerance 1e-4 -q >"$work/map.out" 2>&1 || fail "sketch map: $(cat "$work/map.out")"
grep -q "matches the bundle's offline mAP" "$work/map.out" || fail "map: $(cat "$work/map.out")"
e2e_stop_server
step "passed"
