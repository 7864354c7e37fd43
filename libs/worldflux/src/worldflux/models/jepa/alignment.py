"""The docs' paper-alignment table of the jepa family, computed from the code (SIZES, PAPER and
the parameter counts of models built on the meta device), so the page cannot drift."""

from __future__ import annotations

from typing import Any

import torch

from worldflux.models.jepa.config import PAPER, SIZES, JEPAConfig


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameters(size: str, obs_shape: tuple[int, ...] = (3, 224, 224)) -> dict[str, int]:
    """Encoder and predictor parameters of jepa:<size> on `obs_shape` (no memory used)."""
    from worldflux.models.jepa.model import JEPA

    with torch.device("meta"):
        model = JEPA(JEPAConfig(size=size, obs_shape=obs_shape, action_dim=1, **SIZES[size]))
    return {"encoder": count(model.encoder), "predictor": count(model.predictor)}


def fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def alignment_table() -> str:
    """Markdown: each architecture and training field, ours at ci and base beside the paper's."""
    paper = PAPER["base"]
    defaults = JEPAConfig()
    rows = [("encoder", "ViT (ours)", "ViT (ours)", paper["encoder"])]
    for field in ("embed_dim", "depth", "num_heads", "patch_size", "pred_dim", "pred_depth"):
        rows.append((field, fmt(SIZES["ci"][field]), fmt(SIZES["base"][field]), fmt(paper[field])))
    for field in ("num_targets", "target_scale", "context_scale", "aspect_ratio"):
        ours = fmt(getattr(defaults, field))
        rows.append((field, ours, ours, fmt(paper[field])))
    ema = f"{defaults.ema_start:g} -> {defaults.ema_end:g}"
    rows.append(("EMA momentum", ema, ema, " -> ".join(f"{v:g}" for v in paper["ema"])))
    rows.append(("loss", "smooth L1", "smooth L1", paper["loss"]))
    ci, base = parameters("ci"), parameters("base")
    rows.append(
        (
            "encoder parameters (224x224 RGB)",
            f"{ci['encoder'] / 1e6:.2f}M",
            f"{base['encoder'] / 1e6:.2f}M",
            f"{paper['encoder_params_224'] / 1e6:.0f}M",
        )
    )
    rows.append(
        (
            "predictor parameters",
            f"{ci['predictor'] / 1e6:.2f}M",
            f"{base['predictor'] / 1e6:.2f}M",
            "-",
        )
    )
    lines = ["| field | ours, ci | ours, base | paper (I-JEPA, ViT-B/16) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
