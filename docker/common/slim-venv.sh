#!/bin/sh
# Remove from a venv made by `pex venv` the files that no program in the image runs, then byte-compile
# what is left (the image runs as a non-root user that cannot write __pycache__, so without .pyc every
# start would recompile torch's modules in memory). Runs in the Dockerfiles' builder stages.
#   slim-venv.sh VENV
set -eu
venv="$1"
for site in "$venv"/lib/python3*/site-packages; do
  [ -d "$site" ] || continue
  # torch: C++ test binaries, headers and CMake files (about 180 MB). Only C++ extension builds and
  # torch's own C++ test-suite use them; torch_shm_manager (used by tensor sharing) stays.
  rm -rf "$site/torch/test" "$site/torch/include" "$site/torch/share" "$site/torch/bin/protoc" \
    "$site/torch/bin/protoc-3.13.0.0" "$site/torch/bin/upgrader_models"
  find "$site/torch/bin" -type f \( -name 'test_*' -o -name '*Test' \) -exec rm -f {} + 2>/dev/null || true
  # Test suites shipped inside packages (numpy/*/tests, sympy/*/tests, ...): never imported at run
  # time. Helper packages named `testing` (numpy.testing, torch.testing) stay: libraries import them.
  find "$site" -depth -type d -name tests -exec rm -rf {} +
  # Bytecode compiled by `pex venv` for files removed above, and stale caches.
  find "$site" -depth -type d -name __pycache__ -exec rm -rf {} +
done
# Compile once, here. unchecked-hash: the .pyc stay valid whatever mtimes COPY gives the sources;
# -j0 uses every core of the build machine. Left as source, to save build time and about 70 MB:
# packages that no program here imports at start-up and rarely at all (sympy and networkx, which
# torch imports only for torch.compile and symbolic shapes; torch's compiler stack, ONNX export and
# internal test helpers; build tooling). A program that does import them compiles them in memory.
# Some helper files never imported on this Python do not compile at all (py312_intrinsics.py uses
# 3.12-only syntax): compileall then exits 1 after compiling the rest, which is fine; an
# interpreter that does not start still fails the build.
skip='/site-packages/(sympy|networkx|torchgen|setuptools|pkg_resources|_distutils_hack'
skip="$skip|torch/(_inductor|_dynamo|onnx|utils/benchmark|testing/_internal))/"
"$venv/bin/python" -c pass
"$venv/bin/python" -m compileall -q -j0 --invalidation-mode unchecked-hash -x "$skip" "$venv" \
  >/dev/null || true
