#!/usr/bin/env bash
# Run the container smoke tests (tests/containers/*_image_test.py) against the images that
# build-support/build-images.sh built, then print the images' sizes and the services' start-up
# times. Outside Pants on purpose: podman runs as root with the repository's storage (.oci/).
# The tests cannot skip here (WF_REQUIRE_IMAGES=1): a missing image or podman is a failure. Their
# JUnit report goes to dist/test/reports/, where .ci/run's summary counts it.
#   build-support/test-images.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=build-support/image-env.sh
source build-support/image-env.sh

# pytest for the host side (the tests themselves need only the standard library): the dev venv
# when there is one, else a small venv under the work folder with the lockfile's pytest.
python=.venv/bin/python
if ! [ -x "$python" ] || ! "$python" -c 'import pytest' 2>/dev/null; then
  python="$OCI_WORK/pytest-venv/bin/python"
  if ! [ -x "$python" ]; then
    # name==version of each from the Pants lockfile (JSON after its `//` header lines).
    pins="$(python3 - 3rdparty/python/default.lock pytest pluggy iniconfig packaging <<'PY'
import json, sys
text = "".join(l for l in open(sys.argv[1]) if not l.startswith("//"))
locked = json.loads(text)["locked_resolves"][0]["locked_requirements"]
versions = {r["project_name"]: r["version"] for r in locked}
print(" ".join(f"{name}=={versions[name]}" for name in sys.argv[2:]))
PY
)"
    python3 -m venv "$OCI_WORK/pytest-venv"
    # shellcheck disable=SC2086  # one argument per pin
    "$python" -m pip install -q --disable-pip-version-check $pins
  fi
fi

mkdir -p dist/test/reports
start=$SECONDS
WF_REQUIRE_IMAGES=1 PYTHONPATH="$PWD/tests" "$python" -m pytest -p no:cacheprovider -q -rA \
  --junitxml=dist/test/reports/tests.containers.images.xml \
  tests/containers/image_hygiene_test.py tests/containers/gate_image_test.py \
  tests/containers/services_image_test.py "$@"
echo "[test-images] smoke tests done in $((SECONDS - start))s"

PYTHONPATH="$PWD/tests" "$python" tests/containers/metrics.py --runs "${WF_METRICS_RUNS:-3}" \
  --json dist/containers/metrics.json
