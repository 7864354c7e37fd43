"""The docs' paper-alignment table of the renderer3d family, computed from the code (SIZES,
PAPER, the built models and their parameter counts on the meta device)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.models.renderer3d.config import PAPER, SIZES, Renderer3DConfig
from worldflux.models.renderer3d.splatter import GAUSSIAN

if TYPE_CHECKING:
    from worldflux.models.renderer3d.model import Renderer3D


def built(size: str, obs_shape: tuple[int, ...] = (3, 32, 32)) -> Renderer3D:
    from worldflux.models.renderer3d.model import Renderer3D

    with torch.device("meta"):
        config = Renderer3DConfig(size=size, obs_shape=obs_shape, action_dim=1, **SIZES[size])
        return Renderer3D(config)


def alignment_table() -> str:
    ci, base = built("ci"), built("base")
    a, b = ci.paper_alignment(), base.paper_alignment()
    rows = [
        ("Gaussians per view (32x32 frame)", f"{a['gaussians']} ({a['grid']} grid)",
         f"{b['gaussians']} ({b['grid']} grid)",
         f"{PAPER['gaussians_per_pixel']} per output pixel"),
        ("input pixels per Gaussian", f"{a['stride']}x{a['stride']}",
         f"{b['stride']}x{b['stride']}", "1x1"),
        ("primitive", "3D Gaussian (isotropic, RGB colour)",
         "3D Gaussian (isotropic, RGB colour)", PAPER["primitive"]),
        ("placement", "depth along the cell's ray + image-plane offset",
         "depth along the cell's ray + image-plane offset", PAPER["placement"]),
        ("parameters per Gaussian (latent)", f"{GAUSSIAN}: centre, RGB, radius, opacity",
         f"{GAUSSIAN}: centre, RGB, radius, opacity", PAPER["parameters"]),
        ("encoder", f"CNN, width {a['channels']}", f"CNN, width {b['channels']}", "U-Net"),
        ("compositing", PAPER["compositing"], PAPER["compositing"], PAPER["compositing"]),
        ("supervision", "the input view and the other views of its episode",
         "the input view and the other views of its episode", PAPER["supervision"]),
        ("camera", PAPER["camera"], PAPER["camera"], PAPER["camera"]),
        ("encoder parameters", f"{a['encoder_parameters']:,}", f"{b['encoder_parameters']:,}",
         "-"),
        ("total parameters", f"{ci.num_parameters():,}", f"{base.num_parameters():,}", "-"),
    ]  # fmt: skip
    lines = ["| field | ours, ci | ours, base | paper (Splatter Image) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
