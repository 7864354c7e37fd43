#!/usr/bin/env bash
# Build the container images of docker/ (gate, dynamics, planner) on a machine with no
# Docker engine and no reachable container registry: root, apt and PyPI only (see
# shared/recipes/containers). Steps: podman/buildah/skopeo/runc/debootstrap from apt when missing,
# the local base image localhost/debian-python:bookworm (build-base-image.sh), the images' PEXes
# (the pex_binary in docker/NAME/BUILD) with Pants, then `buildah bud` per image with no network,
# with the Dockerfile and build arguments of its docker_image target (the services share one).
# Storage lives under .oci/ (git-ignored; OCI_WORK overrides). Images are tagged
# $WF_IMAGE_PREFIX/NAME:$WF_IMAGE_TAG (default localhost/worldflux/NAME:dev).
#   build-support/build-images.sh [NAME...]     # default: every docker_image target under docker/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=build-support/image-env.sh
source build-support/image-env.sh

start=$SECONDS
# Wait for another Pants run (a developer's pantsd) instead of giving up after 60 s.
export PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS="${PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS:--1}"
# Each image's Dockerfile and build arguments, from its docker_image target (build-support/image_spec.py).
mkdir -p "$OCI_WORK"
./pants peek --filter-target-type=docker_image docker:: >"$OCI_WORK/images.json"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <(python3 build-support/image_spec.py "$OCI_WORK/images.json" names)
fi

build-support/build-base-image.sh
echo "[build-images] base image ready ($((SECONDS - start))s)"

# The images' PEXes: the pex_binary targets in docker/common and in each docker/NAME folder.
t=$SECONDS
specs=("docker/common:")
for name in "${names[@]}"; do
  [ -f "docker/$name/BUILD" ] || { echo "no docker/$name/BUILD (the image's program)" >&2; exit 1; }
  specs+=("docker/$name:")
done
./pants --filter-target-type=pex_binary package "${specs[@]}"
echo "[build-images] PEXes packaged ($((SECONDS - t))s)"

context="$OCI_WORK/context"
build-support/image-context.sh "$context" "${names[@]}"

for name in "${names[@]}"; do
  t=$SECONDS
  image="$WF_IMAGE_PREFIX/$name:$WF_IMAGE_TAG"
  # --format docker keeps HEALTHCHECK (the OCI format has no field for it); --layers reuses the
  # unchanged stages of the previous build; --network=none: nothing is fetched while building.
  mapfile -t spec < <(python3 build-support/image_spec.py "$OCI_WORK/images.json" buildah "$name")
  [ ${#spec[@]} -gt 0 ] || exit 1
  buildah bud --quiet --layers --format docker --network=none \
    --build-arg BASE_IMAGE="$WF_BASE_IMAGE" "${spec[@]}" -t "$image" "$context"
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  echo "[build-images] $image built ($((SECONDS - t))s, $((size / 1000000)) MB)"
done
echo "[build-images] done in $((SECONDS - start))s"
