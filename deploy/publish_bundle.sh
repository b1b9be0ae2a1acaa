#!/usr/bin/env bash
# Publishes a model bundle to the sketch-servers that watch ROOT/current (sketch-server --watch
# --bundle ROOT/current; docs/deploy.md, "Publishing a new bundle"):
#   1. copies BUNDLE into ROOT/bundles/NAME: into a temporary directory first, renamed when
#      complete, so no server ever sees a half-copied bundle;
#   2. re-points the `current` symlink atomically: a new link made beside it, then renamed over
#      it (ln -s + mv -T: rename(2)), so `current` is always the old bundle or the new one.
# The link is relative (bundles/NAME), so it resolves wherever ROOT is mounted. NAME defaults to
# the first 16 hex digits of the bundle hash (the SHA-256 of manifest.json, GetInfo.bundle_hash);
# a NAME already published with the same manifest is not copied again (publishing an older
# version again is a rollback). The servers verify the bundle when they load it and keep serving
# the old one if it is broken; older versions stay in ROOT/bundles until removed by hand (once no
# replica reports them in sketchsearch_bundle_info).
#
# usage: publish_bundle.sh BUNDLE_DIR ROOT [NAME]
set -euo pipefail

die() { echo "publish_bundle.sh: $*" >&2; exit 2; }
[[ $# == 2 || $# == 3 ]] || die "usage: publish_bundle.sh BUNDLE_DIR ROOT [NAME]"
src=$1 root=$2
[[ -f $src/manifest.json ]] || die "$src/manifest.json: missing, $src is not a bundle"
[[ -d $root ]] || die "$root: not a directory"
hash=$(sha256sum <"$src/manifest.json" | cut -c1-64)
name=${3:-${hash:0:16}}
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "$name: a name is letters, digits, . _ -"

mkdir -p "$root/bundles"
dest=$root/bundles/$name
if [[ -e $dest ]]; then
  published=$(sha256sum <"$dest/manifest.json" | cut -c1-64) || true
  [[ $published == "$hash" ]] || die "$dest holds another bundle: choose another NAME"
else
  incoming=$(mktemp -d "$root/bundles/.incoming.XXXXXX")
  trap 'rm -rf "$incoming"' EXIT
  cp -R "$src/." "$incoming/"
  chmod 755 "$incoming"  # mktemp's 700 would hide it from servers running as another user
  sync "$incoming"/* 2>/dev/null || true
  mv -T "$incoming" "$dest"
  trap - EXIT
fi

link=$root/.current.$$
ln -sfn "bundles/$name" "$link"
mv -T "$link" "$root/current"
echo "published $src as $dest (bundle $hash); $root/current -> bundles/$name"
