#!/usr/bin/env bash
# buf breaking-change check of proto/ (working tree) against a git ref (default origin/main).
#   build-support/buf-breaking.sh [REF]
# `buf breaking proto --against '.git#...,subdir=proto'` cannot work here: the root buf.yaml makes
# "." the module (Pants strips the `proto` source root, so buf lint sees worldflux/v1/*.proto), and
# buf refuses a subdirectory of a module as input. So both sides are copied out as modules rooted at
# proto/, each with the repo's buf.yaml (its `breaking` rules), and compared there.
# Uses buf from .tools/buf-v1.75.0.zip (made by build-support/bootstrap.sh), else `buf` on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGAINST="${1:-origin/main}"
cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -f .tools/buf-v1.75.0.zip ]; then
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    .tools/buf-v1.75.0.zip "$work/tool"
  BUF="$work/tool/buf/bin/buf"
  chmod +x "$BUF"
elif command -v buf >/dev/null; then
  BUF=buf
else
  echo "buf-breaking: no buf (run ./pants once to bootstrap .tools/, or pip install buf-bin)" >&2
  exit 1
fi

if ! git cat-file -e "$AGAINST:proto" 2>/dev/null; then
  echo "buf-breaking: $AGAINST has no proto/ folder: nothing to break"
  exit 0
fi
mkdir -p "$work/head" "$work/base"
cp -r proto/. "$work/head/"
git archive "$AGAINST" proto | tar -x -C "$work/base" --strip-components=1
cp buf.yaml "$work/head/buf.yaml"
cp buf.yaml "$work/base/buf.yaml"
"$BUF" breaking "$work/head" --against "$work/base"
echo "buf-breaking: proto/ has no breaking change against $AGAINST"
