"""Which gate criteria and which bundled dataset apply to each model family.

Keyed by family name so that the gate tool never imports a family module to decide. A family can
also say it itself: a `gate_kind` or `gate_dataset` class attribute on its WorldModel subclass wins
over these tables (a third-party family needs no edit here).
"""

from __future__ import annotations

from typing import Any

REFERENCE = "reference"
TOKEN = "token"
DIFFUSION = "diffusion"
JEPA = "jepa"
VJEPA2 = "vjepa2"
GENERIC = "generic"
GATE_KINDS = (REFERENCE, TOKEN, DIFFUSION, JEPA, VJEPA2, GENERIC)

FAMILY_KINDS: dict[str, str] = {
    "dreamerv3": REFERENCE,
    "tdmpc2": REFERENCE,
    "token": TOKEN,
    "iris": TOKEN,
    "diffusion": DIFFUSION,
    "diamond": DIFFUSION,
    "dit": DIFFUSION,
    "jepa": JEPA,
    "vjepa2": VJEPA2,
}

# The bundled dataset (worldflux.datasets) each family trains on at its ci size.
KIND_DATASETS: dict[str, str] = {
    REFERENCE: "pendulum",
    TOKEN: "tokens",
    DIFFUSION: "pendulum-pixels",
    JEPA: "pendulum-pixels",
    VJEPA2: "video",
    GENERIC: "pendulum",
}


def gate_kind(family: str, model_class: Any = None) -> str:
    declared = getattr(model_class, "gate_kind", None)
    if isinstance(declared, str) and declared:
        if declared not in GATE_KINDS:
            raise ValueError(
                f"{family} declares gate_kind {declared!r}; known kinds: {', '.join(GATE_KINDS)}"
            )
        return declared
    return FAMILY_KINDS.get(family, GENERIC)


def default_dataset(family: str, model_class: Any = None) -> str:
    declared = getattr(model_class, "gate_dataset", None)
    if isinstance(declared, str) and declared:
        return declared
    return KIND_DATASETS[gate_kind(family, model_class)]
