"""The family pages' paper-alignment tables are the code's: regenerated here and compared, so a
changed size or default fails until the page is updated."""

from __future__ import annotations

from pathlib import Path

from worldflux.models.jepa.alignment import alignment_table as jepa_table
from worldflux.models.vjepa2.alignment import ac_alignment_table, alignment_table

PAGES = Path(__file__).resolve().parent / "content" / "families"


def test_jepa_page_has_the_generated_table() -> None:
    assert jepa_table() in (PAGES / "jepa.md").read_text("utf-8")


def test_vjepa2_page_has_the_generated_tables() -> None:
    page = (PAGES / "vjepa2.md").read_text("utf-8")
    assert alignment_table() in page
    assert ac_alignment_table() in page
