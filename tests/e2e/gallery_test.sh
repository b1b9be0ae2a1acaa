#!/usr/bin/env bash
# A gallery end to end: a tiny model (lib.sh) indexes drawings of words it never saw
# (sketch-trainer index), sketch-server serves the gallery bundle, and searches with
# include_drawings get back the very drawings that were indexed (sketch_gallery_client). Then the
# same drawings as a whitened gallery (--whiten): the server whitens each query as the rows were,
# so `sketch map` over them equals the mAP `index` measured offline; and as a gallery whose
# queries are expanded (--query-expansion): the server expands each query as `index` did.
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

# Indexes the drawings again into $work/<name> with the extra index flags "${@:3}", checks that
# the report and the server's start-up line both say "$2", and that `sketch map` over the
# served gallery equals the mAP `index` measured offline.
check_gallery_variant() {
  local name=$1 says=$2
  shift 2
  step "index a gallery: $*"
  "$trainer" index --model "$work/model" --input "$data/simplified-25" \
    --input "$data/simplified/cat.ndjson" --out "$work/$name" --no-drawings -q "$@" \
    >"$work/$name.out" 2>&1 || fail "sketch-trainer index $*: $(cat "$work/$name.out")"
  grep -q "$says" "$work/$name.out" || fail "report: $(cat "$work/$name.out")"
  e2e_bundle=$work/$name e2e_start_server
  grep -q "$says" "$work/server.out" || fail "server: $(cat "$work/server.out")"
  step "live mAP of the $name gallery"
  sketch map "$data"/simplified-25/*.ndjson "$data/simplified/cat.ndjson" --expect-offline \
    --tolerance 1e-4 -q >"$work/map.out" 2>&1 || fail "sketch map: $(cat "$work/map.out")"
  grep -q "matches the bundle's offline mAP" "$work/map.out" || fail "map: $(cat "$work/map.out")"
  e2e_stop_server
}

check_gallery_variant whitened "whitened (16-d)" --whiten 16
check_gallery_variant expanded "queries expanded with 3 neighbours" --query-expansion 3
step "passed"
