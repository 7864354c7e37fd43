#!/usr/bin/env bash
# Installs the worldflux wheel from dist/ into a clean venv, as a user would next to their own
# torch (here the local CPU build, which pip's machine config finds), with its other requirements
# from the package index, and runs build-support/wheel_smoke.py from a folder outside the repo.
# Usage: build-support/wheel-smoke.sh   (after `pants package //:worldflux`; pip's cache is reused)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shopt -s nullglob
wheels=("$ROOT"/dist/worldflux-*.whl)
if [ "${#wheels[@]}" != 1 ]; then
  echo "expected one dist/worldflux-*.whl, found ${#wheels[@]}: run pants package //:worldflux" >&2
  exit 1
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
# pip's machine config names index folders that may not exist on every machine: one warning
# per package, dropped here; anything else pip says still shows (all of it when pip fails).
pip() {
  "$scratch/venv/bin/python" -m pip --disable-pip-version-check -q "$@" 2>"$scratch/pip.err" \
    || { cat "$scratch/pip.err" >&2; return 1; }
  grep -v "is ignored: it is neither a file nor a directory" "$scratch/pip.err" >&2 || true
}
start=$SECONDS
pip install "torch==2.13.0+cpu"
echo "torch installed in $((SECONDS - start)) s"
start=$SECONDS
pip install "${wheels[0]}"
echo "$(basename "${wheels[0]}") ($(du -k "${wheels[0]}" | cut -f1) KiB) and its requirements installed in $((SECONDS - start)) s"
cp "$ROOT/build-support/wheel_smoke.py" "$scratch/"
cd "$scratch" # outside the repo: only the installed copy is importable
start=$SECONDS
env -u PYTHONPATH WORLDFLUX_CACHE_DIR="$scratch/cache" SDL_VIDEODRIVER=dummy \
  "$scratch/venv/bin/python" wheel_smoke.py "$ROOT"
echo "smoke ran in $((SECONDS - start)) s"

# The programs' own wheels (worldflux-gate, -dynamics, -planner), where packaged: each console
# script starts from the venv's bin/, on the worldflux wheel installed above.
programs=("$ROOT"/dist/worldflux_{gate,dynamics,planner}-*.whl)
if [ "${#programs[@]}" -gt 0 ]; then
  start=$SECONDS
  pip install "${programs[@]}"
  "$scratch/venv/bin/wf-gate" version
  for script in wf-dynamics wf-planner; do
    "$scratch/venv/bin/$script" --help >/dev/null
    echo "$script --help: ok"
  done
  echo "$(basename -a "${programs[@]}" | tr '\n' ' ')installed and started in $((SECONDS - start)) s"
fi
