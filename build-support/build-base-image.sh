#!/usr/bin/env bash
# Build the local base image localhost/debian-python:bookworm (Debian bookworm minbase + python3
# 3.11 + venv) without any container registry: debootstrap from the Debian mirror apt already uses,
# then `tar | podman import`. The Dockerfiles under docker/ take it through
# `--build-arg BASE_IMAGE`; elsewhere they default to the official python:3.11-slim-bookworm.
# Needs root. 1.5-5 min when missing (the mirror's speed), nothing when present.
# After shared/recipes/containers/build-base-image.sh.
set -euo pipefail
# shellcheck source=build-support/image-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/image-env.sh"

if podman image exists "$WF_BASE_IMAGE"; then
  echo "base image $WF_BASE_IMAGE present"
  exit 0
fi

# The Debian mirror this machine's apt uses (deb822 *.sources first, then one-line *.list).
debian_uri() { grep -E '/debian/?$' | head -n1 || true; }
mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2}' | debian_uri)"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '/^deb /{print $2}' | debian_uri)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$OCI_WORK/rootfs"
rm -rf "$rootfs"
if ! debootstrap --variant=minbase --include=python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$OCI_WORK/debootstrap.log" 2>&1; then
  tail -n 30 "$OCI_WORK/debootstrap.log" >&2
  exit 1
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
: >"$rootfs/etc/resolv.conf"
tar --numeric-owner -C "$rootfs" -c . \
  | podman import -q --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$WF_BASE_IMAGE" \
    >/dev/null
rm -rf "$rootfs"
echo "base image $WF_BASE_IMAGE built"
