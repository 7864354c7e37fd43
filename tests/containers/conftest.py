"""Fixtures of the container smoke tests (run by build-support/test-images.sh, not by Pants).

`images` skips a smoke test, with the reason, where podman or the images are absent (a developer's
plain pytest run); with WF_REQUIRE_IMAGES=1 (set by test-images.sh, hence in CI) the same absence
is a failure, so a CI run can never pass by skipping them.
"""

from __future__ import annotations

import os

import pytest

from . import podman


@pytest.fixture(scope="session")
def images() -> None:
    reason = podman.why_unavailable()
    if reason is None:
        return
    if os.environ.get("WF_REQUIRE_IMAGES") == "1":
        pytest.fail(f"container smoke tests required but cannot run: {reason}")
    pytest.skip(reason)
