#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given programs load (ldd), one
# per line: the runtime image installs exactly these, so it holds no compiler or -dev package
# and cannot drift from what the build stage linked against. Libraries the install ships itself
# (lib/sketchsearch beside bin/: the PyTorch wheel's LibTorch, CMakeLists.txt's install) are not
# packages and are left out.
#   deploy/runtime-packages.sh /usr/local/bin/sketch-server ...
set -euo pipefail
owner() {
  # Merged /usr: dpkg may have registered either spelling of a library's directory.
  local path=$1
  dpkg-query -S "$path" 2>/dev/null && return
  case "$path" in
    /usr/*) dpkg-query -S "${path#/usr}" 2>/dev/null ;;
    *) dpkg-query -S "/usr$path" 2>/dev/null ;;
  esac
}
for program in "$@"; do
  bundled=$(readlink -f "$(dirname "$program")/../lib/sketchsearch")
  ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r library; do
    # ldd prints them through the RPATH unresolved: bin/../lib/sketchsearch/libc10.so
    [ "$(readlink -f "$(dirname "$library")")" = "$bundled" ] || echo "$library"
  done
done | sort -u | while read -r library; do
  # Through alternatives (libblas.so.3 -> OpenBLAS) to the file a package actually ships.
  found=$(owner "$(readlink -f "$library")" || owner "$library" || true)
  [ -n "$found" ] || { echo "runtime-packages: no package owns $library" >&2; exit 1; }
  echo "$found"
done | cut -d: -f1 | sort -u
