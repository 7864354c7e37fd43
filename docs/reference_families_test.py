"""The reference families' pages carry the paper-alignment tables their code generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from worldflux.models.dreamerv3.alignment import alignment_table as dreamerv3_table
from worldflux.models.tdmpc2.alignment import alignment_table as tdmpc2_table

PAGES = Path(__file__).resolve().parent / "content" / "families"


@pytest.mark.parametrize(
    ("page", "table"), [("tdmpc2", tdmpc2_table), ("dreamerv3", dreamerv3_table)]
)
def test_family_page_has_the_generated_table(page: str, table) -> None:  # type: ignore[no-untyped-def]
    assert table() in (PAGES / f"{page}.md").read_text("utf-8")
