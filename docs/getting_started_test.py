"""docs/content/getting-started.md, run as written: its Python blocks in order, in one fresh
interpreter, in a scratch directory. A shell block must say why it is not run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "content" / "getting-started.md"
FENCE = re.compile(r"(?:<!-- (?P<note>[^>]*) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[str, str, str]]:
    return [(m["lang"], m["note"] or "", m["code"]) for m in FENCE.finditer(PAGE.read_text())]


def test_every_shell_block_says_why_it_is_not_run() -> None:
    shell = [(note, code) for lang, note, code in blocks() if lang != "python"]
    assert shell, "the page shows the command-line equivalents"
    for note, code in shell:
        assert note.startswith("not run: "), f"a shell block without a reason:\n{code}"


def test_the_python_blocks_run_in_order(tmp_path: Path) -> None:
    script = "\n".join(code for lang, _, code in blocks() if lang == "python")
    inherited = [os.path.abspath(p) for p in sys.path if p]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(inherited),
        "WORLDFLUX_CACHE_DIR": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    first, last = (float(x) for x in re.findall(r"-?\d+\.\d+", lines[0]))
    assert last < first, lines[0]  # 40 steps already lower the held-out loss
    assert lines[1] == "reloaded model answers the same: True"
    assert lines[2].startswith("action [") and lines[2].endswith("horizon 3")
    assert lines[3] == "served plan (3, 1, 1) via 127.0.0.1"
    assert (tmp_path / "runs" / "first" / "model").is_dir()
