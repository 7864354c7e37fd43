#!/usr/bin/env bash
# Run pytest in the dev venv with every source root on the path (see dev-env.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
roots=("$ROOT"/libs/*/src "$ROOT"/services/*/src "$ROOT"/tools/*/src "$ROOT"/tests "$ROOT"/examples "$ROOT"/benchmarks)
PYTHONPATH="$(IFS=:; echo "${roots[*]}")${PYTHONPATH:+:$PYTHONPATH}" \
  SDL_VIDEODRIVER=dummy exec "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider "$@"
