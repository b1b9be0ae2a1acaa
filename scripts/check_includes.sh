#!/usr/bin/env bash
# The layout check: every #include "<folder>/..." of our sources must name a folder that the
# including folder may use (docs/architecture.md has the same table). Run by ctest as
# layout.includes; layout.includes_self_test plants forbidden includes in a scratch tree and
# expects this script to fail on each of them.
#
#   scripts/check_includes.sh [ROOT]     check the tree at ROOT (default: the repository)
#   scripts/check_includes.sh --self-test
set -euo pipefail

# folder -> the folders its sources may include from. "sketchsearch" and "grpc" are the
# generated proto headers. proto/'s own code (drawing_convert: core's Sketch <-> the messages)
# sits under both the server and the client, so it may use neither. bench/ and tests/ are
# programs over many targets; their link graph limits them, so they may include every folder.
declare -A ALLOWED=(
  [core]="core"
  [models]="core models"
  [index]="core index"
  [bundle]="core models index bundle"
  [proto]="core proto sketchsearch"
  [server]="core models bundle index proto server sketchsearch grpc"
  [client]="core proto client sketchsearch grpc"
  [trainer]="core models index bundle trainer"
  [bench]="core models index bundle proto trainer server client sketchsearch grpc bench tests"
  [tests]="core models index bundle proto trainer server client sketchsearch grpc bench tests"
)
# First path components that name one of our folders (or generated headers); any other quoted
# include ("absl/...", "nlohmann/...", "gtest/...") is a third-party header and not checked.
OURS="core models index bundle proto server client trainer bench tests sketchsearch grpc"

check_tree() {
  local root=$1 failures=0
  for folder in "${!ALLOWED[@]}"; do
    [[ -d "$root/$folder" ]] || continue
    while IFS=: read -r file line text; do
      local target
      target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^/"]+)\/.*/\1/' <<<"$text")
      [[ " $OURS " == *" $target "* ]] || continue
      if [[ " ${ALLOWED[$folder]} " != *" $target "* ]]; then
        echo "${file#"$root"/}:$line: $folder/ may not include $target/ (allowed: ${ALLOWED[$folder]})"
        failures=$((failures + 1))
      fi
    done < <(grep -rnE --include='*.h' --include='*.cc' '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"/]+/' \
               "$root/$folder" || true)
  done
  if ((failures > 0)); then
    echo "check_includes: $failures forbidden include(s) under $root"
    return 1
  fi
  echo "check_includes: every include under $root is allowed"
}

SCRATCH=""
self_test() {
  SCRATCH=$(mktemp -d)
  trap 'rm -rf "$SCRATCH"' EXIT
  local scratch=$SCRATCH
  mkdir -p "$scratch"/{server,core,client,models,proto}
  printf '#include "core/sketch.h"\n#include "server/embedder.h"\n' >"$scratch/server/ok.cc"
  if ! check_tree "$scratch" >/dev/null; then
    echo "self-test: an allowed tree was refused"
    return 1
  fi
  local planted=(
    'server/bad.cc:#include "trainer/checkpoint.h"'
    'core/bad.h:#include "models/sketch_model.h"'
    'client/bad.cc:  #  include "models/inference_engine.h"'
    'models/bad.cc:#include "bundle/model_bundle.h"'
    'proto/bad.cc:#include "server/proto_convert.h"'
  )
  for entry in "${planted[@]}"; do
    local file=${entry%%:*} text=${entry#*:}
    printf '%s\n' "$text" >"$scratch/$file"
    local output
    if output=$(check_tree "$scratch"); then
      echo "self-test: the check passed with $file holding: $text"
      return 1
    fi
    if [[ "$output" != *"$file:1:"* ]]; then
      echo "self-test: the check failed but did not name $file: $output"
      return 1
    fi
    rm "$scratch/$file"
  done
  echo "self-test: each of ${#planted[@]} planted forbidden includes was caught"
}

if [[ "${1:-}" == "--self-test" ]]; then
  self_test
else
  check_tree "$(cd "${1:-$(dirname "$0")/..}" && pwd)"
fi
