"""Every fenced code block of every page under docs/content is run or checked, so the docs
cannot rot (doc_blocks.py says how a block is classified):

- python blocks of a page run in order in one fresh interpreter, its shell blocks with bash
  between them as on the page, in a scratch directory, with `wf-gate`, `wf-dynamics` and
  `wf-planner` on PATH from the source tree; a page whose output says something checkable is
  checked below (`CHECKS`);
- yaml, toml, ini and json blocks must parse; proto blocks must match the compiled
  `worldflux.v1` descriptors field for field;
- `text` blocks are output, trees or diagrams: not code;
- any other block must say why it is not run (`<!-- not run: REASON -->` right above it).
"""

from __future__ import annotations

import code
import configparser
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from doc_blocks import CHECK, Block, blocks, pages, problem, steps

PAGES = pages()
RUNNABLE = [page for page in PAGES if any(s["kind"] != "file" for s in steps(page))]
CHECKED = [b for page in PAGES for b in blocks(page) if b.lang in CHECK and not b.not_run_reason]
PROGRAMS = {
    "wf-gate": "wf_gate.cli",
    "wf-dynamics": "wf_dynamics.main",
    "wf-planner": "wf_planner.main",
}


def test_pages_are_found() -> None:
    assert {"index.md", "concepts.md", "getting-started.md", "families/tdmpc2.md"} <= set(pages())


@pytest.mark.parametrize("page", PAGES)
def test_every_block_is_run_checked_or_says_why_not(page: str) -> None:
    problems = [p for p in map(problem, blocks(page)) if p]
    assert not problems, "\n".join(problems)


def test_an_unmarked_block_that_cannot_run_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```bash\necho run\n```\n\n<!-- not run: a server -->\n```bash\nserve\n```\n\n"
        "```text\noutput\n```\n\n```\nbare\n```\n\n```console\n$ ls\n```\n\n"
        "<!-- not run: -->\n```bash\nx\n```\n"
    )
    found = blocks("page.md", root=tmp_path)
    assert [b.lang for b in found] == ["bash", "bash", "text", "", "console", "bash"]
    verdicts = [problem(b) for b in found]
    assert verdicts[:3] == [None, None, None]
    assert "without a language" in str(verdicts[3])
    assert "```console is neither run nor checked" in str(verdicts[4])
    assert "needs a reason" in str(verdicts[5])


def test_an_indented_fence_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text("- a list\n\n  ```python\n  print(1)\n  ```\n")
    with pytest.raises(ValueError, match="indented or unclosed"):
        blocks("page.md", root=tmp_path)


class ParseOnly(code.InteractiveConsole):
    """The plain `python` REPL's reading of pasted lines, without running them."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: str | None = None

    def runcode(self, code: object) -> None:
        pass

    def showsyntaxerror(self, filename: str | None = None, **kwargs: object) -> None:
        self.failed = str(sys.exc_info()[1])


def paste_problem(block: Block) -> str | None:
    """Why pasting the block into the plain REPL fails (a blank line inside a class or function
    body ends it there; a dedented line right after an indented block needs a blank line)."""
    console = ParseOnly()
    for number, line in enumerate([*block.code.splitlines(), ""], block.line):
        console.push(line)
        if console.failed:
            return f"{block.page}:{number}: pasted into python, {console.failed}"
    return None


PASTED = [
    b for page in PAGES for b in blocks(page) if b.lang == "python" and not b.file and not b.note
]


@pytest.mark.parametrize("block", PASTED, ids=[b.where for b in PASTED])
def test_python_blocks_paste_into_the_plain_repl(block: Block) -> None:
    # The pages tell readers to paste the blocks, in order, into one Python session.
    assert paste_problem(block) is None, paste_problem(block)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dataset cache for every page: the bundled datasets are generated once."""
    return tmp_path_factory.mktemp("worldflux-cache")


# Ports the services page binds as written (the services' defaults and two metrics ports).
FIXED_PORTS = {"services.md": (50061, 50071, 9101, 9102)}


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR (connections in TIME_WAIT do not count) but not SO_REUSEPORT: gRPC sets
    # that, so a second server could share the port with one that is already serving.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_page(page: str, tmp_path: Path, cache: Path) -> tuple[int, str, str]:
    busy = [port for port in FIXED_PORTS.get(page, ()) if not port_is_free(port)]
    assert not busy, f"{page} binds ports {busy}, which are in use here: stop what serves on them"
    work = tmp_path / "work"
    work.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program, module in PROGRAMS.items():
        shim = bin_dir / program
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        shim.chmod(0o755)
    plan = tmp_path / "steps.json"
    plan.write_text(json.dumps(steps(page)))
    # Absolute: the child runs in `work`, and Pants puts relative source roots on sys.path.
    inherited = [os.path.abspath(p) for p in sys.path if p]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(work), *inherited]),
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "WORLDFLUX_CACHE_DIR": str(cache),
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        # Its own process group: whatever a shell block left running is ended with it.
        child = subprocess.Popen(
            [sys.executable, "-m", "doc_blocks", str(plan)],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=work,
            start_new_session=True,
        )
        try:
            code = child.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return code, out.read_text(), err.read_text()


def check_getting_started(out: list[str], work: Path) -> None:
    first, last = (float(x) for x in re.findall(r"-?\d+\.\d+", out[0]))
    assert last < first, out[0]  # 40 steps already lower the held-out loss
    assert out[1] == "reloaded model answers the same: True"
    assert out[2].startswith("action [") and out[2].endswith("horizon 3")
    assert out[3] == "served plan (3, 1, 1) via 127.0.0.1"
    assert (work / "runs" / "first" / "model").is_dir()


def check_extending(out: list[str], work: Path) -> None:
    assert out == ["trained 20 steps", "planned (5, 1, 1)", "gates training_speed"]


# What a page's output must say, beyond running without an error.
CHECKS: dict[str, Callable[[list[str], Path], None]] = {
    "getting-started.md": check_getting_started,
    "extending.md": check_extending,
}


@pytest.mark.parametrize("page", RUNNABLE)
def test_the_page_runs(page: str, tmp_path: Path, shared_cache: Path) -> None:
    code, out, err = run_page(page, tmp_path, shared_cache)
    assert code == 0, f"{page}:\n{out[-2000:]}\n{err[-4000:]}"
    if page in CHECKS:
        CHECKS[page](out.splitlines(), tmp_path / "work")


def check_proto(block: Block) -> None:
    """Each message, enum and service of the excerpt exists in worldflux.v1 as written: every
    field with its number, every enum value, every rpc with its request and response."""
    from google.protobuf import descriptor_pool

    import worldflux.v1.dynamics_pb2  # registers every worldflux.v1 file with the pool
    import worldflux.v1.planner_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    finders = {
        "message": pool.FindMessageTypeByName,
        "enum": pool.FindEnumTypeByName,
        "service": pool.FindServiceByName,
    }
    scope: list[tuple[str, object]] = []  # (kind, descriptor); a oneof stays in its message
    checked = 0
    for raw in re.sub(r"//[^\n]*", "", block.code).splitlines():
        line, where = raw.strip(), f"{block.where}: {raw.strip()!r}"
        head = re.match(r"(message|enum|service|oneof) (\w+) \{$", line)
        if head:
            kind, name = head.groups()
            if kind == "oneof":
                assert scope and name in scope[-1][1].oneofs_by_name, where  # type: ignore[attr-defined]
                scope.append(scope[-1])
            else:
                scope.append((kind, finders[kind]("worldflux.v1." + name)))
            continue
        if line == "}":
            scope.pop()
            continue
        if not line:
            continue
        assert scope, f"{where} outside a message, enum or service"
        kind, descriptor = scope[-1]
        if kind == "message":
            field = re.match(r"(?:repeated )?(?:map<[\w.]+, ?[\w.]+>|[\w.]+) (\w+) = (\d+);$", line)
            assert field, f"{where}: not a field"
            declared = descriptor.fields_by_name.get(field[1])  # type: ignore[attr-defined]
            assert declared is not None and declared.number == int(field[2]), where
        elif kind == "enum":
            value = re.match(r"(\w+) = (\d+);$", line)
            assert value, f"{where}: not an enum value"
            declared = descriptor.values_by_name.get(value[1])  # type: ignore[attr-defined]
            assert declared is not None and declared.number == int(value[2]), where
        else:
            rpc = re.match(r"rpc (\w+)\((?:stream )?(\w+)\) returns \((?:stream )?(\w+)\);$", line)
            assert rpc, f"{where}: not an rpc"
            method = descriptor.methods_by_name.get(rpc[1])  # type: ignore[attr-defined]
            assert method is not None, where
            assert (method.input_type.name, method.output_type.name) == (rpc[2], rpc[3]), where
        checked += 1
    assert checked and not scope, f"{block.where}: nothing checked, or an unclosed brace"


@pytest.mark.parametrize("block", CHECKED, ids=[b.where for b in CHECKED])
def test_the_block_parses(block: Block) -> None:
    if block.lang == "yaml":
        assert list(yaml.safe_load_all(block.code)), block.where
    elif block.lang == "toml":
        assert tomllib.loads(block.code), block.where
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "ini":
        parser = configparser.ConfigParser()
        parser.read_string(block.code)
        assert parser.sections(), block.where
    else:
        check_proto(block)
