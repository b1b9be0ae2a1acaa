#!/bin/bash
# Seconds from launching sketch-server on a bundle to its "serving" line (the load, the
# verification and the warm-up of every batch size), for each bundle given, one after the other
# on a loopback port; the server is stopped after each. Gives up on a bundle after 300 s.
#
#   bench/server_startup.sh out/eval/s16-sknet-r0-plain out/eval/s16-sknet-r0-rot6
#
# SKETCH_SERVER: the binary (default build/release/server/sketch-server); extra server flags
# after `--`, e.g. `-- --precision bf16`.
set -u
server=${SKETCH_SERVER:-build/release/server/sketch-server}
bundles=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do bundles+=("$1"); shift; done
[ $# -gt 0 ] && shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for bundle in "${bundles[@]}"; do
  start=$(date +%s.%N)
  "$server" --bundle "$bundle" --host 127.0.0.1 --port 0 --precision fp32 "$@" >"$log" 2>&1 &
  pid=$!
  served=0
  for _ in $(seq 1 3000); do
    if grep -q "sketch-server serving" "$log"; then served=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  end=$(date +%s.%N)
  if [ "$served" = 1 ]; then
    printf '%s: %.1f s (%s\n' "$bundle" "$(echo "$end - $start" | bc)" \
      "$(grep 'sketch-server serving' "$log" | sed 's/^[^(]*(//')"
  else
    echo "$bundle: no serving line; the server said:" >&2
    cat "$log" >&2
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
