#!/usr/bin/env bash
# The quality gates as a pipeline: measure in shards, merge, write the report, check.
# The same script runs on one machine, in a CI matrix (one shard per job, then one finishing job)
# and in .ci/run at tiny settings; the workflows only call it.
#
#   build-support/gate-pipeline.sh [options] [-- wf-gate measure options]
#
#   --gate "CMD"       how to run wf-gate (default: ./pants run tools/gate/src/wf_gate:wf-gate --);
#                      e.g. "python3 dist/tools.gate.src.wf_gate/wf-gate.pex" or
#                      "docker run --rm -v $PWD/reports:/work/reports worldflux-gate:rc"
#   --shards N         split the measurement into N shards (default 1)
#   --shard I          measure shard I only (a CI matrix job), then stop
#   --finish           merge the shards already in --out, write the report and check (the job
#                      after a matrix); without --shard or --finish: every shard, then finish
#   --out DIR          where shards and the report go (default reports/quality-gates); shard I is
#                      DIR/shards/shard-I.json, the report DIR/seed_runs.json, DIR/summary.md
#   --min-seeds N      seeds a verdict needs (default: the policy's)
#   --check-arg ARG    one more option for `wf-gate check`, e.g. --check-arg=--min-ci-low=0.45
#                      (repeatable; thresholds given to measure are recorded in the report)
#   --expect CODE      exit 0 when the check exits CODE, 1 otherwise (a planted failure in CI)
#
# Exit status: the check's (0 pass, 1 a gate failed, 3 insufficient evidence), 2 for an error.
# With $GITHUB_STEP_SUMMARY set, the report's summary.md is appended to the job summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gate="./pants run tools/gate/src/wf_gate:wf-gate --"
shards=1
shard=""
finish_only=0
out="reports/quality-gates"
min_seeds=""
expect=""
check_args=()
die() {
  echo "gate-pipeline: $*" >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --gate) gate="${2:?--gate needs a command}"; shift 2 ;;
    --shards) shards="${2:?}"; shift 2 ;;
    --shard) shard="${2:?}"; shift 2 ;;
    --finish) finish_only=1; shift ;;
    --out) out="${2:?}"; shift 2 ;;
    --min-seeds) min_seeds="${2:?}"; shift 2 ;;
    --expect) expect="${2:?}"; shift 2 ;;
    --check-arg) check_args+=("${2:?}"); shift 2 ;;
    --check-arg=*) check_args+=("${1#--check-arg=}"); shift ;;
    --) shift; break ;;
    *) die "unknown option $1 (wf-gate measure options go after --)" ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "--shards must be a positive integer, got $shards"
if [[ -n "$shard" ]] && ! { [[ "$shard" =~ ^[0-9]+$ ]] && ((shard < shards)); }; then
  die "--shard must be in 0..$((shards - 1)), got $shard"
fi
read -r -a wfgate <<<"$gate"
mkdir -p "$out/shards"

measure_shard() {
  local i=$1
  shift
  echo "== measure shard $i/$shards"
  # --append resumes a shard that was interrupted; a finished shard costs nothing.
  "${wfgate[@]}" measure --shard "$i/$shards" --no-report --no-progress --append \
    --output "$out/shards/shard-$i.json" "$@"
}

if [[ -n "$shard" ]]; then
  measure_shard "$shard" "$@"
  exit 0
fi
if ((!finish_only)); then
  for ((i = 0; i < shards; i++)); do
    measure_shard "$i" "$@"
  done
fi

mapfile -t parts < <(for ((i = 0; i < shards; i++)); do echo "$out/shards/shard-$i.json"; done)
for part in "${parts[@]}"; do
  [[ -f "$part" ]] || die "missing $part: measure every shard first"
done
echo "== merge ${#parts[@]} shard(s)"
"${wfgate[@]}" merge "${parts[@]}" --output "$out/seed_runs.json"
echo "== report"
"${wfgate[@]}" report --input "$out/seed_runs.json"
echo "== check"
check=("${wfgate[@]}" check --input "$out/seed_runs.json")
[[ -n "$min_seeds" ]] && check+=(--min-seeds "$min_seeds")
check+=("${check_args[@]}")
set +e
"${check[@]}" | tee "$out/check.txt"
code=${PIPESTATUS[0]}
set -e
if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$out/summary.md" ]]; then
  {
    echo "## Quality gates (exit $code)"
    echo
    echo '```'
    grep -E '^(FAIL|NOT MEASURED|verdict) ' "$out/check.txt" || true
    echo '```'
    cat "$out/summary.md"
  } >>"$GITHUB_STEP_SUMMARY"
fi
if [[ -n "$expect" ]]; then
  if [[ "$code" == "$expect" ]]; then
    echo "gate-pipeline: check exited $code, as expected"
    exit 0
  fi
  echo "gate-pipeline: check exited $code, expected $expect" >&2
  exit 1
fi
exit "$code"
