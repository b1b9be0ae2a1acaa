#!/usr/bin/env bash
# Tests, without containers, root or podman, the parts of the deployment test that decide whether
# it ends at all and with which status: deploy/podman_engine.sh's health-check poller and
# deploy/test_deploy.sh's bounded wait for healthy replicas, its EXIT trap, its build on the local
# base image, its check of the replicas' hardening (limits, read-only root, capabilities,
# no-new-privileges), its HTTP checks and its publish run (SKETCH_DEPLOY_PUBLISH: every replica
# must switch to the new bundle in bounded time). Fake podman, docker, docker-compose and curl go
# first on PATH; they log their calls to $FAKE_LOG.
#
#   tests/deploy/podman_engine_test.sh [REPOSITORY_ROOT]          (a few seconds; ctest -L deploy)
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
T=$(mktemp -d)
POLLERS=()
finish() {
  local status=$? pid
  for pid in "${POLLERS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$T"
  exit "$status"
}
trap finish EXIT
cat > "$T/helpers.sh" <<'HELPERS'
FAILURES=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
check() {  # check DESCRIPTION COMMAND...: records whether COMMAND succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
calls() { grep -c "^podman healthcheck run" "$FAKE_LOG" 2>/dev/null || true; }
# wait_until SECONDS COMMAND...: polls COMMAND every 0.05 s until it succeeds or time is up.
wait_until() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do ((SECONDS < end)) || return 1; sleep 0.05; done
}
at_least_calls() { (($(calls) >= $1)); }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }

HELPERS
# shellcheck source=/dev/null
source "$T/helpers.sh"
mkdir -p "$T/bin" "$T/tmp"
export FAKE_LOG=$T/calls.log FAKE_DIR=$T
: > "$FAKE_LOG"
cat > "$T/bin/podman" <<'FAKE'
#!/usr/bin/env bash
# Fake podman: running containers r1 r2 r3; every health check fails (a server starting up).
echo "podman $*" >> "$FAKE_LOG"
case "$1" in
  ps) [ ! -e "$FAKE_DIR/ps_fails" ] || exit 125; printf '%s\n' r1 r2 r3 ;;
  healthcheck)
    # FAKE_KILL_POLLER: the poller dies here (its subshell is this process's parent).
    [ -z "${FAKE_KILL_POLLER:-}" ] || kill -KILL "$PPID"
    echo unhealthy; exit 1 ;;
  image) echo 987654321 ;;
  kill) echo "$2" > "$FAKE_DIR/killed" ;;  # the fault run's kill of one replica
  run) ;;  # the image holds no compiler
  build) cat "${*: -1}/Containerfile" > "$FAKE_DIR/containerfile" ;;  # the -hostca base image
  exec)  # the hardening check's look inside a replica
    if [ -n "${FAKE_WEAK:-}" ]; then
      printf 'CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t0\nrootfs: writable\n'
    else
      printf 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n'
      echo "touch: cannot touch '/home/sketch/.rw-probe': Read-only file system"
    fi ;;
  inspect)
    # The fault run's query: a replica's Compose index (r2aaaa...: 2).
    if [[ "$*" == *container-number* ]]; then id=${*: -1}; echo "${id:1:1}"; exit 0; fi
    # The hardening check's query: what deploy/compose.yaml asks for, unless FAKE_WEAK=1.
    if [[ "$*" == *HostConfig* ]]; then
      if [ -n "${FAKE_WEAK:-}" ]; then echo "false 0 0 2048 0 []"
      else echo 'true 1073741824 1073741824 512 2000000000 ["no-new-privileges"]'; fi
      exit 0
    fi
    case ${FAKE_HEALTH:-healthy} in
      exited) echo '{"Status":"exited","Running":false,"ExitCode":1}' ;;
      *) echo "{\"Status\":\"running\",\"Running\":true,\"Health\":{\"Status\":\"$FAKE_HEALTH\",\"FailingStreak\":0,\"Log\":[{\"ExitCode\":1,\"Output\":\"not serving\"}]}}" ;;
    esac ;;
  *) exit 125 ;;
esac
FAKE
cat > "$T/bin/docker" <<'FAKE'
#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_LOG"
exit 1  # no Docker engine answers
FAKE
cat > "$T/bin/curl" <<'FAKE'
#!/usr/bin/env bash
echo "curl $*" >> "$FAKE_LOG"
# The bundle a replica serves: the published one once `publish` ran, else the trainer's.
serving() { cat "$FAKE_DIR/published" 2>/dev/null || printf '0123456789abcdef%.0s' 1 2 3 4; }
case ${*: -1} in
  */_ping) ;;  # the podman API socket answers: start_podman_engine reuses it
  */v1/info) echo "{\"architecture\":\"sknet\",\"bundleHash\":\"$(serving)\",\"indexSize\":\"320\"}" ;;
  */)  # the drawing page, unless the image lacks web/ (FAKE_NO_WEB)
    if [ -n "${FAKE_NO_WEB:-}" ]; then
      echo "curl: (22) The requested URL returned error: 404" >&2; exit 22
    fi
    echo '<!doctype html><html><head><title>sketchsearch: draw</title></head></html>' ;;
  *) exit 7 ;;
esac
FAKE
cat > "$T/bin/docker-compose" <<'FAKE'
#!/usr/bin/env bash
echo "docker-compose $*" >> "$FAKE_LOG"
while [ "${1:-}" = -f ] || [ "${1:-}" = -p ] || [ "${1:-}" = --profile ]; do shift 2; done
case "$1" in
  build) ;;
  config)  # the resolved file, as docker-compose 1.29 prints it (the part the test reads)
    printf '%s\n' 'services:' '  client:' '    mem_limit: 256m' '    pids_limit: 256' \
      '  sketch-server:' '    cpus: 2.0' '    mem_limit: 1g' '    memswap_limit: 1g' \
      '    pids_limit: 512' '  trainer:' '    mem_limit: 4g' 'volumes:' '  state: {}' ;;
  up)
    case " $* " in
      *" --exit-code-from client "*)
        echo "client_1  | mAP 0.8125 over 60 queries (offline 0.8125)"
        exit "${FAKE_CLIENT_STATUS:-0}" ;;
    esac ;;
  ps) printf '%s\n' r1aaaaaaaaaaaaaa r2aaaaaaaaaaaaaa r3aaaaaaaaaaaaaa ;;
  logs) echo "sketch-server_1  | fake: loading the bundle" ;;
  port) echo "127.0.0.1:43210" ;;  # the host port of a replica's published container port
  exec)
    case " $* " in
      *" info "*)  # `sketch info` in a replica: its bundle (FAKE_STUCK_REPLICA never switches)
        index=$(grep -o -- '--index=[0-9]*' <<<"$*" | cut -d= -f2)
        hash=$(printf '0123456789abcdef%.0s' 1 2 3 4)
        if [ -s "$FAKE_DIR/published" ] && [ "$index" != "${FAKE_STUCK_REPLICA:-}" ]; then
          hash=$(cat "$FAKE_DIR/published")
        fi
        echo "bundle hash    $hash" ;;
      *)  # a replica's metrics: 20 calls, one more at each look
        n=$(($(cat "$FAKE_DIR/served" 2>/dev/null || echo 19) + 1)); echo "$n" > "$FAKE_DIR/served"
        echo "sketchsearch_requests_total{method=\"SearchBatch\",code=\"OK\"} $n" ;;
    esac ;;
  run)  # `sketch` in the client service: the TLS refusal checks and the fault run's map
    case " $* " in
      *" map "*)  # the fault run: long enough to be killed into; re-sends what the kill failed
        sleep 1
        if [ -e "$FAKE_DIR/killed" ] && [ -z "${FAKE_NO_RETRY:-}" ]; then
          echo "retried 2 batches (3 re-sends)"
        fi
        echo "mAP 0.8125 over 60 queries (offline 0.8125)" ;;
      *" SKETCH_CA= "*) echo "sketch: GetInfo failed: UNAVAILABLE: handshake failed"; exit 4 ;;
      *" SKETCH_TOKEN_FILE= "*)
        echo "sketch: GetInfo failed: UNAUTHENTICATED: no bearer token"; exit "${FAKE_NO_TOKEN_STATUS:-3}" ;;
      *" SKETCH_CERT= "*) echo "sketch: GetInfo failed: UNAVAILABLE: no client certificate"; exit 4 ;;
      *" sketch-trainer bundle "*) echo "bundle: written" ;;  # the publish run's second bundle
      *" tar "*)  # ... copied out of the state volume
        rm -rf "$FAKE_DIR/bundle_src"; mkdir -p "$FAKE_DIR/bundle_src/bundle"
        echo '{"format": "sketchsearch-bundle", "fake": 2}' > "$FAKE_DIR/bundle_src/bundle/manifest.json"
        tar -C "$FAKE_DIR/bundle_src" -c bundle ;;
      *" publish "*)  # the publish profile: the bundle in SKETCH_NEW_BUNDLE becomes `current`
        [ -f "${SKETCH_NEW_BUNDLE:-}/manifest.json" ] ||
          { echo "publish_bundle.sh: '${SKETCH_NEW_BUNDLE:-}' is not a bundle"; exit 2; }
        sha256sum < "$SKETCH_NEW_BUNDLE/manifest.json" | cut -c1-64 > "$FAKE_DIR/published"
        echo "published $SKETCH_NEW_BUNDLE" ;;
      *) echo "bundle: fake" ;;
    esac ;;
  down) exit "${FAKE_DOWN_STATUS:-0}" ;;
  *) exit 1 ;;
esac
FAKE
chmod +x "$T/bin/"*
export PATH=$T/bin:$PATH

echo "-- the poller (deploy/podman_engine.sh, sourced under set -euo pipefail)"
# In a script of its own: inside `( ... ) || ...` or `if`, bash would ignore set -e, and the
# poller would not inherit the errexit that ended the old one at its first failing check.
cat > "$T/poller_test.sh" <<'SECTION'
set -euo pipefail
source "$T/helpers.sh"
export PODMAN_HEALTH_INTERVAL_S=0.05
# shellcheck source=deploy/podman_engine.sh
source "$ROOT/deploy/podman_engine.sh"
touch "$T/ps_fails"  # the engine does not answer yet
start_health_poller
echo "$PODMAN_HEALTH_PID" > "$T/poller1"
sleep 0.3
check "the poller survives a failing 'podman ps'" alive "$PODMAN_HEALTH_PID"
rm "$T/ps_fails"
check "the poller calls 'podman healthcheck run' for every container, round after round" \
  wait_until 10 at_least_calls 9
check "the poller is still running after $(calls) failing health checks" alive "$PODMAN_HEALTH_PID"
stop_health_poller
check "stop_health_poller ends the poller" wait_until 5 dead "$(cat "$T/poller1")"
before=$(calls); sleep 0.3
check "no health check runs after stop_health_poller" test "$(calls)" -eq "$before"
stop_health_poller
ok "stop_health_poller again (nothing running) returns 0"

# The poller died (as the old one did at its first failing check) and the engine too: stopping
# them under set -e, as the EXIT trap does, still returns 0 and lets the script go on.
start_health_poller
echo "$PODMAN_HEALTH_PID" > "$T/poller2"
kill -KILL "$PODMAN_HEALTH_PID"; wait "$PODMAN_HEALTH_PID" 2>/dev/null || true
sleep 5 & PODMAN_SERVICE_PID=$!
kill -KILL "$PODMAN_SERVICE_PID"; wait "$PODMAN_SERVICE_PID" 2>/dev/null || true
stop_podman_engine
ok "stop_podman_engine with a dead poller and a dead service returns 0 under set -e"
exit "$FAILURES"
SECTION
set +e
env ROOT="$ROOT" T="$T" bash "$T/poller_test.sh"
section_status=$?
set -e
for f in poller1 poller2; do [ ! -s "$T/$f" ] || POLLERS+=("$(cat "$T/$f")"); done
check "the poller section ran to its end under set -e (status $section_status)" \
  test "$section_status" -eq 0

# deploy/test_deploy.sh, copied to a tree of its own (no build/ there), against the fakes.
mkdir -p "$T/tree/deploy"
cp "$ROOT/deploy/test_deploy.sh" "$ROOT/deploy/podman_engine.sh" "$ROOT/deploy/compose.yaml" \
  "$ROOT/deploy/compose.tls.yaml" "$ROOT/deploy/compose.mtls.yaml" "$T/tree/deploy/"
# run_deploy NAME [VAR=VALUE...]: runs it (30 s at most) with TMPDIR=$T/tmp; output in $T/NAME.out
run_deploy() {
  local name=$1; shift
  : > "$FAKE_LOG"
  rm -f "$T/killed" "$T/served" "$T/published"
  set +e
  env TMPDIR="$T/tmp" PODMAN_HEALTH_INTERVAL_S=0.05 PODMAN_HOST_CA_DIR="$T/no-cas" "$@" \
    timeout 30 bash "$T/tree/deploy/test_deploy.sh" > "$T/$name.out" 2>&1
  status=$?
  set -e
  sed 's/^/    | /' "$T/$name.out"
}
work_removed() { [ -z "$(ls -A "$T/tmp")" ]; }
poller_gone() {  # no health check runs any more once the script has exited
  local before; before=$(calls); sleep 0.3; [ "$(calls)" -eq "$before" ]
}

echo "-- test_deploy.sh: PASS, while the clean-up fails ('down' exits 1) and the poller died"
run_deploy pass FAKE_HEALTH=healthy FAKE_DOWN_STATUS=1 FAKE_KILL_POLLER=1
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "it printed PASS" grep -q "== test_deploy: PASS" "$T/pass.out"
check "it waited for health before running the client" \
  grep -q "all 3 replicas healthy" "$T/pass.out"
check "the trap took the stack down" grep -q "docker-compose .* down -v" "$FAKE_LOG"
check "the trap removed the work folder" work_removed

check "it built on the local base image, not the digest-pinned one" \
  grep -q "docker-compose .* build --build-arg BASE_IMAGE=localhost/debian:bookworm trainer" "$FAKE_LOG"
check "it checked the drawing page and /v1/info over HTTP" grep -q \
  "HTTP (127.0.0.1:43210): the drawing page at /, /v1/info names bundle 0123456789abcdef" "$T/pass.out"
check "it did not publish (no SKETCH_DEPLOY_PUBLISH)" bash -c "! grep -q -- '-T publish' '$FAKE_LOG'"
check "it checked the replicas' hardening" grep -q "== test_deploy: hardening: every replica has a read-only root, no capabilities, no-new-privileges, memory 1024 MiB (memory+swap 1024 MiB), pids 512, CPUs 2" "$T/pass.out"

echo "-- test_deploy.sh: a machine with certificate authorities of its own"
mkdir -p "$T/cas"
echo "a CA" > "$T/cas/proxy.crt"
echo "every CA" > "$T/bundle.crt"
run_deploy pass-ca FAKE_HEALTH=healthy PODMAN_HOST_CA_DIR="$T/cas" PODMAN_HOST_CA_BUNDLE="$T/bundle.crt"
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "it built on the local base image with the machine's CA bundle" \
  grep -q "docker-compose .* build --build-arg BASE_IMAGE=localhost/debian:bookworm-hostca trainer" "$FAKE_LOG"
check "that base image is the local one plus the bundle and pip's setting" \
  grep -qx "FROM localhost/debian:bookworm" "$T/containerfile"
check "the build context was removed" work_removed

echo "-- test_deploy.sh: PASS, the poller stopped at exit"
run_deploy pass2 FAKE_HEALTH=healthy
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "the poller is stopped at exit" poller_gone

echo "-- test_deploy.sh: the client fails (live mAP != offline: exit 5), the clean-up succeeds"
run_deploy client_fails FAKE_HEALTH=healthy FAKE_CLIENT_STATUS=5
check "a FAIL exits non-zero (exit status $status)" test "$status" -ne 0
check "it says why" grep -q "FAIL: the client exited 5" "$T/client_fails.out"
check "no PASS printed" bash -c "! grep -q PASS '$T/client_fails.out'"
check "the trap removed the work folder" work_removed
check "the poller is stopped at exit" poller_gone

echo "-- test_deploy.sh: the replicas stay 'starting' (SKETCH_DEPLOY_HEALTH_TIMEOUT_S=2)"
start=$SECONDS
run_deploy starting FAKE_HEALTH=starting SKETCH_DEPLOY_HEALTH_TIMEOUT_S=2
check "a replica that never becomes healthy fails the test (exit status $status)" \
  test "$status" -ne 0 -a "$status" -ne 124
check "the wait is bounded ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 15
check "it says why" grep -q "FAIL: 0 of 3 replicas healthy after 2 s" "$T/starting.out"
check "it prints the replicas' states and latest health checks" \
  grep -q 'r1aaaaaaaaaa: running/starting, "not serving"' "$T/starting.out"
check "it prints the servers' logs" grep -q "fake: loading the bundle" "$T/starting.out"
check "the client never ran" bash -c "! grep -q -- '--exit-code-from client' '$FAKE_LOG'"
check "the trap took the stack down" grep -q "docker-compose .* down -v" "$FAKE_LOG"
check "the poller is stopped at exit" poller_gone

echo "-- test_deploy.sh: the replicas run without the hardening (writable root, capabilities, no limits)"
run_deploy weak FAKE_HEALTH=healthy FAKE_WEAK=1
check "an unhardened replica fails the test (exit status $status)" \
  test "$status" -ne 0 -a "$status" -ne 124
for why in "the root filesystem is not read-only" "memory limit 0, not 1073741824" \
  "pids limit 2048, not 512" "CPU limit 0 nano-CPUs, not 2000000000" "no no-new-privileges" \
  "effective capabilities '00000000a80425fb'" "bounding capabilities" "NoNewPrivs '0'" \
  "a write to the root filesystem was not refused as read-only"; do
  check "it says why: $why" grep -qF "$why" "$T/weak.out"
done
check "the client never ran" bash -c "! grep -q -- '--exit-code-from client' '$FAKE_LOG'"
check "the trap took the stack down" grep -q "docker-compose .* down -v" "$FAKE_LOG"

echo "-- test_deploy.sh: TLS (SKETCH_DEPLOY_TLS=mtls): secrets made with openssl, refusals checked"
run_deploy tls FAKE_HEALTH=healthy SKETCH_DEPLOY_TLS=mtls SKETCH_DEPLOY_BUILD=0
cp "$FAKE_LOG" "$T/tls.calls"
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "it ran Compose with the TLS and mTLS override files" grep -q \
  "docker-compose -f deploy/compose.yaml -f deploy/compose.tls.yaml -f deploy/compose.mtls.yaml -p" "$FAKE_LOG"
check "it did not build (SKETCH_DEPLOY_BUILD=0)" bash -c "! grep -q 'docker-compose .* build' '$FAKE_LOG'"
for why in "plaintext call: exit 4" "call without a token: exit 3" \
  "call without a client certificate: exit 4" "call with TLS and the token (control): exit 0"; do
  check "it checked: $why" grep -qF "$why" "$T/tls.out"
done
check "the trap removed the secrets with the work folder" work_removed

echo "-- test_deploy.sh: TLS, but a call without a token is served"
run_deploy tls_open FAKE_HEALTH=healthy SKETCH_DEPLOY_TLS=1 FAKE_NO_TOKEN_STATUS=0
check "it fails (exit status $status)" test "$status" -ne 0 -a "$status" -ne 124
check "it says why" grep -q "FAIL: call without a token: expected exit 3" "$T/tls_open.out"

echo "-- test_deploy.sh: the fault run (SKETCH_DEPLOY_FAULT=1)"
run_deploy fault FAKE_HEALTH=healthy SKETCH_DEPLOY_FAULT=1
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "it killed replica 3 mid-run" grep -q "podman kill r3a" "$FAKE_LOG"
check "it printed the retry line" \
  grep -q "fault run: mAP 0.8125 over 60 queries .*; retried 2 batches (3 re-sends)" "$T/fault.out"

echo "-- test_deploy.sh: the fault run, but the client re-sent nothing"
run_deploy fault_noretry FAKE_HEALTH=healthy SKETCH_DEPLOY_FAULT=1 FAKE_NO_RETRY=1
check "it fails (exit status $status)" test "$status" -ne 0 -a "$status" -ne 124
check "it says why" grep -q "FAIL: fault run: the client re-sent no batch" "$T/fault_noretry.out"

echo "-- test_deploy.sh: the image serves no drawing page"
run_deploy no_web FAKE_HEALTH=healthy FAKE_NO_WEB=1
check "it fails (exit status $status)" test "$status" -ne 0 -a "$status" -ne 124
check "it says why" grep -q "FAIL: GET / (the drawing page) through 127.0.0.1:43210 failed" "$T/no_web.out"

echo "-- test_deploy.sh: TLS, HTTPS checks with the token and the client certificate"
check "curl got the CA, the token file and (mtls) the client certificate" \
  grep -q "^curl -fsS --max-time 10 --cacert .*/ca.crt -H @.*/http-auth --cert .*/client.crt --key .*/client.key https://127.0.0.1:43210/v1/info" \
  "$T/tls.calls"

echo "-- test_deploy.sh: a new bundle published (SKETCH_DEPLOY_PUBLISH=1)"
published_hash=$(printf '%s\n' '{"format": "sketchsearch-bundle", "fake": 2}' | sha256sum | cut -c1-16)
run_deploy publish FAKE_HEALTH=healthy SKETCH_DEPLOY_PUBLISH=1
check "a PASS exits 0 (exit status $status)" test "$status" -eq 0
check "it made the second bundle with the trainer" \
  grep -q "docker-compose .* run --rm --no-deps -T trainer sh -c .*sketch-trainer bundle .*--no-train-eval" "$FAKE_LOG"
check "it published through the publish profile" \
  grep -q "docker-compose .* --profile publish run --rm --no-deps -T publish" "$FAKE_LOG"
check "it asked every replica's GetInfo" \
  bash -c "grep -q 'exec -T --index=1 sketch-server sketch .* info' '$FAKE_LOG' &&
    grep -q 'exec -T --index=3 sketch-server sketch .* info' '$FAKE_LOG'"
check "every replica switched" grep -q "publish: all 3 replicas serve $published_hash" "$T/publish.out"
check "HTTP names the new bundle" \
  grep -q "publish: GET /v1/info over HTTP names $published_hash too" "$T/publish.out"
check "the trap removed the work folder (the copied bundle too)" work_removed

echo "-- test_deploy.sh: a replica never switches to the published bundle"
start=$SECONDS
run_deploy publish_stuck FAKE_HEALTH=healthy SKETCH_DEPLOY_PUBLISH=1 FAKE_STUCK_REPLICA=2 \
  SKETCH_DEPLOY_PUBLISH_TIMEOUT_S=2
check "it fails (exit status $status)" test "$status" -ne 0 -a "$status" -ne 124
check "the wait is bounded ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 20
check "it says why" grep -q "FAIL: publish: 1 of 3 replicas did not switch to the published bundle $published_hash within 2 s" \
  "$T/publish_stuck.out"
check "it names what each replica serves" grep -q "replica 2: 0123456789abcdef" "$T/publish_stuck.out"
check "it prints the servers' logs" grep -q "fake: loading the bundle" "$T/publish_stuck.out"

echo "-- test_deploy.sh: SKETCH_DEPLOY_PUBLISH with TLS is refused at once"
run_deploy publish_tls SKETCH_DEPLOY_PUBLISH=1 SKETCH_DEPLOY_TLS=1
check "it exits 2 (exit status $status)" test "$status" -eq 2
check "it says why" grep -q "SKETCH_DEPLOY_PUBLISH needs SKETCH_DEPLOY_TLS=0" "$T/publish_tls.out"

echo "-- test_deploy.sh: a replica exits while starting"
start=$SECONDS
run_deploy exited FAKE_HEALTH=exited
check "an exited replica fails the test at once (exit status $status, $((SECONDS - start)) s)" \
  test "$status" -ne 0 -a "$status" -ne 124 -a $((SECONDS - start)) -lt 10
check "it says why" grep -q "FAIL: replica r[0-9]a* is exited" "$T/exited.out"

if ((FAILURES)); then
  echo "podman_engine_test: FAILED (the FAIL lines above)"
  exit 1
fi
echo "podman_engine_test: all checks passed"
