"""The family pages' paper-alignment tables are the code's: each family's `alignment_table()`
(models/<family>/alignment.py) is regenerated here and must appear in its page, so a changed
size or default fails until the page is updated. One test for every page, instead of one
file per family."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from worldflux.models.dit.alignment import alignment_table as dit_table
from worldflux.models.dreamerv3.alignment import alignment_table as dreamerv3_table
from worldflux.models.gan.alignment import alignment_table as gan_table
from worldflux.models.jepa.alignment import alignment_table as jepa_table
from worldflux.models.physics.alignment import alignment_table as physics_table
from worldflux.models.renderer3d.alignment import alignment_table as renderer3d_table
from worldflux.models.ssm.alignment import alignment_table as ssm_table
from worldflux.models.tdmpc2.alignment import alignment_table as tdmpc2_table
from worldflux.models.vjepa2.alignment import ac_alignment_table
from worldflux.models.vjepa2.alignment import alignment_table as vjepa2_table

PAGES = Path(__file__).resolve().parent / "content" / "families"

TABLES: dict[str, list[Callable[[], str]]] = {
    "dit": [dit_table],
    "dreamerv3": [dreamerv3_table],
    "gan": [gan_table],
    "jepa": [jepa_table],
    "physics": [physics_table],
    "renderer3d": [renderer3d_table],
    "ssm": [ssm_table],
    "tdmpc2": [tdmpc2_table],
    "vjepa2": [vjepa2_table, ac_alignment_table],
}
# Pages whose tables families_doc_test.py renders from the built model instead.
RENDERED_IN_TEST = {"token", "diffusion"}


def test_every_family_page_has_its_table_checked() -> None:
    pages = {page.stem for page in PAGES.glob("*.md")}
    assert pages == set(TABLES) | RENDERED_IN_TEST


@pytest.mark.parametrize("page", sorted(TABLES))
def test_family_page_has_the_generated_tables(page: str) -> None:
    text = (PAGES / f"{page}.md").read_text("utf-8")
    for table in TABLES[page]:
        assert table() in text, f"{page}.md: regenerate the table of {table.__module__}"
