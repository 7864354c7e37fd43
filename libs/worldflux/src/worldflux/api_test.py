"""The top-level API: every exported name resolves, lazily, and `import worldflux` stays light."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import worldflux

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=CHILD_ENV
    ).stdout


def test_import_worldflux_loads_no_torch_and_no_submodule() -> None:
    out = _run(
        "import sys, json, worldflux\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'grpc', 'numpy', 'worldflux'))))"
    )
    # Only the package itself: no torch, grpc or numpy, and none of its subpackages.
    assert json.loads(out) == ["worldflux"]


def test_every_name_in_all_resolves_to_its_defining_object() -> None:
    assert len(set(worldflux.__all__)) == len(worldflux.__all__)
    assert set(worldflux.__all__) == {"__version__", *worldflux._EXPORTS}
    for name in worldflux.__all__:
        value = getattr(worldflux, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(worldflux._EXPORTS[name]), name)
    assert set(worldflux.__all__) <= set(dir(worldflux))


def test_a_name_loads_on_first_access_only() -> None:
    out = _run(
        "import sys, worldflux\n"
        "print('worldflux.training' in sys.modules)\n"
        "from worldflux import Trainer, TrainerConfig\n"
        "print('worldflux.training' in sys.modules, Trainer.__module__)"
    )
    assert out.split("\n")[:2] == ["False", "True worldflux.training.trainer"]


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        worldflux.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("worldflux.NoSuchThing did not raise")


def test_type_checking_imports_match_the_lazy_table() -> None:
    # Type checkers see the TYPE_CHECKING imports, the runtime sees _EXPORTS: the two must agree,
    # and every name carries the pragma that keeps Pants from inferring the whole library here.
    imported: dict[str, str] = {}
    module = ""
    for line in Path(worldflux.__file__).read_text().splitlines():
        if match := re.fullmatch(r"    from (\S+) import \(", line):
            module = match[1]
        elif match := re.fullmatch(r"        (\w+),  # pants: no-infer-dep", line):
            imported[match[1]] = module
        elif match := re.fullmatch(r"    from (\S+) import (\w+)  # pants: no-infer-dep", line):
            imported[match[2]] = match[1]
    assert imported == worldflux._EXPORTS
