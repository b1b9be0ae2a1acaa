#!/usr/bin/env bash
# What the GPU checks (bench/gpu_checks.sh) need on a machine that reaches no package registry:
# the lent GPU machine has CUDA, CMake, ninja, a C++ compiler and a Python with torch >= 2.7 (its
# own LibTorch, C++11 ABI), but none of the Debian 12 -dev packages this project builds against
# (gRPC, protobuf, Abseil, FAISS, ...). This script fetches those packages here, as .deb files
# (~35 MB), into a folder that travels with the working tree, and unpacks them there into a
# prefix that CMake and pkg-config are pointed at, without touching the machine's own /usr.
#
#   bench/gpu_kit.sh fetch [KIT]          here: download the packages and the dataset into KIT
#                                         (default .gpu-kit, git-ignored)
#   bench/gpu_kit.sh unpack KIT PREFIX    there: unpack into PREFIX and make it relocatable
#   source <(bench/gpu_kit.sh env PREFIX) there: the variables that point a build at PREFIX
#
# Unpacking by dpkg -x leaves three things pointing at Debian's /usr, each mended by `unpack`:
# faiss-targets.cmake names /usr/lib/x86_64-linux-gnu/lib{blas,lapack}.so (Debian's alternatives
# links), the .pc files say prefix=/usr, and some -dev symlinks are absolute (libz.so ->
# /lib/x86_64-linux-gnu/libz.so.1.2.13, a version the other machine may not have).
set -euo pipefail
cd "$(dirname "$0")/.."

# The build's libraries (scripts/setup.sh's list), the runtime libraries they link that a
# non-Debian image lacks, and what their CMake configs look for (civetweb, curl for
# prometheus-cpp; c-ares and re2 for gRPC).
PACKAGES=(
  libabsl-dev libabsl20220623 libsimdjson-dev libsimdjson14 libcli11-dev nlohmann-json3-dev
  libfaiss-dev libopenblas0-pthread libopenblas-dev libopenblas-pthread-dev libgfortran5
  libgrpc++-dev libgrpc++1.51 libgrpc-dev libgrpc29 libre2-9 libre2-dev libc-ares2 libc-ares-dev
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 protobuf-compiler libprotoc32 protobuf-compiler-grpc
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libprometheus-cpp-push1.0 libcivetweb-dev libcivetweb1 civetweb libcurl4-openssl-dev libcurl4
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev libbrotli1 libssl-dev libpng-dev libpng16-16
  zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
)

# Every library scripts/setup.sh installs (its PACKAGES after "# libraries") must be in the kit:
# a package added there and not here would fail the build on the GPU machine alone.
check_covers_setup() {
  local p missing=0
  for p in $(sed -n '/^PACKAGES=(/,/^)/p' scripts/setup.sh | sed -n '/# libraries/,/^)/p' |
               sed 's/#.*//; s/)//' | tr -s ' ' '\n'); do
    [[ " ${PACKAGES[*]} " == *" $p "* ]] || { echo "gpu_kit: scripts/setup.sh installs $p, the kit lacks it" >&2; missing=1; }
  done
  return "$missing"
}

fetch() {
  local kit="$1"
  check_covers_setup || exit 1
  mkdir -p "$kit/debs" "$kit/data"
  (cd "$kit/debs" && apt-get download "${PACKAGES[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  local p missing=0
  for p in "${PACKAGES[@]}"; do
    compgen -G "$kit/debs/${p}_*.deb" >/dev/null || { echo "gpu_kit: $p was not downloaded" >&2; missing=1; }
  done
  ((missing == 0)) || exit 1
  # The prepared dataset the training check reads (`sketch-trainer prepare`, docs/results.md):
  # strokes-16 alone, 1.1 MB; a bitmap-100 one (~80 MB) would not fit in a call's 64 MiB.
  [ -f out/runs/strokes-16.skds ] && cp out/runs/strokes-16.skds "$kit/data/"
  du -sh "$kit"
}

unpack() {
  local kit="$1" prefix="$2"
  mkdir -p "$prefix"
  prefix=$(cd "$prefix" && pwd)
  for deb in "$kit"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
  local lib="$prefix/usr/lib/x86_64-linux-gnu"
  sed -i "s|/usr/lib/x86_64-linux-gnu/libblas.so|$lib/openblas-pthread/libblas.so|g;
          s|/usr/lib/x86_64-linux-gnu/liblapack.so|$lib/openblas-pthread/liblapack.so|g" \
    "$lib/cmake/faiss/faiss-targets.cmake"
  local pc
  for pc in "$lib"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc; do
    [ -f "$pc" ] && sed -i "s|^prefix=/usr\$|prefix=$prefix/usr|" "$pc"
  done
  # A -dev link that dangles in the prefix (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13, or
  # libssl.so -> libssl.so.3, whose runtime package is the machine's own) is re-pointed at the
  # same file in the prefix if it is there, else at the machine's library of the same soname.
  local link target soname candidate
  while IFS= read -r link; do
    target=$(readlink "$link")
    if [[ "$target" == /* ]] && [ -e "$prefix$target" ]; then
      ln -sf "$prefix$target" "$link"
      continue
    fi
    soname=$(sed -E 's/^(.*\.so\.[0-9]+).*/\1/' <<<"$(basename "$target")")  # libz.so.1.2.13 -> libz.so.1
    for candidate in "/lib/x86_64-linux-gnu/$soname" "/usr/lib/x86_64-linux-gnu/$soname"; do
      if [ -e "$candidate" ]; then ln -sf "$candidate" "$link"; break; fi
    done
  done < <(find "$prefix" -xtype l -name '*.so')
  find "$prefix" -xtype l -name '*.so' | sed 's/^/gpu_kit: still dangling: /' >&2 || true
  echo "gpu_kit: unpacked $(ls "$kit"/debs/*.deb | wc -l) packages into $prefix"
}

env_lines() {
  local prefix="$1" lib="$1/usr/lib/x86_64-linux-gnu"
  echo "export CMAKE_PREFIX_PATH=\"$prefix/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}\""
  echo "export PKG_CONFIG_PATH=\"$lib/pkgconfig:$prefix/usr/share/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}\""
  echo "export PATH=\"$prefix/usr/bin:\$PATH\""
  # protoc and grpc_cpp_plugin, and the programs built, load the prefix's libraries.
  echo "export LD_LIBRARY_PATH=\"$lib:$lib/openblas-pthread\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
}

case "${1:-}" in
  fetch) fetch "${2:-.gpu-kit}" ;;
  unpack) [ $# = 3 ] || { echo "usage: bench/gpu_kit.sh unpack KIT PREFIX" >&2; exit 2; }; unpack "$2" "$3" ;;
  env) [ $# = 2 ] || { echo "usage: bench/gpu_kit.sh env PREFIX" >&2; exit 2; }; env_lines "$2" ;;
  *) echo "usage: bench/gpu_kit.sh fetch [KIT] | unpack KIT PREFIX | env PREFIX" >&2; exit 2 ;;
esac
