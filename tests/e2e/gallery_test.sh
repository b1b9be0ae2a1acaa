#!/usr/bin/env bash
# A gallery end to end: a tiny model (lib.sh) indexes drawings of words it never saw
# (sketch-trainer index), sketch-server serves the gallery bundle, and searches with
# include_drawings get back the very drawings that were indexed (sketch_gallery_client).
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
step "passed"
