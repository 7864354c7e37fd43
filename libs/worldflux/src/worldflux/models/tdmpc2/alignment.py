"""The docs' paper-alignment table of the tdmpc2 family, computed from the code (SIZES, the
config defaults, PAPER_PARAMS_SINGLE_TASK and parameter counts of models built on the meta
device), so the family page cannot drift from what the library builds."""

from __future__ import annotations

import torch

from worldflux.models.tdmpc2.config import PAPER_PARAMS_SINGLE_TASK, SIZES, TDMPC2Config

# The paper's single-task setting for its parameter table: 24-dim states, 6-dim actions.
SINGLE_TASK = {"obs_shape": (24,), "action_dim": 6}

# Official single-task hyperparameters (nicklashansen/tdmpc2 config.yaml).
PAPER_SETTINGS = {
    "horizon": 3,
    "rho": 0.5,
    "lr": 3e-4,
    "enc_lr_scale": 0.3,
    "grad_clip_norm": 20.0,
    "tau": 0.01,
    "simnorm_dim": 8,
    "num_bins": 101,
    "entropy_coef": 1e-4,
}


def parameters(size: str) -> int:
    """Parameters of tdmpc2:<size> in the single-task setting (no memory allocated)."""
    from worldflux.models.tdmpc2.model import TDMPC2

    with torch.device("meta"):
        model = TDMPC2(TDMPC2Config(**{**SIZES[size], **SINGLE_TASK, "size": size}))
    return model.num_parameters()


def alignment_table() -> str:
    """Markdown: per size the architecture and parameter count against the paper's table, then
    the training settings against the official config."""
    lines = [
        "| size | enc_dim | mlp_dim | latent_dim | encoder layers | Q heads | "
        "parameters (ours) | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, paper in PAPER_PARAMS_SINGLE_TASK.items():
        s = SIZES[size]
        lines.append(
            f"| {size} | {s['enc_dim']} | {s['mlp_dim']} | {s['latent_dim']} | "
            f"{s['num_enc_layers']} | {s['num_q']} | {parameters(size) / 1e6:.2f}M | "
            f"{paper / 1e6:.2f}M |"
        )
    defaults = TDMPC2Config()
    lines += ["", "| setting | ours (default) | official |", "|---|---|---|"]
    for field, official in PAPER_SETTINGS.items():
        lines.append(f"| `{field}` | {getattr(defaults, field):g} | {official:g} |")
    return "\n".join(lines)
