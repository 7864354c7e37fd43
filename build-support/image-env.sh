# Sourced (not run) by the image scripts: the podman/buildah setup that works on these machines.
#   source build-support/image-env.sh
# Why: there is no Docker engine or registry here; podman/buildah run as root with all storage under
# a work folder in the repo ($OCI_WORK, default .oci/, git-ignored) so that nothing touches the
# machine's own container storage, and with build-support/containers.conf (runc, cgroupfs, no bridge
# network, lowered ulimits; see shared/recipes/containers). Installs the tools with apt if missing.

IMAGE_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OCI_WORK="${OCI_WORK:-$IMAGE_REPO_ROOT/.oci}"
# Image names and the base image, shared by build-images.sh, test-images.sh and the smoke tests.
export WF_IMAGE_PREFIX="${WF_IMAGE_PREFIX:-localhost/worldflux}"
export WF_IMAGE_TAG="${WF_IMAGE_TAG:-dev}"
export WF_BASE_IMAGE="${WF_BASE_IMAGE:-localhost/debian-python:bookworm}"

missing=""
for tool in podman buildah skopeo runc debootstrap; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "image-env: installing$missing (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman buildah skopeo runc debootstrap >/dev/null
fi

mkdir -p "$OCI_WORK/tmp"
cat >"$OCI_WORK/storage.conf" <<EOC
[storage]
driver = "overlay"
graphroot = "$OCI_WORK/storage"
runroot = "$OCI_WORK/run"
EOC
export CONTAINERS_STORAGE_CONF="$OCI_WORK/storage.conf"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$IMAGE_REPO_ROOT/build-support/containers.conf}"
# buildah and podman stage layers under TMPDIR: keep them on the work folder's disk.
export TMPDIR="$OCI_WORK/tmp"
