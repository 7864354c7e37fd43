"""The docs' paper-alignment table of the dit family, computed from the code (SIZES, PAPER,
the built backbones and parameter counts on the meta device)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.models.dit.config import PAPER, SIZES, DiTConfig

if TYPE_CHECKING:
    from worldflux.models.dit.model import DiT


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def built(size: str, obs_shape: tuple[int, ...] = (3, 64, 64)) -> DiT:
    from worldflux.models.dit.model import DiT

    with torch.device("meta"):
        return DiT(DiTConfig(size=size, obs_shape=obs_shape, action_dim=1, **SIZES[size]))


def alignment_table() -> str:
    ci, base = built("ci"), built("base")
    rows = []
    for field in ("width", "depth", "num_heads", "patch_size"):
        ours = (str(ci.paper_alignment()[field]), str(base.paper_alignment()[field]))
        rows.append((field, *ours, str(PAPER[field])))
    ratio = f"{ci.config.mlp_ratio:g}"
    rows.append(("mlp ratio", ratio, ratio, f"{PAPER['mlp_ratio']:g}"))
    adaln = "adaLN-Zero (noise level + action), action per token"
    rows.append(("conditioning", adaln, adaln, f"{PAPER['conditioning']} (t + class)"))
    rows.append(("sampling steps (Euler, EDM levels)", str(SIZES["ci"]["sampling_steps"]),
                 str(SIZES["base"]["sampling_steps"]), "250 (DDPM)"))  # fmt: skip
    frames = ci.config.context_frames
    rows.append(("context frames", str(frames), str(base.config.context_frames), "-"))
    change = "change from the current frame"
    rows.append(("denoised target", change, change, "noise, on VAE latents"))
    pixels = f"backbone parameters, 64x64 RGB + {frames} context frames"
    rows.append((pixels, f"{count(ci.backbone):,}", f"{count(base.backbone):,}", "-"))
    latent = built("base", (4, 32, 32))
    rows.append(("backbone parameters, 32x32x4 latents", "-", f"{count(latent.backbone):,}",
                 f"{PAPER['params_256'] / 1e6:.0f}M (DiT-S)"))  # fmt: skip
    lines = ["| field | ours, ci | ours, base | paper (DiT-S/8) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
