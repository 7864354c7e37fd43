"""The docs' alignment table of the gan family, computed from the code (SIZES, PAPER, the
defaults and parameter counts of models built on the meta device)."""

from __future__ import annotations

import torch

from worldflux.models.gan.config import PAPER, SIZES, GANConfig


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameters_model(size: str) -> torch.nn.Module:
    """gan:<size> on pendulum shapes, built on the meta device (no memory used)."""
    from worldflux.models.gan.model import GAN

    with torch.device("meta"):
        return GAN(GANConfig(size=size, obs_shape=(3,), action_dim=1, **SIZES[size]))


def parameters(size: str) -> dict[str, int]:
    model = parameters_model(size)
    return {"generator": count(model.generator), "discriminator": count(model.discriminator)}


def spectral_norm_layers(module: torch.nn.Module) -> int:
    """Linear layers whose weight is spectrally normalised (a parametrization of the built net)."""
    from torch.nn.utils import parametrize

    def normalised(m: torch.nn.Module) -> bool:
        if not parametrize.is_parametrized(m, "weight"):
            return False
        return any(type(p).__name__ == "_SpectralNorm" for p in m.parametrizations["weight"])

    return sum(1 for m in module.modules() if isinstance(m, torch.nn.Linear) and normalised(m))


def alignment_table() -> str:
    d = GANConfig()
    ci, base = parameters("ci"), parameters("base")
    betas = f"({d.beta1:g}, {d.beta2:g})"
    lrs = f"{d.lr:g} / {d.disc_lr:g}"
    sn = spectral_norm_layers(parameters_model("ci").discriminator)
    rows = [
        ("generator lr / discriminator lr", lrs, lrs,
         f"{PAPER['lr']:g} / {PAPER['disc_lr']:g} (TTUR, SAGAN)"),
        ("Adam betas", betas, betas, "({:g}, {:g})".format(*PAPER["betas"])),
        ("regression weight", f"{d.regression_coef:g} (L1)", f"{d.regression_coef:g} (L1)",
         f"{PAPER['regression_coef']:g} (L1, pix2pix)"),
        ("adversarial loss", "hinge", "hinge", PAPER["adversarial"]),
        ("discriminator", f"spectral norm on {sn} linear layers, R1 gamma {d.r1_coef:g}",
         f"spectral norm on {sn} linear layers, R1 gamma {d.r1_coef:g}",
         PAPER["discriminator"]),
        ("updates", "alternating, G then D, 1:1", "alternating, G then D, 1:1",
         PAPER["updates"]),
        ("noise dim", str(SIZES["ci"]["noise_dim"]), str(SIZES["base"]["noise_dim"]), "-"),
        ("generator parameters (pendulum)", f"{ci['generator']:,}", f"{base['generator']:,}",
         "-"),
        ("discriminator parameters (pendulum)", f"{ci['discriminator']:,}",
         f"{base['discriminator']:,}", "-"),
    ]  # fmt: skip
    lines = ["| field | ours, ci | ours, base | reference (SAGAN / pix2pix) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
