"""Planner-boundary gate: the planner service's dependency closure holds no model family.

`./pants dependencies --transitive services/planner::` is the build's own answer, but Pants
cannot run inside a Pants test sandbox. Pants infers dependencies from import statements, so
this test computes the same closure from the source: every `import` and `from ... import`
anywhere in a module (function bodies included, where a runtime check would miss lazy
imports), resolved against the source roots, followed transitively through first-party code.
A second test checks the running process: importing the service and building its planner and
servicer loads no family module either.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FIRST_PARTY = ("worldflux", "wf_planner", "wf_dynamics", "wf_gate", "plugin_family")
FAMILY_PACKAGES = ("worldflux.models",)
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _roots() -> list[Path]:
    roots = []
    for top in FIRST_PARTY:
        spec = importlib.util.find_spec(top)  # a top-level lookup imports nothing
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.append(Path(location).parent)
    return list(dict.fromkeys(roots))


def _module_file(name: str, roots: list[Path]) -> Path | None:
    parts = name.split(".")
    for root in roots:
        for candidate in (
            root.joinpath(*parts).with_suffix(".py"),
            root.joinpath(*parts, "__init__.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of everything `path` imports, plus the packages that run on the way."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)  # maybe submodules
    expanded: set[str] = set()
    for name in names:
        parts = name.split(".")
        expanded.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return expanded


def import_closure(start: list[str]) -> set[str]:
    roots = _roots()
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or not name.startswith(FIRST_PARTY):
            continue
        path = _module_file(name, roots)
        if path is None:
            continue  # `from pkg import function`: not a module
        seen.add(name)
        todo.extend(_imports(path, name))
    return seen


def test_planner_service_import_closure_has_no_model_family() -> None:
    service = Path(importlib.util.find_spec("wf_planner").origin).parent  # type: ignore[union-attr, arg-type]
    modules = [f"wf_planner.{p.stem}" for p in service.glob("*.py") if not p.stem.endswith("_test")]
    closure = import_closure(["wf_planner", *modules])
    # The walk really follows the code: the planner and the wire layer are in it.
    assert {"wf_planner.main", "worldflux.planners.mppi", "worldflux.rpc.remote"} <= closure
    assert "worldflux.v1.planner_pb2" in closure
    families = sorted(m for m in closure if m.startswith(FAMILY_PACKAGES))
    assert not families, f"the planner service depends on model families: {families}"
    assert not any(m.startswith(("wf_dynamics", "plugin_family")) for m in closure)


def test_the_walk_does_see_families_where_they_are() -> None:
    closure = import_closure(["wf_dynamics.main"])
    assert "worldflux.models.catalog" in closure  # the dynamics service hosts families


def test_running_planner_service_loads_no_model_family() -> None:
    script = textwrap.dedent("""
        import sys
        import wf_planner.main as main
        from worldflux.rpc.remote import RemoteDynamics
        from wf_planner.servicer import PlannerServicer

        args = main.build_parser().parse_args(["--dynamics", "127.0.0.1:9"])
        servicer = PlannerServicer(main.build_planner(args), RemoteDynamics("127.0.0.1:9"))
        servicer.service()
        print(sorted(m for m in sys.modules if m.startswith("worldflux.models")))
        """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=CHILD_ENV
    )
    assert out.stdout.strip() == "[]", out.stdout
