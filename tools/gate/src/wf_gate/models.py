"""From what a user types (`--models dreamer,tdmpc2`) to the ids and datasets a measurement runs.

A family alias like `dreamer` names the family; the gate trains it at the small `--size` (ci by
default), not at the alias's full size. `family:size` picks a size explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import worldflux.models.catalog  # noqa: F401  (every built-in family registers itself)
from worldflux.core import UnknownModelError, families
from worldflux.core.registry import FamilyInfo, resolve_model_id
from worldflux.datasets import SPLITS, dataset_info, load_dataset
from worldflux.datasets.files import is_file_dataset
from worldflux.gates.gate import GATES
from worldflux.gates.kinds import GATE_KINDS, default_dataset, gate_kind
from worldflux.gates.kinds import REFERENCE as REFERENCE_KIND

# `--models` words that stand for a set of families rather than one.
ALL = "all"  # every registered family
REFERENCE = "reference"  # every family whose gate kind is "reference" (the default)


def resolve_models(tokens: Sequence[str], size: str) -> list[str]:
    """['dreamer', 'tdmpc2:1m'] -> ['dreamerv3:ci', 'tdmpc2:1m']; 'all' -> every family;
    'reference' -> every family that declares the reference gate kind."""
    out: list[str] = []
    for token in tokens:
        if token in (ALL, REFERENCE):
            for name, info in sorted(families().items()):
                if token == ALL or gate_kind(info.model_class) == REFERENCE_KIND:
                    _append_new(out, f"{name}:{_size(info, size)}")
            continue
        family, explicit = resolve_model_id(token)
        _append_new(out, f"{family.name}:{explicit if ':' in token else _size(family, size)}")
    if not out:
        raise UnknownModelError("no models given")
    return out


def _append_new(models: list[str], model: str) -> None:
    if model not in models:
        models.append(model)


def _size(family: FamilyInfo, size: str) -> str:
    if size not in family.sizes:
        raise UnknownModelError(
            f"{family.name} has no size {size!r}; sizes: {', '.join(family.sizes)}"
        )
    return size


def datasets_for(models: Sequence[str], overrides: dict[str, str]) -> dict[str, str]:
    """The bundled dataset of each model's family: the override, else the family's default."""
    out = {}
    for model in models:
        name = model.partition(":")[0]
        out[name] = overrides.get(name) or default_dataset(families()[name].model_class)
    unknown = sorted(set(overrides) - {m.partition(":")[0] for m in models})
    if unknown:
        raise ValueError(f"--dataset names families that are not measured: {', '.join(unknown)}")
    return out


def parse_dataset_overrides(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        family, sep, dataset = item.partition("=")
        if not sep or not family or not dataset:
            raise ValueError(f"--dataset {item!r}: expected FAMILY=DATASET, e.g. tdmpc2=cartpole")
        out[resolve_model_id(family)[0].name] = check_dataset(dataset)
    return out


def check_dataset(name: str) -> str:
    """A bundled dataset's name, or the absolute path of the user's recordings after reading
    both splits once: a malformed file fails here, before any worker starts."""
    if not is_file_dataset(name):
        dataset_info(name)
        return name
    path = str(Path(name).resolve())
    for split in SPLITS:
        load_dataset(path, split)
    return path


def parse_family_steps(items: Sequence[str]) -> dict[str, int]:
    """['tdmpc2=1000'] -> {'tdmpc2': 1000} (aliases resolved)."""
    out = {}
    for item in items:
        family, sep, text = item.partition("=")
        try:
            steps = int(text)
        except ValueError:
            steps = 0
        if not sep or not family or steps < 1:
            raise ValueError(
                f"--family-steps {item!r}: expected FAMILY=STEPS with STEPS >= 1, "
                "e.g. tdmpc2=1000"
            )
        out[resolve_model_id(family)[0].name] = steps
    return out


def parse_config_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """['dreamer.lr=1e-3', 'dreamerv3.warmup=0'] -> {'dreamerv3': {'lr': 0.001, 'warmup': 0}}.

    Values are read as JSON (numbers, true/false, lists), anything else as a string; keys are
    checked against the family's config class, with a did-you-mean for typos.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, text = item.partition("=")
        family_name, dot, key = target.rpartition(".")
        if not sep or not dot or not family_name or not key:
            raise ValueError(
                f"--config {item!r}: expected FAMILY.FIELD=VALUE, e.g. dreamerv3.lr=1e-3"
            )
        family = resolve_model_id(family_name)[0]
        family.config_class.check_keys([key], what=f"{family.name} config")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out.setdefault(family.name, {})[key] = value
    return out


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    torch.device(device)  # raises on nonsense
    return device


def family_rows() -> list[tuple[str, str, str, str]]:
    """(family, sizes, gate kind, default dataset) for every registered family."""
    rows = []
    for name, info in sorted(families().items()):
        rows.append(
            (
                name,
                ", ".join(info.sizes),
                gate_kind(info.model_class),
                default_dataset(info.model_class),
            )
        )
    return rows


def gate_rows() -> list[tuple[str, ...]]:
    """('gate', name, when not measured, what it demands) for every registered gate, then
    ('kind', name, default dataset, criterion) for every gate kind."""
    rows: list[tuple[str, ...]] = [
        ("gate", g.name, f"unmeasured {g.unmeasured}", g.description) for g in GATES.values()
    ]
    rows += [("kind", k.name, f"dataset {k.dataset}", k.criterion) for k in GATE_KINDS.values()]
    return rows
