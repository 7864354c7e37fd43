"""The extensibility check: adding a family variant needs no edit of the library's core.

Two findings make it: the files changed since a base revision (a variant may touch its own
folder, tests, docs and configuration, never core/, planners/, rpc/, gates/ or services/), and
the contract suite on the variant's models. `wf-gate extensibility` prints both and exits 1 when
either fails; without a git checkout the diff is "not measured", which is not a pass.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from worldflux.gates.records import CheckResult

# Where a family variant must not need a change.
PROTECTED = (
    "libs/worldflux/src/worldflux/core/",
    "libs/worldflux/src/worldflux/planners/",
    "libs/worldflux/src/worldflux/rpc/",
    "libs/worldflux/src/worldflux/gates/",
    "services/",
)


def changed_files(base: str, repo: Path) -> list[str]:
    """Files that differ from `base` (committed since, staged, or edited in the work tree),
    plus untracked files git does not ignore."""

    def git(*args: str) -> list[str]:
        out = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout
        return [line for line in out.splitlines() if line]

    return sorted(
        set(git("diff", "--name-only", base)) | set(git("ls-files", "-o", "--exclude-standard"))
    )


def core_untouched(base: str, repo: Path, protected: Sequence[str] = PROTECTED) -> CheckResult:
    """Fails when a file under a protected folder changed since `base`."""
    try:
        files = changed_files(base, repo)
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return CheckResult(None, f"not measured: no git diff against {base!r} ({detail.strip()})")
    touched = [f for f in files if f.startswith(tuple(protected))]
    if touched:
        shown = ", ".join(touched[:5]) + (
            f" and {len(touched) - 5} more" if len(touched) > 5 else ""
        )
        return CheckResult(False, f"{len(touched)} core file(s) changed since {base}: {shown}")
    return CheckResult(True, f"{len(files)} file(s) changed since {base}, none under core")
