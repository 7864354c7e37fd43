#!/usr/bin/env bash
# Lay out the build context of the images under docker/ the way Pants' docker_image does: each
# image's packaged PEX at its dist/ output path (docker.NAME/...), the shared files at their
# repository path (docker/common/...). build-images.sh (buildah, here) and the release workflow
# (docker buildx, on GitHub) build from it, so both build exactly the same thing.
#   build-support/image-context.sh DEST NAME...     # after `pants package docker/NAME:`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { echo "usage: $0 DEST NAME..." >&2; exit 2; }
dest="$1"
shift
rm -rf "$dest"
mkdir -p "$dest/docker"
cp -a docker/common "$dest/docker/common"
for name in "$@"; do
  [ -e "dist/docker.$name" ] || { echo "dist/docker.$name missing: package docker/$name: first" >&2; exit 1; }
  # Hard links where possible: no copy of the PEXes' 200+ MB.
  cp -al "dist/docker.$name" "$dest/docker.$name" 2>/dev/null || cp -a "dist/docker.$name" "$dest/docker.$name"
done
