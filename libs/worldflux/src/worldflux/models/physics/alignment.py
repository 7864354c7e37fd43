"""The docs' paper-alignment table of the physics family, computed from the code (SIZES, PAPER,
the built models and parameter counts on the meta device)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.models.physics.config import PAPER, SIZES, PhysicsConfig

if TYPE_CHECKING:
    from worldflux.models.physics.hamiltonian import Hamiltonian
    from worldflux.models.physics.model import Physics


def count(module: torch.nn.Module) -> int:
    """Trained parameters (the averaged copy that evaluation reads is not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def built(size: str) -> Physics:
    from worldflux.models.physics.model import Physics

    with torch.device("meta"):
        return Physics(PhysicsConfig(size=size, obs_shape=(3,), action_dim=1, **SIZES[size]))


def alignment_table() -> str:
    ci, base = built("ci"), built("base")

    def averaging(m: Physics) -> str:
        decay = m.config.ema_decay
        return f"average (EMA, decay {decay:g})" if decay > 0 else "trained"

    def activation(m: Physics) -> str:
        act, reward = m.config.activation, m.config.reward_head_activation
        if act == reward == "tanh":
            return "tanh"
        if reward == act:
            return f"tanh (V, force), {act} (encoder, decoder, heads)"
        return f"tanh (V, force), {act} (encoder, decoder), {reward} (reward head)"

    def coords(m: Physics) -> str:
        d = m.config.coords
        return f"{d} + {d}" + (" (q angles)" if m.config.angle_coords else "")

    def hamiltonian_form(m: Physics) -> str:
        mass = "M^-1 of either sign" if m.config.signed_mass else "M^-1 > 0"
        return f"p^T M^-1 p / 2 + V(q) (separable, {mass})"

    def hamiltonian(m: Physics) -> Hamiltonian:
        assert m.hamiltonian is not None
        return m.hamiltonian

    def potential(m: Physics) -> str:
        layers = hamiltonian(m).potential.layers
        return f"{len(layers)} x {layers[0].out_features}"

    rows = [
        ("coordinates (q, p)", coords(ci), coords(base), "given (q, p)"),
        ("Hamiltonian", hamiltonian_form(ci), hamiltonian_form(base), "MLP H(q, p)"),
        ("V(q) network (layers x width)", potential(ci), potential(base),
         f"{PAPER['potential_layers']} x {PAPER['hidden']} (whole H)"),
        ("activation", activation(ci), activation(base), PAPER["activation"]),
        ("integrator", f"leapfrog, {SIZES['ci']['substeps']} substeps",
         f"leapfrog, {SIZES['base']['substeps']} substeps", PAPER["integrator"]),
        ("lr", f"{ci.config.lr:g}", f"{base.config.lr:g}", f"{PAPER['lr']:g}"),
        ("evaluation weights", averaging(ci), averaging(base), "trained"),
        ("Hamiltonian parameters", f"{count(hamiltonian(ci)):,}", f"{count(hamiltonian(base)):,}",
         "-"),
        ("total parameters (pendulum)", f"{count(ci):,}", f"{count(base):,}", "-"),
    ]  # fmt: skip
    lines = ["| field | ours, ci | ours, base | paper (HNN) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
