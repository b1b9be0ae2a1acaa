# Shared by the end-to-end tests (sourced): a work directory cleaned up on exit, a tiny trained
# bundle made by the real programs, and a sketch-server on 127.0.0.1 port 0 waited on until it
# is SERVING. Callers set `trainer`, `server`, `client` and `data` first.
#   KEEP_WORK=1 keeps the work directory (printed) for a look afterwards.

work=$(mktemp -d "${TMPDIR:-/tmp}/sketch_e2e.XXXXXX")
server_pid=
started=$SECONDS

e2e_cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "work directory: $work"; else rm -rf "$work"; fi
}
trap e2e_cleanup EXIT

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

# $work/dataset.skds, $work/model and $work/bundle: five classes, 32 px, a handful of steps (a
# weak but real model, trained, saved and bundled by the programs). Sets offline_map.
e2e_make_bundle() {
  step "prepare"
  "$trainer" prepare --input "$data/simplified" --output "$work/dataset.skds" -q --seed 7 \
    --classes airplane,cat,eye,guitar,television --train 60 --test 20 >/dev/null
  step "train"
  "$trainer" train --dataset "$work/dataset.skds" --out "$work/model" --input-size 32 --batch 16 \
    --max-steps 12 --threads 2 --precision fp32 --checkpoint-every 0 -q >/dev/null
  step "bundle"
  "$trainer" bundle --model "$work/model" --dataset "$work/dataset.skds" --out "$work/bundle" \
    --no-train-eval -q >"$work/bundle.out" 2>&1 ||
    fail "sketch-trainer bundle: $(cat "$work/bundle.out")"
  offline_map=$(json_number map <"$work/bundle/manifest.json")
  [[ -n $offline_map ]] || fail "no metrics.map in the manifest"
}

# Starts sketch-server on $work/bundle (or $e2e_bundle when set) with extra flags "$@", waits for SERVING. Sets server_pid,
# target (127.0.0.1:PORT), metrics (127.0.0.1:PORT) and defines `sketch` (the client on target).
e2e_start_server() {
  step "start sketch-server"
  "$server" --bundle "${e2e_bundle:-$work/bundle}" --host 127.0.0.1 --port 0 --metrics-port 0 --threads 2 \
    --drain-timeout-s 5 "$@" >"$work/server.out" 2>"$work/server.err" &
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
  local rc
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
}

# SIGTERM, and the server must exit 0 after draining.
e2e_stop_server() {
  step "SIGTERM"
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=
  [[ $rc == 0 ]] || fail "sketch-server exited $rc after SIGTERM"
}
