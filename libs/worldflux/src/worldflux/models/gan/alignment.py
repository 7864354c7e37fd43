"""The docs' alignment table of the gan family, computed from the code (SIZES, PAPER, the
defaults and parameter counts of models built on the meta device)."""

from __future__ import annotations

import torch

from worldflux.models.gan.config import PAPER, SIZES, GANConfig


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameters(size: str) -> dict[str, int]:
    from worldflux.models.gan.model import GAN

    with torch.device("meta"):
        model = GAN(GANConfig(size=size, obs_shape=(3,), action_dim=1, **SIZES[size]))
    return {"generator": count(model.generator), "discriminator": count(model.discriminator)}


def alignment_table() -> str:
    d = GANConfig()
    ci, base = parameters("ci"), parameters("base")
    betas = f"({d.beta1:g}, 0.999)"
    rows = [
        ("generator lr / discriminator lr", f"{d.lr:g} / {d.disc_lr:g}",
         f"{d.lr:g} / {d.disc_lr:g}", f"{PAPER['lr']:g} / {PAPER['lr']:g}"),
        ("Adam betas", betas, betas, "({:g}, {:g})".format(*PAPER["betas"])),
        ("regression weight", f"{d.regression_coef:g} (MSE)", f"{d.regression_coef:g} (MSE)",
         f"{PAPER['regression_coef']:g} (L1, pix2pix)"),
        ("adversarial loss", "non-saturating", "non-saturating", PAPER["adversarial"]),
        ("updates", "alternating, G then D, 1:1", "alternating, G then D, 1:1",
         PAPER["updates"]),
        ("noise dim", str(SIZES["ci"]["noise_dim"]), str(SIZES["base"]["noise_dim"]), "-"),
        ("generator parameters (pendulum)", f"{ci['generator']:,}", f"{base['generator']:,}",
         "-"),
        ("discriminator parameters (pendulum)", f"{ci['discriminator']:,}",
         f"{base['discriminator']:,}", "-"),
    ]  # fmt: skip
    lines = ["| field | ours, ci | ours, base | reference (DCGAN / pix2pix) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
