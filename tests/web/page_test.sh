#!/usr/bin/env bash
# e2e.web_page: the drawing page (web/) in headless Chromium against a real sketch-server with a
# tiny real model's gallery of raw drawings and --http-port: tests/web/page_test.py replays raw Quick, Draw! drawings on
# the canvas and checks the page's guesses against gRPC Classify, results, undo, clear, the class
# filter and the phone-width layout. Screenshots land in OUT_DIR. Exit 77 (ctest: skipped) when
# Chromium, chromedriver or python3-selenium is not installed (scripts/setup.sh installs them).
#   page_test.sh TRAINER SERVER SKETCH DATA_DIR WEB_ROOT OUT_DIR
set -euo pipefail
trainer=$1 server=$2 client=$3 data=$4 web_root=$5 out_dir=$6

for need in /usr/bin/chromium /usr/bin/chromedriver; do
  [[ -x $need ]] || { echo "SKIP: $need is not installed (scripts/setup.sh installs it)"; exit 77; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
  { echo "SKIP: python3-selenium is not installed (scripts/setup.sh installs it)"; exit 77; }

source "$(dirname "$0")/../e2e/lib.sh"
e2e_make_bundle
# A gallery bundle of the raw drawings (sketch-trainer index), so that results carry their
# drawings and the page draws them as thumbnails.
step "index a gallery"
"$trainer" index --model "$work/model" --input "$data/raw" --out "$work/gallery" -q \
  >"$work/index.out" 2>&1 || fail "sketch-trainer index: $(cat "$work/index.out")"
rm -rf "$work/bundle" && mv "$work/gallery" "$work/bundle"
e2e_start_server --http-port 0 --web-root "$web_root"
http=$(sed -n 's/^sketch-server http on \([^ ]*\) (web page at \/)$/\1/p' "$work/server.out")
[[ $http =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "no 'http on ... (web page at /)' line: '$http'"

step "page test on http://$http (screenshots in $out_dir)"
rm -rf "$out_dir"
/usr/bin/python3 "$(dirname "$0")/page_test.py" "http://$http" "$client" "$target" \
  "$data/raw" "$out_dir" || fail "the page test failed"
e2e_stop_server
echo "PASS"
