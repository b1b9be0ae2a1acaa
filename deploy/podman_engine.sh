#!/usr/bin/env bash
# Sourced by deploy/test_deploy.sh on machines with no Docker engine (../shared/docs/CONTAINERS.md,
# checked on the project's Debian 12 machines): podman serves the Docker API on a socket for
# Debian's docker-compose 1.29, with a local debian:bookworm-slim base image built by debootstrap
# from the apt mirror (no registry is reachable). Needs root. Defines start_podman_engine (exports
# DOCKER_HOST, and SKETCH_BASE_IMAGE=localhost/debian:bookworm, or its -hostca form that trusts
# this machine's certificate authorities: test_deploy.sh builds on that in place of the
# Dockerfile's digest-pinned base; reuses an engine already answering on the socket)
# and stop_podman_engine (stops only what start started, and always returns 0, so that it can run
# in an EXIT trap under set -e), and the health-check poller they use, start_health_poller and
# stop_health_poller.
# tests/deploy/podman_engine_test.sh tests these with a fake podman.

# The podman command (tests put a fake first on PATH or name one here) and the poller's period.
PODMAN=${PODMAN:-podman}
PODMAN_HEALTH_INTERVAL_S=${PODMAN_HEALTH_INTERVAL_S:-1}
# Certificate authorities this machine adds to Debian's (update-ca-certificates' folder: an egress
# proxy's, a company's), and the bundle that holds them with the public ones.
PODMAN_HOST_CA_DIR=${PODMAN_HOST_CA_DIR:-/usr/local/share/ca-certificates}
PODMAN_HOST_CA_BUNDLE=${PODMAN_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# podman runs health checks from systemd timers, and there is no systemd here: this background
# loop runs every running container's check once per PODMAN_HEALTH_INTERVAL_S instead. It must
# outlive failing checks (each check fails while a server starts), so it drops the errexit,
# nounset and pipefail it would inherit from a `set -euo pipefail` caller. Sets PODMAN_HEALTH_PID.
start_health_poller() {
  stop_health_poller
  (
    set +e +u +o pipefail
    trap - ERR
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM INT
    sleeper=
    while :; do
      for c in $("$PODMAN" ps -q 2>/dev/null); do
        "$PODMAN" healthcheck run "$c" >/dev/null 2>&1
      done
      # In the background and waited for, so that a TERM ends the loop at once.
      sleep "$PODMAN_HEALTH_INTERVAL_S" &
      sleeper=$!
      wait "$sleeper"
    done
  ) </dev/null >/dev/null 2>&1 &
  PODMAN_HEALTH_PID=$!
}

# Stops the poller, whether it still runs or not; always returns 0.
stop_health_poller() {
  _podman_engine_end "${PODMAN_HEALTH_PID:-}"
  PODMAN_HEALTH_PID=
  return 0
}

# Ends process $1 (if any, and if still alive): SIGTERM, up to 10 s, then SIGKILL. Returns 0.
_podman_engine_end() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true  # reaps our own child; a stranger's pid just fails here
  return 0
}

# Sets SKETCH_BASE_IMAGE (unless set) to the local debootstrapped base, or, where this machine
# trusts certificate authorities of its own ($PODMAN_HOST_CA_DIR holds any), to that base with
# this machine's CA bundle for pip (localhost/debian:bookworm-hostca): the build stage fetches
# LibTorch's wheel from PyPI over HTTPS, through whatever this machine goes through. The
# Dockerfile stays as a real host builds it; only this local base image mirrors the machine, as it
# mirrors its apt mirror.
_podman_engine_base_image() {
  [ -z "${SKETCH_BASE_IMAGE:-}" ] || return 0
  SKETCH_BASE_IMAGE=localhost/debian:bookworm
  compgen -G "$PODMAN_HOST_CA_DIR/*.crt" >/dev/null || return 0
  local context
  context=$(mktemp -d)
  cp "$PODMAN_HOST_CA_BUNDLE" "$context/host-ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/host-ca-certificates.crt\n' > "$context/pip.conf"
  printf '%s\n' "FROM $SKETCH_BASE_IMAGE" \
    "COPY host-ca-certificates.crt /etc/ssl/host-ca-certificates.crt" \
    "COPY pip.conf /etc/pip.conf" > "$context/Containerfile"
  local built=0
  "$PODMAN" build -q -t localhost/debian:bookworm-hostca -f "$context/Containerfile" "$context" \
    >/dev/null && built=1
  rm -rf "$context"
  if [ "$built" = 0 ]; then
    echo "podman_engine: could not add this machine's CA bundle to the base image" >&2
    return 1
  fi
  SKETCH_BASE_IMAGE=localhost/debian:bookworm-hostca
}
start_podman_engine() {
  export DOCKER_HOST=unix:///run/podman/podman.sock
  # deploy/Dockerfile's base image is pinned by digest to a registry's image, which cannot be
  # pulled here: test_deploy.sh builds on the local debootstrapped one instead (--build-arg).
  export SKETCH_BASE_IMAGE
  # An engine already answering (started by hand, or left by an earlier run) is reused as it is;
  # its containers' checks still need a poller of ours (one beside another's is harmless).
  if curl -fs --unix-socket /run/podman/podman.sock http://podman/_ping >/dev/null 2>&1; then
    _podman_engine_base_image || return 1
    start_health_poller
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { echo "podman_engine: needs root" >&2; return 1; }
  local packages=(podman runc golang-github-containernetworking-plugin-dnsname catatonit
    docker-compose debootstrap curl)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "podman_engine: installing ${missing[*]}"
    # A fresh machine may have no package lists yet: update once and retry.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >/dev/null 2>&1 || { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
  # podman cannot raise rlimits here, and crun rejects the hybrid cgroup layout.
  local nofile nproc pidmax
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pidmax=$(cat /proc/sys/kernel/pid_max)
  { [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ]; } && nproc=$pidmax
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
CONF
  if ! podman image exists localhost/debian:bookworm; then
    echo "podman_engine: building the debian:bookworm base image with debootstrap"
    local mirror rootfs
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm >/dev/null
    rm -rf "$rootfs"
  fi
  podman tag localhost/debian:bookworm docker.io/library/debian:bookworm \
    docker.io/library/debian:bookworm-slim
  _podman_engine_base_image || return 1
  mkdir -p /run/podman
  podman system service --time=0 unix:///run/podman/podman.sock &
  PODMAN_SERVICE_PID=$!
  start_health_poller
  for _ in $(seq 1 50); do
    curl -fs --unix-socket /run/podman/podman.sock http://podman/_ping >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "podman_engine: the API socket did not come up" >&2
  return 1
}

stop_podman_engine() {
  stop_health_poller
  _podman_engine_end "${PODMAN_SERVICE_PID:-}"
  PODMAN_SERVICE_PID=
  return 0
}
