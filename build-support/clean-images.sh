#!/usr/bin/env bash
# Delete everything build-images.sh and test-images.sh made: containers, images, layers and the work
# folder ($OCI_WORK, default .oci/). A plain `rm -rf .oci` fails (and leaves a half-deleted store)
# while containers/storage still has layers mounted, e.g. after a build was killed midway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="${OCI_WORK:-$PWD/.oci}"
[ -d "$work" ] || exit 0
if command -v podman >/dev/null; then
  # shellcheck source=build-support/image-env.sh
  source build-support/image-env.sh
  podman rm --all --force --time 0 >/dev/null 2>&1 || true
  buildah rm --all >/dev/null 2>&1 || true
  podman rmi --all --force >/dev/null 2>&1 || true
fi
# Anything still mounted below the work folder, deepest first.
awk -v root="$work/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r mnt; do
  umount "$mnt" || umount -l "$mnt"
done
rm -rf "$work"
echo "removed $work"
