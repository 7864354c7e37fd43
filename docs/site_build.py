"""Building the site for the docs' tests: `mkdocs build --strict` in a child interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    # The API reference hook imports worldflux: the child sees this interpreter's import path.
    path = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=path)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
