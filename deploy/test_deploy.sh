#!/usr/bin/env bash
# End-to-end test of the Compose deployment, for real: builds the image, runs the one-shot
# trainer on the bundled sample, starts $SKETCH_REPLICAS (3) sketch-server replicas and waits (at
# most $SKETCH_DEPLOY_HEALTH_TIMEOUT_S, 300 s) for every one to be healthy, checks that every
# replica runs hardened (read-only root, no capabilities, no-new-privileges, and the memory, pids
# and CPU limits deploy/compose.yaml sets: check_hardening), runs the `client` profile (`sketch
# map` over dns:/// round-robin; it exits 0 only when the live mAP equals the trainer's offline
# mAP), checks that every replica served a share of the requests, runs
# `sketch map` again from outside Compose when build/release/client/sketch exists and compares,
# checks the HTTP port (the drawing page and /v1/info through replica 1's published port, with
# curl), prints the image size, and tears the stack down (volumes included). Exits 0 only on PASS.
#
#   deploy/test_deploy.sh            (root on machines without a Docker engine: it uses podman)
#   SKETCH_DEPLOY_START_DELAY_S=40 deploy/test_deploy.sh     a server slow to start (still passes)
#   SKETCH_DEPLOY_START_DELAY_S=600 SKETCH_DEPLOY_HEALTH_TIMEOUT_S=60 deploy/test_deploy.sh
#                                    never healthy in time: fails after 60 s, with states and logs
#   SKETCH_DEPLOY_TLS=1 deploy/test_deploy.sh    the same over TLS with a bearer token, through
#                                    deploy/compose.tls.yaml's file secrets (a CA, a server
#                                    certificate and a token made with openssl in a temporary
#                                    folder), and checks that a plaintext call and a call without a
#                                    token are refused; SKETCH_DEPLOY_TLS=mtls adds
#                                    deploy/compose.mtls.yaml (client certificates) and checks that
#                                    a call without one is refused
#   SKETCH_DEPLOY_PUBLISH=1 deploy/test_deploy.sh  then a hot swap: a second bundle (the same
#                                    model bundled again without the training-set pass: another
#                                    hash) published through the `publish` profile
#                                    (deploy/publish_bundle.sh re-points `current`); every replica
#                                    must report its hash in GetInfo within
#                                    $SKETCH_DEPLOY_PUBLISH_TIMEOUT_S (120 s), and /v1/info over
#                                    HTTP too. Plaintext only (SKETCH_DEPLOY_TLS=0): each replica
#                                    is asked from inside, where there is no client token
#   SKETCH_DEPLOY_FAULT=1 deploy/test_deploy.sh  then a fault run: `sketch map` over the replicas,
#                                    one replica killed mid-run; it must still end with the
#                                    offline mAP, after re-sending the batches the kill failed
#   SKETCH_DEPLOY_BUILD=0 ...        no build: run the image $SKETCH_IMAGE as it is
#
# Uses a Docker engine when one answers, else podman + Debian's docker-compose
# (deploy/podman_engine.sh). SKETCH_BASE_IMAGE, when set (podman_engine.sh sets it to its local
# debootstrapped image, as no registry is reachable there), replaces the Dockerfile's
# digest-pinned base image (--build-arg BASE_IMAGE=...). Training is cut to 2 epochs: this tests
# the plumbing, not quality.
# tests/deploy/podman_engine_test.sh runs this script against fake engines.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=${SKETCH_COMPOSE_PROJECT:-sketchdeploytest}
REPLICAS=${SKETCH_REPLICAS:-3}
HEALTH_TIMEOUT_S=${SKETCH_DEPLOY_HEALTH_TIMEOUT_S:-300}
export SKETCH_DEPLOY_START_DELAY_S=${SKETCH_DEPLOY_START_DELAY_S:-0}
export SKETCH_IMAGE=${SKETCH_IMAGE:-sketchsearch:test}
export SKETCH_TRAIN_FLAGS=${SKETCH_TRAIN_FLAGS:---recipe default --epochs 2}
# empty: an ephemeral loopback port per replica
export SKETCH_GRPC_PORT='' SKETCH_METRICS_PORT='' SKETCH_HTTP_PORT=''
TLS=${SKETCH_DEPLOY_TLS:-0}
FAULT=${SKETCH_DEPLOY_FAULT:-0}
PUBLISH=${SKETCH_DEPLOY_PUBLISH:-0}
PUBLISH_TIMEOUT_S=${SKETCH_DEPLOY_PUBLISH_TIMEOUT_S:-120}
BUILD=${SKETCH_DEPLOY_BUILD:-1}
# The fault run's `sketch map` flags: one query per call, so that the run lasts long enough (a few
# hundred calls) to be cut into by the kill.
FAULT_MAP_FLAGS=${SKETCH_DEPLOY_FAULT_MAP_FLAGS:---batch 1 --concurrency 4}
case $TLS in 0 | 1 | mtls) ;; *) echo "test_deploy: SKETCH_DEPLOY_TLS is 0, 1 or mtls, not '$TLS'" >&2; exit 2 ;; esac
if [ "$PUBLISH" != 0 ] && [ "$TLS" != 0 ]; then
  echo "test_deploy: SKETCH_DEPLOY_PUBLISH needs SKETCH_DEPLOY_TLS=0 (each replica's GetInfo is" \
    "asked from inside it, where there is no client token)" >&2
  exit 2
fi
WORK=$(mktemp -d)
ENGINE=
C=()
log() { echo "== test_deploy: $*"; }
fail() { echo "test_deploy: FAIL: $*" >&2; exit 1; }

# On any exit: tear the stack down and stop what start_podman_engine started, and keep the exit
# status the script had (none of the clean-up's own failures may turn a PASS into a failure, nor
# the reverse).
cleanup() {
  local status=$?
  set +e
  ((${#C[@]} == 0)) || "${C[@]}" --profile client down -v --remove-orphans >/dev/null 2>&1
  [ "$ENGINE" != podman ] || stop_podman_engine
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT  # so that Ctrl-C and kill tear the stack down too
trap 'exit 143' TERM

if docker info >/dev/null 2>&1; then
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
  ENGINE=docker
else
  log "no Docker engine answers: podman + docker-compose"
  # shellcheck source=deploy/podman_engine.sh
  source deploy/podman_engine.sh
  ENGINE=podman
  start_podman_engine
  COMPOSE=(docker-compose)
fi
COMPOSE_FILES=(-f deploy/compose.yaml)

# SKETCH_DEPLOY_TLS: the files deploy/compose.tls.yaml (and compose.mtls.yaml) take as secrets,
# made here as docs/deploy.md ("TLS and tokens") says: a CA, a server certificate for
# sketch-server (and localhost, 127.0.0.1), a random token; for mtls a client certificate from the
# same CA. Keys and tokens are readable by the image's user (uid 10001) only, where chown works.
make_tls_files() {
  local dir=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=sketchsearch test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=sketch-server" -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:sketch-server,DNS:localhost,IP:127.0.0.1" \
      "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=sketch-client" -keyout client.key -out client.csr 2>/dev/null
    printf '%s\n' "extendedKeyUsage=clientAuth" > client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out client.crt 2>/dev/null
    cp ca.crt client-ca.crt
    openssl rand -hex 32 > token
    { echo "# one token a line"; cat token; } > tokens
    rm -f ca.key ./*.csr ./*.ext ./*.srl
    chmod 0444 ./*.crt
    chmod 0400 server.key client.key token tokens
    chown 10001:10001 server.key client.key token tokens 2>/dev/null || chmod 0444 server.key client.key token tokens
  ) || fail "could not make the TLS files with openssl"
}
if [ "$TLS" != 0 ]; then
  export SKETCH_SECRETS_DIR=$WORK/secrets
  make_tls_files "$SKETCH_SECRETS_DIR"
  COMPOSE_FILES+=(-f deploy/compose.tls.yaml)
  [ "$TLS" != mtls ] || COMPOSE_FILES+=(-f deploy/compose.mtls.yaml)
  # The HTTP checks' token, as a header file for curl (-H @file): never on a command line.
  (umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$SKETCH_SECRETS_DIR/token")" \
    > "$WORK/http-auth")
  log "TLS ($TLS): secrets made in $SKETCH_SECRETS_DIR; compose files ${COMPOSE_FILES[*]}"
fi
C=("${COMPOSE[@]}" "${COMPOSE_FILES[@]}" -p "$PROJECT")

# "running/healthy", "running/starting", "exited", ... for container $1 (docker and podman both:
# the first "Status" of .State is the container's, the next its health check's).
replica_state() {
  local state
  state=$($ENGINE inspect --format '{{json .State}}' "$1" 2>/dev/null) || { echo gone; return 0; }
  grep -o '"Status":"[a-z]*"' <<<"$state" | cut -d'"' -f4 | paste -sd/ -
}

# The output of container $1's latest health check (its first line, up to an escaped quote).
last_health_check() {
  $ENGINE inspect --format '{{json .State}}' "$1" 2>/dev/null |
    grep -o '"Output":"[^"]*"' | tail -1 | cut -d'"' -f4 | sed 's/\\n.*//' || true
}

# Waits until all $REPLICAS sketch-server replicas are healthy, for at most $1 seconds. Fails at
# once when one exits or turns unhealthy, else at the deadline, printing each replica's state
# and latest health-check output, and the servers' logs.
wait_for_healthy_replicas() {
  local timeout_s=$1 start=$SECONDS i id state healthy problem
  local -a ids states
  while :; do
    mapfile -t ids < <("${C[@]}" ps -q sketch-server 2>/dev/null)
    healthy=0 problem='' states=()
    for id in "${ids[@]}"; do
      state=$(replica_state "$id")
      states+=("$state")
      case $state in
        running/healthy) healthy=$((healthy + 1)) ;;
        running/starting | running) ;;
        *) problem="replica ${id:0:12} is $state" ;;
      esac
    done
    if [ "${#ids[@]}" -eq "$REPLICAS" ] && [ "$healthy" -eq "$REPLICAS" ]; then
      log "all $REPLICAS replicas healthy after $((SECONDS - start)) s"
      return 0
    fi
    if [ -z "$problem" ] && ((SECONDS - start >= timeout_s)); then
      problem="$healthy of $REPLICAS replicas healthy after ${timeout_s} s (SKETCH_DEPLOY_HEALTH_TIMEOUT_S)"
    fi
    if [ -n "$problem" ]; then
      echo "test_deploy: sketch-server replicas (container/health state, latest health check):" >&2
      for i in "${!ids[@]}"; do
        echo "  ${ids[i]:0:12}: ${states[i]}, \"$(last_health_check "${ids[i]}")\"" >&2
      done
      echo "test_deploy: sketch-server logs (last 30 lines):" >&2
      "${C[@]}" logs --tail 30 sketch-server >&2 2>/dev/null
      fail "$problem"
    fi
    sleep 2
  done
}

# A Compose memory size in bytes: 1g, 1024m and 1073741824 all give 1073741824 (docker-compose 1.x
# prints the file's units, Compose v2 bytes).
to_bytes() {
  awk -v s="$1" 'BEGIN {
    u = tolower(s); n = u + 0; sub(/^[0-9.]+/, "", u)
    m = u ~ /^k/ ? 1024 : u ~ /^m/ ? 1048576 : u ~ /^g/ ? 1073741824 : 1
    printf "%.0f\n", n * m }'
}

# The sketch-server service's limits as Compose resolves deploy/compose.yaml (with this
# environment): "MEMORY_BYTES MEMSWAP_BYTES PIDS NANO_CPUS", each 0 where the file sets none.
server_limits() {
  local mem swap pids cpus
  read -r mem swap pids cpus < <("${C[@]}" config | awk '
    BEGIN { split("mem_limit: memswap_limit: pids_limit: cpus:", want, " ") }
    /^[^ ]/ { top = $1 }
    top == "services:" && /^  [^ ]/ { service = $1 }
    service == "sketch-server:" && /^    (mem_limit|memswap_limit|pids_limit|cpus):/ {
      v = $2; gsub(/["\047]/, "", v); limit[$1] = v }
    END {
      for (k in want) if (limit[want[k]] == "") limit[want[k]] = 0
      print limit["mem_limit:"], limit["memswap_limit:"], limit["pids_limit:"], limit["cpus:"] }')
  cpus=$(awk -v c="$cpus" 'BEGIN { printf "%.0f", c * 1e9 }')
  echo "$(to_bytes "$mem") $(to_bytes "$swap") $pids $cpus"
}

# Fails unless every sketch-server replica runs hardened as deploy/compose.yaml says
# (docs/deploy.md, "Limits and hardening"): what the engine was told (inspect: a read-only root
# filesystem, no-new-privileges, and memory, memory+swap, pids and CPU limits equal to the file's,
# all set) and what the container's processes got (/proc/1/status: no capability in the
# effective, permitted and bounding sets, NoNewPrivs 1; a write to the user's own home directory,
# on the root filesystem, refused as read-only).
check_hardening() {
  local expect_mem expect_swap expect_pids expect_cpus id ro mem swap pids cpus secopt inside
  local -a problems
  read -r expect_mem expect_swap expect_pids expect_cpus < <(server_limits)
  ((expect_mem > 0 && expect_pids > 0 && expect_cpus > 0)) ||
    fail "deploy/compose.yaml sets no memory, pids or CPU limit for sketch-server" \
      "(bytes $expect_mem, pids $expect_pids, nano-CPUs $expect_cpus)"
  # field NAME: the value of /proc/1/status's NAME line in $inside (empty if none).
  field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$inside"; }
  for id in $("${C[@]}" ps -q sketch-server); do
    problems=()
    read -r ro mem swap pids cpus secopt < <($ENGINE inspect --format '{{.HostConfig.ReadonlyRootfs}}
      {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}}
      {{.HostConfig.NanoCpus}} {{json .HostConfig.SecurityOpt}}' "$id" 2>&1 | tr '\n' ' '; echo)
    [ "$ro" = true ] || problems+=("the root filesystem is not read-only (ReadonlyRootfs $ro)")
    [ "$mem" = "$expect_mem" ] || problems+=("memory limit $mem, not $expect_mem")
    [ "$swap" = "$expect_swap" ] || problems+=("memory+swap limit $swap, not $expect_swap")
    [ "$pids" = "$expect_pids" ] || problems+=("pids limit $pids, not $expect_pids")
    [ "$cpus" = "$expect_cpus" ] || problems+=("CPU limit $cpus nano-CPUs, not $expect_cpus")
    [[ $secopt == *no-new-privileges* ]] ||
      problems+=("no no-new-privileges in SecurityOpt $secopt")
    # /home/sketch: the image's user's home, on the root filesystem, writable were it not read-only.
    inside=$($ENGINE exec "$id" sh -c 'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs):" /proc/1/status
      touch /home/sketch/.rw-probe 2>&1 && rm -f /home/sketch/.rw-probe && echo "rootfs: writable"' \
      2>&1 || true)
    [[ $(field CapEff) =~ ^0+$ ]] || problems+=("effective capabilities '$(field CapEff)'")
    [[ $(field CapPrm) =~ ^0+$ ]] || problems+=("permitted capabilities '$(field CapPrm)'")
    [[ $(field CapBnd) =~ ^0+$ ]] || problems+=("bounding capabilities '$(field CapBnd)'")
    [ "$(field NoNewPrivs)" = 1 ] || problems+=("NoNewPrivs '$(field NoNewPrivs)' in the container")
    [[ $inside == *"Read-only file system"* ]] ||
      problems+=("a write to the root filesystem was not refused as read-only")
    if ((${#problems[@]})); then
      echo "test_deploy: replica ${id:0:12}: inspect: $ro $mem $swap $pids $cpus $secopt;" \
        "inside:" >&2
      echo "    ${inside//$'\n'/$'\n'    }" >&2
      fail "replica ${id:0:12} is not hardened as deploy/compose.yaml says:" \
        "$(printf '%s; ' "${problems[@]}" | sed 's/; $//')"
    fi
  done
  log "hardening: every replica has a read-only root, no capabilities, no-new-privileges, memory" \
    "$((expect_mem / 1048576)) MiB (memory+swap $((expect_swap / 1048576)) MiB), pids $expect_pids," \
    "CPUs $(awk -v c="$expect_cpus" 'BEGIN { print c / 1e9 }')"
}

if [ "$BUILD" = 0 ]; then
  log "no build (SKETCH_DEPLOY_BUILD=0): the image $SKETCH_IMAGE as it is"
  $ENGINE image inspect "$SKETCH_IMAGE" >/dev/null 2>&1 || fail "no image $SKETCH_IMAGE to run"
else
  log "build${SKETCH_BASE_IMAGE:+ (base image $SKETCH_BASE_IMAGE)}"
  SECONDS=0
  build_args=()
  [ -z "${SKETCH_BASE_IMAGE:-}" ] || build_args=(--build-arg "BASE_IMAGE=$SKETCH_BASE_IMAGE")
  "${C[@]}" build "${build_args[@]}" trainer
  log "built in ${SECONDS}s"
fi
log "image $SKETCH_IMAGE: $($ENGINE image inspect "$SKETCH_IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
if $ENGINE run --rm "$SKETCH_IMAGE" sh -c 'command -v g++ cc c++ cmake ninja; ls /src' 2>/dev/null | grep -q .; then
  fail "the final image holds a compiler or a build tree"
fi

log "trainer, then $REPLICAS sketch-server replicas (start-up delay ${SKETCH_DEPLOY_START_DELAY_S} s)"
SECONDS=0
"${C[@]}" up -d --scale sketch-server="$REPLICAS" sketch-server
log "trainer done, replicas started in ${SECONDS}s: waiting for health (at most ${HEALTH_TIMEOUT_S} s)"
wait_for_healthy_replicas "$HEALTH_TIMEOUT_S"
check_hardening

log "the client profile"
set +e
"${C[@]}" --profile client up --scale sketch-server="$REPLICAS" --exit-code-from client client \
  | tee "$WORK/up.log"
client_status=${PIPESTATUS[0]}
set -e
[ "$client_status" -eq 0 ] || { "${C[@]}" logs --tail 50; fail "the client exited $client_status"; }
inside=$(grep -o 'mAP [0-9.]* over [0-9]* queries' "$WORK/up.log" | head -1)
[ -n "$inside" ] || fail "no mAP in the client's output"
log "inside Compose: $inside (matched the bundle's offline mAP)"

# The SearchBatch calls replica $1 (its Compose index) has served: sketchsearch_requests_total.
replica_requests() {
  "${C[@]}" exec -T --index="$1" sketch-server bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
    awk '/^sketchsearch_requests_total\{.*method="SearchBatch"/ {n += $2} END {print n + 0}'
}

log "requests per replica (sketchsearch_requests_total, method SearchBatch)"
for i in $(seq 1 "$REPLICAS"); do
  served=$(replica_requests "$i")
  echo "  replica $i: $served SearchBatch calls"
  [ "$served" -gt 0 ] || fail "replica $i served no request: calls are not spread"
done

# The host's client, with what it needs to reach the servers over TLS (its certificate check: the
# certificate's IP:127.0.0.1), when it has the flags.
host_client=()
if [ -x build/release/client/sketch ]; then
  host_client=(build/release/client/sketch)
  if [ "$TLS" != 0 ]; then
    if build/release/client/sketch --help 2>&1 | grep -q -- --token-file; then
      host_client+=(--ca "$SKETCH_SECRETS_DIR/ca.crt" --token-file "$SKETCH_SECRETS_DIR/token")
      [ "$TLS" != mtls ] ||
        host_client+=(--cert "$SKETCH_SECRETS_DIR/client.crt" --key "$SKETCH_SECRETS_DIR/client.key")
    else
      log "build/release/client/sketch has no --token-file: no check from outside Compose"
      host_client=()
    fi
  fi
fi
if ((${#host_client[@]})); then
  port=$("${C[@]}" port --index=1 sketch-server 50051 | awk -F: '{print $NF}')
  "${C[@]}" run --rm --no-deps -T trainer cat /var/lib/sketchsearch/dataset.skds > "$WORK/dataset.skds"
  outside=$("${host_client[@]}" --target "127.0.0.1:$port" map \
    --dataset "$WORK/dataset.skds" --quiet --expect-offline | grep -o 'mAP [0-9.]* over [0-9]* queries')
  log "outside Compose (127.0.0.1:$port): $outside"
  [ "${inside%% over*}" = "${outside%% over*}" ] || fail "inside ($inside) != outside ($outside)"
fi

# GETs path $1 through replica 1's published HTTP port ($HTTP_PORT), as a user of the page would:
# over HTTPS with the token (and, for mtls, the client certificate) under SKETCH_DEPLOY_TLS. The
# body goes to stdout; curl's exit status is the function's (non-zero for an HTTP error too).
http_get() {
  local scheme=http
  local -a args=(-fsS --max-time 10)
  if [ "$TLS" != 0 ]; then
    scheme=https
    args+=(--cacert "$SKETCH_SECRETS_DIR/ca.crt" -H "@$WORK/http-auth")
    [ "$TLS" != mtls ] ||
      args+=(--cert "$SKETCH_SECRETS_DIR/client.crt" --key "$SKETCH_SECRETS_DIR/client.key")
  fi
  curl "${args[@]}" "$scheme://127.0.0.1:$HTTP_PORT$1"
}

# The bundleHash of a GetInfoResponse in JSON on stdin (empty if none).
json_bundle_hash() { sed -n 's/.*"bundleHash": *"\([^"]*\)".*/\1/p' | head -1; }

# The HTTP/JSON API and the drawing page (sketch-server --http-port, which deploy/compose.yaml
# publishes on the host's loopback): the image must carry web/ (SKETCH_WEB_ROOT) for GET / to be
# the page, and GET /v1/info must answer with the loaded bundle's hash.
log "HTTP: the drawing page and /v1/info through replica 1's published HTTP port"
command -v curl >/dev/null || fail "the HTTP checks need curl on this host"
HTTP_PORT=$("${C[@]}" port --index=1 sketch-server 8080 | awk -F: '{print $NF}' || true)
[ -n "$HTTP_PORT" ] || fail "replica 1 publishes no HTTP port (container port 8080)"
page=$(http_get /) || fail "GET / (the drawing page) through 127.0.0.1:$HTTP_PORT failed"
[[ $page == *"<title>sketchsearch"* ]] ||
  fail "GET / through 127.0.0.1:$HTTP_PORT is not the drawing page (web/ missing from the image?): ${page:0:200}"
info=$(http_get /v1/info) || fail "GET /v1/info through 127.0.0.1:$HTTP_PORT failed"
http_hash=$(json_bundle_hash <<<"$info")
[[ $http_hash =~ ^[0-9a-f]{64}$ ]] || fail "GET /v1/info: no bundleHash in ${info:0:300}"
log "HTTP (127.0.0.1:$HTTP_PORT): the drawing page at /, /v1/info names bundle ${http_hash:0:16}"

# refused NAME EXPECTED_STATUS PATTERN -e VAR= ... -- SKETCH_ARGS...: runs `sketch SKETCH_ARGS`
# in the client service (its secrets and environment, less the variables the -e options empty) and
# fails unless it exits EXPECTED_STATUS with PATTERN in its output.
refused() {
  local name=$1 expected=$2 pattern=$3 status out
  shift 3
  local -a env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  set +e
  out=$("${C[@]}" --profile client run --rm --no-deps -T "${env[@]}" client sketch "$@" 2>&1)
  status=$?
  set -e
  echo "  $name: exit $status: $(grep -m1 -iE 'error|status|unavail|unauth|fail' <<<"$out" || tail -1 <<<"$out")"
  if [ "$status" != "$expected" ] || ! grep -qiE "$pattern" <<<"$out"; then
    fail "$name: expected exit $expected and /$pattern/, got exit $status: $out"
  fi
}
if [ "$TLS" != 0 ]; then
  log "TLS: calls without TLS, a token or (mtls) a client certificate are refused"
  once=(--retries 0 --deadline-ms 5000 --target sketch-server:50051)
  refused "plaintext call" 4 unavailable -e SKETCH_CA= -e SKETCH_CERT= -e SKETCH_KEY= -- \
    "${once[@]}" info
  refused "call without a token" 3 unauthenticated -e SKETCH_TOKEN_FILE= -- "${once[@]}" info
  [ "$TLS" != mtls ] ||
    refused "call without a client certificate" 4 unavailable -e SKETCH_CERT= -e SKETCH_KEY= -- \
      "${once[@]}" info
  refused "call with TLS and the token (control)" 0 . -- "${once[@]}" info
fi

# The bundle hash replica $1 (its Compose index) reports in GetInfo, asked from inside it as
# replica_requests asks its metrics (plaintext, no token: hence PUBLISH needs TLS off); empty when
# it does not answer.
replica_bundle_hash() {
  "${C[@]}" exec -T --index="$1" sketch-server \
    sketch --target 127.0.0.1:50051 --deadline-ms 5000 info 2>/dev/null |
    sed -n 's/^bundle hash *//p' || true
}

# Waits until every replica reports bundle $1 in GetInfo, for at most $2 seconds; past that fails,
# naming what each replica reports, with the servers' logs (a refused bundle says why there).
wait_for_bundle() {
  local want=$1 timeout_s=$2 start=$SECONDS i hash behind
  local -a seen
  while :; do
    behind=0 seen=()
    for i in $(seq 1 "$REPLICAS"); do
      hash=$(replica_bundle_hash "$i")
      seen+=("replica $i: ${hash:-no answer}")
      [ "$hash" = "$want" ] || behind=$((behind + 1))
    done
    if ((behind == 0)); then
      log "publish: all $REPLICAS replicas serve ${want:0:16} after $((SECONDS - start)) s"
      return 0
    fi
    if ((SECONDS - start >= timeout_s)); then
      echo "test_deploy: GetInfo bundle_hash per replica (want $want):" >&2
      printf '  %s\n' "${seen[@]}" >&2
      echo "test_deploy: sketch-server logs (last 30 lines):" >&2
      "${C[@]}" logs --tail 30 sketch-server >&2 2>/dev/null
      fail "publish: $behind of $REPLICAS replicas did not switch to the published bundle" \
        "${want:0:16} within ${timeout_s} s (SKETCH_DEPLOY_PUBLISH_TIMEOUT_S)"
    fi
    sleep 2
  done
}

# SKETCH_DEPLOY_PUBLISH: a hot swap across the replicas. A second bundle, the same model bundled
# again without the training-set pass (fewer metrics in its manifest, so another hash), is made in
# the state volume and copied out to the host, then published as an operator would: the `publish`
# profile (deploy/publish_bundle.sh) copies it back in and re-points `current`, and each replica's
# --watch swaps it in. Every replica must then report its hash, and so must /v1/info over HTTP.
publish_run() {
  local arch=${SKETCH_ARCH:-sknet} staging=/var/lib/sketchsearch/staging old new served
  old=$(replica_bundle_hash 1)
  [ -n "$old" ] || fail "publish: replica 1 reports no bundle hash (sketch info)"
  log "publish: a second bundle (the $arch model bundled again, --no-train-eval); serving ${old:0:16}"
  local make="rm -rf $staging && mkdir -p $staging && sketch-trainer bundle"
  make+=" --model /var/lib/sketchsearch/$arch --dataset /var/lib/sketchsearch/dataset.skds"
  make+=" --out $staging/bundle --no-train-eval --quiet"
  "${C[@]}" run --rm --no-deps -T trainer sh -c "$make" > "$WORK/bundle2.log" 2>&1 ||
    fail "publish: the second bundle failed: $(tail -20 "$WORK/bundle2.log")"
  mkdir -p "$WORK/new"
  "${C[@]}" run --rm --no-deps -T trainer tar -C "$staging" -c bundle | tar -C "$WORK/new" -x ||
    fail "publish: could not copy the second bundle out of the state volume"
  [ -f "$WORK/new/bundle/manifest.json" ] || fail "publish: the second bundle has no manifest.json"
  chmod -R a+rX "$WORK/new"  # the publish container reads it as uid 10001
  new=$(sha256sum <"$WORK/new/bundle/manifest.json" | cut -c1-64)
  [ "$new" != "$old" ] || fail "publish: the second bundle has the serving one's hash ($old)"
  SKETCH_NEW_BUNDLE=$WORK/new/bundle "${C[@]}" --profile publish run --rm --no-deps -T publish ||
    fail "publish: the publish service failed"
  log "publish: published ${new:0:16}; every replica must serve it within $PUBLISH_TIMEOUT_S s"
  wait_for_bundle "$new" "$PUBLISH_TIMEOUT_S"
  info=$(http_get /v1/info) || fail "publish: GET /v1/info through 127.0.0.1:$HTTP_PORT failed"
  served=$(json_bundle_hash <<<"$info")
  [ "$served" = "$new" ] || fail "publish: GET /v1/info names bundle '$served', not the published $new"
  log "publish: GET /v1/info over HTTP names ${new:0:16} too"
}
# Before the fault run, which leaves a replica dead.
[ "$PUBLISH" = 0 ] || publish_run

# SKETCH_DEPLOY_FAULT: `sketch map` over every replica (dns:/// round robin, as the client
# profile) while one replica is killed (SIGKILL: no drain, its calls in flight fail UNAVAILABLE).
# The client must re-send the failed batches to the others and end with the offline mAP.
fault_run() {
  local victim=$REPLICAS before now id killed_at status start retry line
  log "fault run: sketch map $FAULT_MAP_FLAGS over $REPLICAS replicas; replica $victim killed mid-run"
  before=$(replica_requests "$victim")
  start=$SECONDS
  # shellcheck disable=SC2086  # FAULT_MAP_FLAGS: several flags
  "${C[@]}" --profile client run --rm --no-deps -T client sketch \
    --target dns:///sketch-server:50051 map --dataset /var/lib/sketchsearch/dataset.skds \
    $FAULT_MAP_FLAGS --quiet --expect-offline > "$WORK/fault.log" 2>&1 &
  local client=$!
  # Under way once the victim serves calls again: kill it then.
  while now=$(replica_requests "$victim"); ((now <= before)); do
    kill -0 "$client" 2>/dev/null || break
    ((SECONDS - start < 120)) || fail "fault run: replica $victim served no call in 120 s"
    sleep 0.2
  done
  kill -0 "$client" 2>/dev/null ||
    fail "fault run: the map ended before the kill (make it longer: SKETCH_DEPLOY_FAULT_MAP_FLAGS): $(cat "$WORK/fault.log")"
  for id in $("${C[@]}" ps -q sketch-server); do
    [ "$($ENGINE inspect --format '{{index .Config.Labels "com.docker.compose.container-number"}}' "$id")" = "$victim" ] || continue
    $ENGINE kill "$id" >/dev/null
    killed_at=$((SECONDS - start))
  done
  [ -n "${killed_at:-}" ] || fail "fault run: no container for replica $victim"
  kill -0 "$client" 2>/dev/null && line="the map still running" || line="the map already ended"
  log "fault run: killed replica $victim ($now calls served, $((now - before)) of them this run) ${killed_at}s in, $line"
  set +e
  wait "$client"
  status=$?
  set -e
  sed 's/^/  | /' "$WORK/fault.log"
  log "fault run: the client exited $status after $((SECONDS - start))s"
  [ "$status" -eq 0 ] || fail "fault run: the client exited $status"
  line=$(grep -o 'mAP [0-9.]* over [0-9]* queries' "$WORK/fault.log" | head -1)
  [ -n "$line" ] || fail "fault run: no mAP in the client's output"
  [ "${inside%% over*}" = "${line%% over*}" ] || fail "fault run: $line, not ${inside%% over*} as before"
  retry=$(grep -m1 -o 'retried [0-9]* batch.*' "$WORK/fault.log" || true)
  [ -n "$retry" ] || fail "fault run: the client re-sent no batch: the kill did not cut into the run"
  log "fault run: $line (the offline mAP) with one of $REPLICAS replicas killed; $retry"
}
[ "$FAULT" = 0 ] || fault_run
log "PASS"
