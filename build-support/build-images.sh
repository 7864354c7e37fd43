#!/usr/bin/env bash
# Build the container images of docker/*/Dockerfile (gate, dynamics, planner) on a machine with no
# Docker engine and no reachable container registry: root, apt and PyPI only (see
# shared/recipes/containers). Steps: podman/buildah/skopeo/runc/debootstrap from apt when missing,
# the local base image localhost/debian-python:bookworm (build-base-image.sh), the images' PEXes
# (the pex_binary beside each Dockerfile) with Pants, then `buildah bud` per image with no network.
# Storage lives under .oci/ (git-ignored; OCI_WORK overrides). Images are tagged
# $WF_IMAGE_PREFIX/NAME:$WF_IMAGE_TAG (default localhost/worldflux/NAME:dev).
#   build-support/build-images.sh [NAME...]     # default: every docker/*/Dockerfile
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=build-support/image-env.sh
source build-support/image-env.sh

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for dockerfile in docker/*/Dockerfile; do
    names+=("$(basename "$(dirname "$dockerfile")")")
  done
fi

start=$SECONDS
build-support/build-base-image.sh
echo "[build-images] base image ready ($((SECONDS - start))s)"

# The images' PEXes: the pex_binary targets in docker/common and in each docker/NAME folder.
t=$SECONDS
specs=("docker/common:")
for name in "${names[@]}"; do
  [ -f "docker/$name/Dockerfile" ] || { echo "no docker/$name/Dockerfile" >&2; exit 1; }
  specs+=("docker/$name:")
done
# Wait for another Pants run (a developer's pantsd) instead of giving up after 60 s.
export PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS="${PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS:--1}"
./pants --filter-target-type=pex_binary package "${specs[@]}"
echo "[build-images] PEXes packaged ($((SECONDS - t))s)"

context="$OCI_WORK/context"
build-support/image-context.sh "$context" "${names[@]}"

for name in "${names[@]}"; do
  t=$SECONDS
  image="$WF_IMAGE_PREFIX/$name:$WF_IMAGE_TAG"
  # --format docker keeps HEALTHCHECK (the OCI format has no field for it); --layers reuses the
  # unchanged stages of the previous build; --network=none: nothing is fetched while building.
  buildah bud --quiet --layers --format docker --network=none \
    --build-arg BASE_IMAGE="$WF_BASE_IMAGE" \
    -f "docker/$name/Dockerfile" -t "$image" "$context"
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  echo "[build-images] $image built ($((SECONDS - t))s, $((size / 1000000)) MB)"
done
echo "[build-images] done in $((SECONDS - start))s"
