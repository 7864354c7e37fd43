"""What the examples' tests share: checking an argparse refusal exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def assert_usage_error(
    capsys: pytest.CaptureFixture[str],
    entry: Callable[[list[str]], object],
    argv: list[str],
    message: str,
) -> None:
    """argparse's refusal: exit status 2 and `message` on stderr (not just any SystemExit, which
    the example's own checks raise too, e.g. for a loss that did not fall)."""
    with pytest.raises(SystemExit) as exit_:
        entry(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
