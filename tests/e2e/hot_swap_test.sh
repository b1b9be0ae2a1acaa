#!/usr/bin/env bash
# Hot bundle swaps against the real sketch-server (issue 11): two real bundles that answer
# differently (one model, indexes of two different test splits: the searches tell them apart),
# published in turn to a
# `current` symlink by deploy/publish_bundle.sh. sketch_hot_swap_client records each bundle's
# answers, then queries continuously while the server swaps five times (watch and SIGHUP) and is
# handed a corrupt bundle; no call may fail, every answer must be the recorded one of the bundle
# its trailer names, the corrupt bundle must be refused (reloads failed=1) with the old one
# serving on, and health must stay SERVING.
#
# usage: hot_swap_test.sh SKETCH_TRAINER SKETCH_SERVER SKETCH SKETCH_HOT_SWAP_CLIENT DATA_DIR
set -euo pipefail

trainer=$1 server=$2 client=$3 hot_swap=$4 data=$5
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
publish="$(dirname "$0")/../../deploy/publish_bundle.sh"

e2e_make_bundle  # $work/bundle, from $work/model
step "a second bundle: the same model over another test split"
"$trainer" prepare --input "$data/simplified" --output "$work/dataset_b.skds" -q --seed 8 \
  --classes airplane,cat,eye,guitar,television --train 60 --test 20 >/dev/null
"$trainer" bundle --model "$work/model" --dataset "$work/dataset_b.skds" --out "$work/bundle_b" \
  --no-train-eval -q >"$work/bundle_b.out" 2>&1 || fail "bundle b: $(cat "$work/bundle_b.out")"
# A corrupt copy of the second bundle: its weights no longer match the manifest's SHA-256.
cp -R "$work/bundle_b" "$work/corrupt"
printf 'X' | dd of="$work/corrupt/model.pt" bs=1 seek=100 conv=notrunc status=none
hash_a=$(sha256sum <"$work/bundle/manifest.json" | cut -c1-64)
hash_b=$(sha256sum <"$work/bundle_b/manifest.json" | cut -c1-64)
[[ $hash_a != "$hash_b" ]] || fail "the two bundles have one hash"

mkdir "$work/live"
"$publish" "$work/bundle" "$work/live" a >/dev/null
# The watch looks every 2 s: a SIGHUP sent right after a flip is nearly always first.
e2e_bundle=$work/live/current e2e_start_server --watch --watch-interval-s 2

serving() { sketch info | sed -n 's/^bundle hash *//p'; }
# Waits until the server reports bundle $1 (30 s at most).
wait_serving() {
  for _ in $(seq 1 300); do
    [[ $(serving) == "$1" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "sketch-server exited"
    sleep 0.1
  done
  fail "never serving ${1:0:12} (serving $(serving))"
}
reloads() { # the reloads counter for result $1
  curl -fsS "http://$metrics/metrics" | sed -n "s/^sketchsearch_bundle_reloads_total{result=\"$1\"} //p"
}
# Publishes bundle dir $1 as NAME $2, then swaps by "watch" or "sighup" ($3).
swap_to() {
  "$publish" "$1" "$work/live" "$2" >/dev/null
  [[ $3 == sighup ]] && kill -HUP "$server_pid"
  return 0
}

step "record each bundle's answers"
"$hot_swap" --target "$target" --data "$data/simplified" --record "$work/expected" ||
  fail "recording bundle a"
swap_to "$work/bundle_b" b sighup
wait_serving "$hash_b"
"$hot_swap" --target "$target" --data "$data/simplified" --record "$work/expected" ||
  fail "recording bundle b"
swap_to "$work/bundle" a sighup
wait_serving "$hash_a"
ok_before=$(reloads ok)

step "clients query while the server swaps five times and refuses a corrupt bundle"
"$hot_swap" --target "$target" --data "$data/simplified" --expected "$work/expected" \
  --until-file "$work/stop" --clients 4 >"$work/client.out" 2>&1 &
client_pid=$!
sleep 1
swap_to "$work/bundle_b" b watch && wait_serving "$hash_b" && sleep 1
swap_to "$work/bundle" a sighup && wait_serving "$hash_a" && sleep 1
swap_to "$work/bundle_b" b watch && wait_serving "$hash_b" && sleep 1
swap_to "$work/bundle" a sighup && wait_serving "$hash_a" && sleep 1
swap_to "$work/corrupt" corrupt watch
for _ in $(seq 1 100); do [[ $(reloads failed) == 1 ]] && break; sleep 0.1; done
[[ $(reloads failed) == 1 ]] || fail "the corrupt bundle was not refused (failed=$(reloads failed))"
[[ $(serving) == "$hash_a" ]] || fail "not serving the old bundle after the corrupt one"
[[ $(sketch health) == SERVING ]] || fail "health left SERVING after the corrupt bundle"
sleep 1
swap_to "$work/bundle_b" b watch && wait_serving "$hash_b" && sleep 1
touch "$work/stop"
client_rc=0
wait "$client_pid" || client_rc=$?
cat "$work/client.out"
[[ $client_rc == 0 ]] || fail "the clients saw failed calls or wrong answers"

step "the server's account"
[[ $(($(reloads ok) - ok_before)) == 5 ]] || fail "$(($(reloads ok) - ok_before)) reloads ok, not 5"
[[ $(reloads failed) == 1 ]] || fail "$(reloads failed) reloads failed, not 1"
grep -q 'reload (watch) of .*: ok' "$work/server.out" || fail "no reload by the watch"
grep -q 'reload (requested) of .*: ok' "$work/server.out" || fail "no reload by SIGHUP"
grep 'reload (watch) of .*/bundles/corrupt: failed, DATA_LOSS' "$work/server.out" ||
  fail "the refused bundle's reason is not logged"
curl -fsS "http://$metrics/metrics" | grep "^sketchsearch_bundle_info{bundle_hash=\"$hash_b\"} 1" ||
  fail "sketchsearch_bundle_info does not name the bundle serving"
e2e_stop_server
step "passed"
