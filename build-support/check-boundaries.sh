#!/usr/bin/env bash
# Proves that the build enforces the layer boundaries: in a scratch clone of HEAD, plant one
# import across each boundary that the BUILD files' `__dependencies_rules__` forbid, run
# `pants lint ::` and require that it fails naming exactly those four imports (and nothing else).
#   core -> planners                 (core depends on nothing of ours outside core)
#   planners -> a family             (planners depend on core only)
#   services/planner -> a family     (the planner service never hosts a model family)
#   a family -> rpc                  (families never depend on rpc/gates/services/tools)
# The clean tree passing `lint ::` is .ci/run's own lint step.
# Usage: build-support/check-boundaries.sh   (from anywhere; under a minute warm, no pantsd)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB=libs/worldflux/src/worldflux

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
clone="$scratch/repo"
git clone -q --local "$ROOT" "$clone"
# The launcher's bootstrapped tools (git-ignored): copying them skips a second bootstrap.
if [ -d "$ROOT/.tools" ]; then cp -r "$ROOT/.tools" "$clone/.tools"; fi
cd "$clone"

# file|import line|the rule that must deny it (as Pants prints it)|the denied dependency
planted=(
  "$LIB/core/planted_boundary.py|from worldflux.planners import base|$LIB/core/BUILD[!*]|$LIB/planners/base.py"
  "$LIB/planners/planted_boundary.py|import worldflux.models.catalog|$LIB/planners/BUILD[!*]|$LIB/models/catalog.py"
  "services/planner/src/wf_planner/planted_boundary.py|import worldflux.models.tdmpc2|services/planner/src/wf_planner/BUILD[!//$LIB/models/**]|$LIB/models/tdmpc2/__init__.py"
  "$LIB/models/tdmpc2/planted_boundary.py|import worldflux.rpc.codec|$LIB/models/BUILD[!//$LIB/rpc/**]|$LIB/rpc/codec.py"
)
for entry in "${planted[@]}"; do
  IFS='|' read -r file line _ _ <<<"$entry"
  printf '"""Planted by build-support/check-boundaries.sh: must fail lint."""\n\n%s  # noqa: F401\n' \
    "$line" >"$file"
  echo "planted (scratch clone, uncommitted): $file: $line"
done

rc=0
./pants --no-pantsd lint --only=visibility :: >"$scratch/lint.txt" 2>&1 || rc=$?
cat "$scratch/lint.txt"
if [ "$rc" = 0 ]; then
  echo "FAIL: pants lint passed with four planted boundary violations" >&2
  exit 1
fi
failed=0
for entry in "${planted[@]}"; do
  IFS='|' read -r file _ rule dependency <<<"$entry"
  # The violation block: "<file> has 1 dependency violation:" then "* <rule> -> <dir> : DENY"
  # and "python_sources <file> -> python_sources <dependency>".
  if ! grep -qF "$file has 1 dependency violation" "$scratch/lint.txt" \
    || ! grep -qF "* $rule -> " "$scratch/lint.txt" \
    || ! grep -qF "$file -> python_sources $dependency" "$scratch/lint.txt"; then
    echo "FAIL: lint did not report $file -> $dependency (rule $rule)" >&2
    failed=1
  fi
done
reported="$(grep -c "dependency violation" "$scratch/lint.txt" || true)"
if [ "$reported" != "${#planted[@]}" ]; then
  echo "FAIL: lint reported $reported violations, planted ${#planted[@]}" >&2
  failed=1
fi
[ "$failed" = 0 ] && echo "boundaries: lint failed on each of the ${#planted[@]} planted violations, and only on them"
exit "$failed"
