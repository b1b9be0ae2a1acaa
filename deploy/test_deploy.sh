#!/usr/bin/env bash
# End-to-end test of the Compose deployment, for real: builds the image, runs the one-shot
# trainer on the bundled sample, serves the bundle with $SKETCH_REPLICAS (3) sketch-server
# replicas, runs the `client` profile (`sketch map` over dns:/// round-robin; it exits 0 only when
# the live mAP equals the trainer's offline mAP), checks that every replica served a share of the
# requests, runs `sketch map` again from outside Compose when build/release/client/sketch
# exists and compares, prints the image size, and tears the stack down (volumes included).
#
#   deploy/test_deploy.sh            (root on machines without a Docker engine: it uses podman)
#
# Uses a Docker engine when one answers, else podman + Debian's docker-compose
# (deploy/podman_engine.sh). Training is cut to 2 epochs: this tests the plumbing, not quality.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=${SKETCH_COMPOSE_PROJECT:-sketchdeploytest}
REPLICAS=${SKETCH_REPLICAS:-3}
export SKETCH_IMAGE=${SKETCH_IMAGE:-sketchsearch:test}
export SKETCH_TRAIN_FLAGS=${SKETCH_TRAIN_FLAGS:---recipe default --epochs 2}
export SKETCH_GRPC_PORT= SKETCH_METRICS_PORT=  # empty: an ephemeral loopback port per replica
WORK=$(mktemp -d)
log() { echo "== test_deploy: $*"; }
fail() { echo "test_deploy: FAIL: $*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
  ENGINE=docker
else
  log "no Docker engine answers: podman + docker-compose"
  # shellcheck source=deploy/podman_engine.sh
  source deploy/podman_engine.sh
  start_podman_engine
  COMPOSE=(docker-compose)
  ENGINE=podman
fi
C=("${COMPOSE[@]}" -f deploy/compose.yaml -p "$PROJECT")
cleanup() {
  "${C[@]}" --profile client down -v --remove-orphans >/dev/null 2>&1 || true
  [ "$ENGINE" = podman ] && stop_podman_engine
  rm -rf "$WORK"
}
trap cleanup EXIT

log "build"
SECONDS=0
"${C[@]}" build trainer
log "built in ${SECONDS}s; image $SKETCH_IMAGE: $($ENGINE image inspect "$SKETCH_IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
if $ENGINE run --rm "$SKETCH_IMAGE" sh -c 'command -v g++ cc c++ cmake ninja; ls /src' 2>/dev/null | grep -q .; then
  fail "the final image holds a compiler or a build tree"
fi

log "trainer, $REPLICAS sketch-server replicas, then the client profile"
set +e
"${C[@]}" --profile client up --scale sketch-server="$REPLICAS" --exit-code-from client client \
  | tee "$WORK/up.log"
client_status=${PIPESTATUS[0]}
set -e
[ "$client_status" -eq 0 ] || { "${C[@]}" logs --tail 50; fail "the client exited $client_status"; }
inside=$(grep -o 'mAP [0-9.]* over [0-9]* queries' "$WORK/up.log" | head -1)
[ -n "$inside" ] || fail "no mAP in the client's output"
log "inside Compose: $inside (matched the bundle's offline mAP)"

log "requests per replica (sketchsearch_requests_total, method SearchBatch)"
for i in $(seq 1 "$REPLICAS"); do
  served=$("${C[@]}" exec -T --index="$i" sketch-server bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
    awk '/^sketchsearch_requests_total\{.*method="SearchBatch"/ {n += $2} END {print n + 0}')
  echo "  replica $i: $served SearchBatch calls"
  [ "$served" -gt 0 ] || fail "replica $i served no request: calls are not spread"
done

if [ -x build/release/client/sketch ]; then
  port=$("${C[@]}" port --index=1 sketch-server 50051 | awk -F: '{print $NF}')
  "${C[@]}" run --rm --no-deps -T trainer cat /var/lib/sketchsearch/dataset.skds > "$WORK/dataset.skds"
  outside=$(build/release/client/sketch --target "127.0.0.1:$port" map \
    --dataset "$WORK/dataset.skds" --quiet --expect-offline | grep -o 'mAP [0-9.]* over [0-9]* queries')
  log "outside Compose (127.0.0.1:$port): $outside"
  [ "${inside%% over*}" = "${outside%% over*}" ] || fail "inside ($inside) != outside ($outside)"
fi
log "PASS"
