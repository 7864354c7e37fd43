#!/usr/bin/env bash
# Lay out the build context of the images under docker/ the way Pants' docker_image does: the
# packaged PEXes at their dist/ output paths (docker.NAME/..., the shared docker.common/...), the
# shared files at their repository path (docker/common/...). build-images.sh (buildah, here) and
# the release workflow (docker buildx, on GitHub) build from it, so both build the same thing.
#   build-support/image-context.sh DEST NAME...
# after `pants package docker/common: docker/NAME:`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { echo "usage: $0 DEST NAME..." >&2; exit 2; }
dest="$1"
shift
rm -rf "$dest"
mkdir -p "$dest/docker"
cp -a docker/common "$dest/docker/common"
for name in common "$@"; do
  if [ ! -e "dist/docker.$name" ]; then
    echo "dist/docker.$name missing: package docker/$name: first" >&2
    exit 1
  fi
  # Hard links where possible: no copy of the PEXes' 200+ MB.
  cp -al "dist/docker.$name" "$dest/" 2>/dev/null || cp -a "dist/docker.$name" "$dest/"
done
