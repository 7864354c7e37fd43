"""The docs' paper-alignment table of the dreamerv3 family, computed from the code (SIZES, the
config defaults, PAPER_PARAMS and parameter counts of models built on the meta device), so the
family page cannot drift from what the library builds."""

from __future__ import annotations

from worldflux.models.dreamerv3.config import PAPER_PARAMS, SIZES, DreamerV3Config
from worldflux.models.dreamerv3.model import count_parameters

# The paper's Atari setting: 64x64 RGB, 18 discrete actions.
ATARI = {"obs_shape": (3, 64, 64), "action_dim": 18, "action_kind": "discrete"}

# Training settings of the 2024 official config, as the paper and configs.yaml give them.
PAPER_SETTINGS = {
    "imag_horizon": 15,
    "lam": 0.95,
    "bins": 255,
    "unimix": 0.01,
    "free_nats": 1.0,
    "scale_rep": 0.1,
    "lr": 4e-5,
    "agc": 0.3,
    "replay_context": 1,
}


def alignment_table() -> str:
    """Markdown: per size the RSSM widths and parameter count against the paper's table, then
    the training settings against the official config."""
    lines = [
        "| size | deter | hidden | classes | units | CNN depth | parameters (ours) | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, paper in PAPER_PARAMS.items():
        s = SIZES[size]
        total, _ = count_parameters(DreamerV3Config(**{**s, **ATARI, "size": size}))
        lines.append(
            f"| {size} | {s['deter']} | {s['hidden']} | {s['classes']} | {s['units']} | "
            f"{s['depth']} | {total / 1e6:.2f}M | {paper / 1e6:.2f}M |"
        )
    defaults = DreamerV3Config()
    lines += ["", "| setting | ours (default) | official |", "|---|---|---|"]
    for field, official in PAPER_SETTINGS.items():
        lines.append(f"| `{field}` | {getattr(defaults, field):g} | {official:g} |")
    return "\n".join(lines)
