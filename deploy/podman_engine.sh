#!/usr/bin/env bash
# Sourced by deploy/test_deploy.sh on machines with no Docker engine (../shared/docs/CONTAINERS.md,
# checked on the project's Debian 12 machines): podman serves the Docker API on a socket for
# Debian's docker-compose 1.29, with a local debian:bookworm-slim base image built by debootstrap
# from the apt mirror (no registry is reachable). Needs root. Defines start_podman_engine (exports
# DOCKER_HOST; reuses an engine already answering on the socket) and stop_podman_engine (stops
# only what start started).

start_podman_engine() {
  export DOCKER_HOST=unix:///run/podman/podman.sock
  # An engine this script started earlier (still answering) is reused as it is.
  if curl -fs --unix-socket /run/podman/podman.sock http://podman/_ping >/dev/null 2>&1; then
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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
  mkdir -p /run/podman
  podman system service --time=0 unix:///run/podman/podman.sock &
  PODMAN_SERVICE_PID=$!
  # podman runs health checks from systemd timers, and there is no systemd here.
  (while :; do
    for c in $(podman ps -q); do podman healthcheck run "$c" >/dev/null 2>&1; done
    sleep 1
  done) &
  PODMAN_HEALTH_PID=$!
  local i
  for i in $(seq 1 50); do
    curl -fs --unix-socket /run/podman/podman.sock http://podman/_ping >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "podman_engine: the API socket did not come up" >&2
  return 1
}

stop_podman_engine() {
  [ -n "${PODMAN_HEALTH_PID:-}" ] && kill "$PODMAN_HEALTH_PID" 2>/dev/null
  [ -n "${PODMAN_SERVICE_PID:-}" ] && kill "$PODMAN_SERVICE_PID" 2>/dev/null
  return 0
}
