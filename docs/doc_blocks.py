"""The fenced code blocks of the docs pages, and how each one is run or checked.

A block is what sits between two ``` lines at the start of a line; the HTML comment on the line
right above it, if any, says what it is:

- `<!-- not run: REASON -->`: shown, never run (a reason is required);
- `<!-- file: PATH -->`: the content of a file, written to PATH in the page's scratch directory
  before anything of the page runs (extending.md's plugin package);
- nothing: the block is run or checked according to its language (see `KINDS`).

`python -m doc_blocks STEPS.json` is the child process that runs one page: its python blocks
exec'd in order in one namespace, its shell blocks with bash, interleaved as on the page, in the
current directory. Tracebacks name the page and its line numbers.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONTENT = Path(__file__).resolve().parent / "content"

FENCE = re.compile(
    r"(?:^<!-- (?P<note>[^\n]*?) -->\n)?^```(?P<lang>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$",
    re.S | re.M,
)
FENCE_LINE = re.compile(r"^\s*```", re.M)

# What happens to an unmarked block of each language.
RUN = {"python": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
CHECK = {"yaml", "toml", "ini", "proto", "json"}
NOT_CODE = {"text"}  # program output, directory trees, diagrams


@dataclass(frozen=True)
class Block:
    page: str  # relative to docs/content
    line: int  # line of the first line of code
    lang: str
    note: str
    code: str

    @property
    def not_run_reason(self) -> str | None:
        return self.note[len("not run:") :].strip() if self.note.startswith("not run:") else None

    @property
    def file(self) -> str | None:
        return self.note[len("file:") :].strip() if self.note.startswith("file:") else None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages(root: Path = CONTENT) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.md"))


def blocks(page: str, root: Path = CONTENT) -> list[Block]:
    text = (root / page).read_text("utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append(
            Block(page, line, match["lang"].strip(), (match["note"] or "").strip(), match["code"])
        )
    fences = len(FENCE_LINE.findall(text))
    if fences != 2 * len(found):
        raise ValueError(
            f"{page}: {fences} fence lines but {len(found)} blocks: a fence is indented or "
            "unclosed (fences start at the start of a line)"
        )
    return found


def problem(block: Block) -> str | None:
    """Why a block is neither run, checked, a file, plain text, nor marked; None when it is fine."""
    where = f"{block.where} ({block.lang or 'no language'})"
    if block.note.startswith("not run"):
        return (
            None if block.not_run_reason else f"{where}: `<!-- not run: REASON -->` needs a reason"
        )
    if block.file:
        return None
    if block.note:
        return f"{where}: unknown marker <!-- {block.note} -->"
    if not block.lang:
        return (
            f"{where}: a block without a language is never run; write ```text for output, "
            "trees and diagrams, or name the language"
        )
    known = set(RUN) | CHECK | NOT_CODE
    if block.lang not in known:
        return (
            f"{where}: ```{block.lang} is neither run nor checked ({', '.join(sorted(known))}); "
            "mark it `<!-- not run: REASON -->`"
        )
    return None


def steps(page: str) -> list[dict[str, object]]:
    """What the child runs for one page, in page order: files first, then python and shell."""
    found = blocks(page)
    files: list[dict[str, object]] = [
        {"kind": "file", "path": b.file, "code": b.code} for b in found if b.file
    ]
    runs: list[dict[str, object]] = [
        {"kind": RUN[b.lang], "where": b.where, "line": b.line, "code": b.code}
        for b in found
        if not b.file and b.not_run_reason is None and b.lang in RUN
    ]
    return files + runs


def run_steps(plan: list[dict[str, object]]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    for step in plan:
        code = str(step["code"])
        if step["kind"] == "file":
            path = Path(str(step["path"]))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code)
        elif step["kind"] == "python":
            page = str(step["where"]).rsplit(":", 1)[0]
            padded = "\n" * (int(str(step["line"])) - 1) + code  # tracebacks show page lines
            exec(compile(padded, page, "exec"), namespace)  # the docs' own code
        else:
            sys.stdout.flush()
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code])
            if done.returncode != 0:
                raise SystemExit(f"shell block at {step['where']} exited {done.returncode}")


def end_group_with_parent() -> None:
    """In the page's process (a session leader, see code_blocks_test): when the test process dies
    (a cancelled or timed-out run), end every process the page started, servers included."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    if os.getppid() == 1:  # the parent died before the signal was armed
        os.killpg(0, signal.SIGKILL)


PR_SET_PDEATHSIG = 1

if __name__ == "__main__":
    end_group_with_parent()
    run_steps(json.loads(Path(sys.argv[1]).read_text("utf-8")))
