#!/usr/bin/env bash
# Proves affected-target selection: in a scratch clone, edit one library file (uncommitted) and
# check that `--changed-since=HEAD --changed-dependents=transitive` selects exactly the test targets
# that depend on it, transitively: its own tests included, every test that does not depend on it
# left out (build-support/affected_check.py checks the selection against `pants peek ::`).
# Usage: build-support/check-affected.sh   (from anywhere; about a minute, no pantsd)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDITED="${EDITED:-libs/worldflux/src/worldflux/rpc/codec.py}"
OWN_TEST="${OWN_TEST:-libs/worldflux/src/worldflux/rpc/codec_test.py:tests}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
clone="$scratch/repo"
git clone -q --local "$ROOT" "$clone"
# The launcher's bootstrapped tools (git-ignored): copying them skips a second bootstrap.
if [ -d "$ROOT/.tools" ]; then cp -r "$ROOT/.tools" "$clone/.tools"; fi
cd "$clone"

echo "# check-affected: scratch edit, never committed" >>"$EDITED"
echo "edited (uncommitted, in a scratch clone of HEAD): $EDITED"
./pants --no-pantsd --changed-since=HEAD --changed-dependents=transitive \
  --filter-target-type=python_test list >"$scratch/selected.txt"
./pants --no-pantsd peek :: >"$scratch/peek.json"

python3 "$ROOT/build-support/affected_check.py" --edited "$EDITED" --own-test "$OWN_TEST" \
  --selected "$scratch/selected.txt" --peek "$scratch/peek.json"
