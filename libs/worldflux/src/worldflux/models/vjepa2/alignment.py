"""The docs' paper-alignment tables of vjepa2 and vjepa2-ac, computed from the code (SIZES,
PAPER and parameter counts of models built on the meta device)."""

from __future__ import annotations

import torch

from worldflux.models.jepa.alignment import count, fmt
from worldflux.models.vjepa2.config import PAPER, SIZES, VJEPA2Config

OBS = (3, 256, 256)  # the paper's crop


def encoder_parameters(size: str) -> tuple[int, int]:
    from worldflux.models.vjepa2.model import VJEPA2

    with torch.device("meta"):
        model = VJEPA2(VJEPA2Config(size=size, obs_shape=OBS, action_dim=2, **SIZES[size]))
    return count(model.encoder), count(model.predictor)


def ac_predictor_parameters(size: str, action_dim: int = 7) -> int:
    from worldflux.models.vjepa2_ac.config import SIZES as AC_SIZES
    from worldflux.models.vjepa2_ac.config import VJEPA2ACConfig
    from worldflux.models.vjepa2_ac.model import VJEPA2AC

    with torch.device("meta"):
        model = VJEPA2AC(
            VJEPA2ACConfig(size=size, obs_shape=OBS, action_dim=action_dim, **AC_SIZES[size])
        )
    return count(model.predictor)


def alignment_table() -> str:
    sizes = ("ci", "tiny", "base")
    defaults = VJEPA2Config()
    rows: list[tuple[str, ...]] = [("encoder", "ViT-ci", "ViT-Ti", "ViT-B", PAPER["encoder"])]
    for field in ("embed_dim", "depth", "num_heads", "pred_dim", "pred_depth"):
        rows.append((field, *(fmt(SIZES[s][field]) for s in sizes), fmt(PAPER[field])))
    for field in ("patch_size", "tubelet_size"):
        ours = [fmt(SIZES[s].get(field, getattr(defaults, field))) for s in sizes]
        rows.append((field, *ours, fmt(PAPER[field])))
    masks = " + ".join(f"{n} x {s:.0%}" for n, s in defaults.mask_sets) + ", full clip"
    rows.append(("mask sets", masks, masks, masks, PAPER["mask_sets"]))
    rows.append(("EMA momentum", *(fmt(defaults.ema),) * 3, fmt(PAPER["ema"])))
    rows.append(("loss", "L1", "L1", "L1", PAPER["loss"]))
    counts = [encoder_parameters(s) for s in sizes]
    rows.append(
        (
            "encoder parameters",
            *(f"{e / 1e6:.2f}M" for e, _ in counts),
            f"{PAPER['encoder_params'] / 1e6:.0f}M (ViT-L)",
        )
    )
    rows.append(("predictor parameters", *(f"{p / 1e6:.2f}M" for _, p in counts), "-"))
    header = "| field | ours, ci | ours, tiny | ours, base | paper (V-JEPA 2) |"
    lines = [header, "|---|---|---|---|---|"] + [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines)


def ac_alignment_table() -> str:
    from worldflux.models.vjepa2_ac.config import PAPER as AC_PAPER
    from worldflux.models.vjepa2_ac.config import SIZES as AC_SIZES
    from worldflux.models.vjepa2_ac.config import VJEPA2ACConfig

    sizes = ("ci", "tiny", "base")
    defaults = VJEPA2ACConfig()
    rows: list[tuple[str, ...]] = []
    for field in ("pred_dim", "pred_depth", "pred_heads"):
        rows.append((field, *(fmt(AC_SIZES[s][field]) for s in sizes), fmt(AC_PAPER[field])))
    for field in ("frames", "auto_steps"):
        ours = fmt(getattr(defaults, field))
        rows.append((field, ours, ours, ours, fmt(AC_PAPER[field])))
    rows.append(
        (
            "predictor parameters (7-D actions)",
            *(f"{ac_predictor_parameters(s) / 1e6:.2f}M" for s in sizes),
            f"{AC_PAPER['predictor_params'] / 1e6:.0f}M",
        )
    )
    header = "| field | ours, ci | ours, tiny | ours, base | paper (V-JEPA 2-AC) |"
    lines = [header, "|---|---|---|---|---|"] + [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines)
