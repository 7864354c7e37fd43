"""The paper-alignment tables of the family pages are derived from the code: each is rendered
here from the family's paper figures (PAPER_BASE) and from a `base` model built by the library,
and must appear in its page exactly, so the page cannot drift from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (registers the families)
from worldflux.core import create_world_model

PAGES = Path(__file__).resolve().parent / "content" / "families"
PIXELS = {"obs_shape": (3, 64, 64), "action_dim": 18, "action_kind": "discrete"}


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(paper: dict[str, Any], ours: dict[str, Any]) -> str:
    lines = ["| figure | paper (official code) | WorldFlux `base` |", "|---|---|---|"]
    for key, value in paper.items():
        mark = "" if ours[key] == value else " (differs)"
        lines.append(f"| `{key}` | {_fmt(value)} | {_fmt(ours[key])}{mark} |")
    return "\n".join(lines)


def token_table() -> str:
    from worldflux.models.token import PAPER_BASE

    with torch.device("meta"):
        model = create_world_model("token:base", **PIXELS)
    return render(PAPER_BASE, model.paper_alignment())  # type: ignore[operator]


def diffusion_table() -> str:
    from worldflux.models.diffusion import PAPER_BASE

    torch.manual_seed(0)
    model = create_world_model("diffusion:base", **PIXELS)
    ours = dict(model.paper_alignment())  # type: ignore[operator]
    paper = dict(PAPER_BASE)
    paper["denoiser parameters"] = "4.4M"
    ours["denoiser parameters"] = f"{model.denoiser_parameters() / 1e6:.2f}M"  # type: ignore[operator]
    return render(paper, ours)


@pytest.mark.parametrize(
    ("page", "table"), [("token.md", token_table), ("diffusion.md", diffusion_table)]
)
def test_alignment_table_is_the_one_the_code_gives(page: str, table) -> None:
    expected = table()
    text = (PAGES / page).read_text()
    assert expected in text, f"{page}: regenerate the alignment table:\n\n{expected}\n"
