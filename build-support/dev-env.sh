#!/usr/bin/env bash
# A plain virtualenv for fast edit-test loops outside Pants (same lockfile as Pants uses):
#   build-support/dev-env.sh         # once, and after a lockfile or .proto change
#   build-support/pytest.sh path/to/foo_test.py -q
# Pants stays the source of truth: `./pants test ::` is what CI runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./pants export --resolve=python-default >/dev/null
venv="$(ls -d dist/export/python/virtualenvs/python-default/*/ | head -n1)"
ln -sfn "${venv%/}" .venv
# Generated protobuf modules, where Pants would put them (ignored by git and by Pants).
out=libs/worldflux/src
protoc -Iproto --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" proto/worldflux/v1/*.proto
echo "dev env ready: .venv -> $venv"
