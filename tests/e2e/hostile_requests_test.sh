#!/usr/bin/env bash
# Hostile requests against the real sketch-server on a real (tiny) bundle: each gets its status
# code, a healthy request is answered after each, and the server's resident memory stays within
# a stated bound over its baseline during each case and returns near it (sketch_hostile_client
# prints the table). The queue is made small (64) so that the queue cases can fill it.
#
# usage: hostile_requests_test.sh SKETCH_TRAINER SKETCH_SERVER SKETCH SKETCH_HOSTILE_CLIENT DATA_DIR
set -euo pipefail

trainer=$1 server=$2 client=$3 hostile=$4 data=$5
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_make_bundle
e2e_start_server --max-queue-size 64
step "hostile requests"
"$hostile" --target "$target" --server-pid "$server_pid" --drawing "$data/simplified/cat.ndjson" \
  --max-peak-mb "${SKETCH_HOSTILE_MAX_PEAK_MB:-200}" --max-after-mb "${SKETCH_HOSTILE_MAX_AFTER_MB:-100}" ||
  fail "hostile requests"
e2e_stop_server
step "passed"
