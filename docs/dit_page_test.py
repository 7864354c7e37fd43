"""The dit family page carries the alignment table the code computes."""

from pathlib import Path

from worldflux.models.dit.alignment import alignment_table

PAGE = Path(__file__).parent / "content" / "families" / "dit.md"


def test_page_has_the_alignment_table_of_the_code() -> None:
    assert alignment_table() in PAGE.read_text()
