"""The docs' paper-alignment table of the ssm family, computed from the code (SIZES, PAPER,
the S4D layer's initialisation and parameter counts of models built on the meta device)."""

from __future__ import annotations

import torch

from worldflux.models.ssm.config import PAPER, SIZES, SSMConfig


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameters(size: str) -> dict[str, int]:
    """SSM-stack and total parameters of ssm:<size> on pendulum shapes (no memory used)."""
    from worldflux.models.ssm.model import SSM

    with torch.device("meta"):
        model = SSM(SSMConfig(size=size, obs_shape=(3,), action_dim=1, **SIZES[size]))
    return {"ssm": count(model.blocks), "total": count(model)}


def initial_modes(size: str) -> str:
    """The first A_n of the built layer (real CPU model: the init is the fact being checked)."""
    from worldflux.models.ssm.s4d import S4D

    c = SSMConfig(size=size, obs_shape=(3,), action_dim=1, **SIZES[size])
    layer = S4D(1, c.state_size, c.dt_min, c.dt_max)
    a = torch.complex(-layer.log_a_real.exp(), layer.a_imag)[0, :3]
    return ", ".join(f"{v.real:g}{v.imag:+.3g}i" for v in a.detach()) + ", ..."


def alignment_table() -> str:
    defaults = SSMConfig()
    rows = []
    for field in ("state_size", "d_model", "num_layers"):
        paper = PAPER.get(field, "-")
        rows.append((field, str(SIZES["ci"][field]), str(SIZES["base"][field]), str(paper)))
    modes = initial_modes("ci")
    rows.append(("initial A_n", modes, modes, PAPER["init"]))
    dt = f"log-uniform [{defaults.dt_min:g}, {defaults.dt_max:g}]"
    rows.append(("dt", dt, dt, "log-uniform [{:g}, {:g}]".format(*PAPER["dt_range"])))
    rows.append(("discretisation", "ZOH", "ZOH", PAPER["discretisation"]))
    rows.append(("training evaluation", "associative scan", "associative scan", PAPER["kernel"]))
    ci, base = parameters("ci"), parameters("base")
    rows.append(("SSM-stack parameters", f"{ci['ssm']:,}", f"{base['ssm']:,}", "-"))
    rows.append(("total parameters (pendulum)", f"{ci['total']:,}", f"{base['total']:,}", "-"))
    lines = ["| field | ours, ci | ours, base | paper (S4D) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)
