"""The family registry and `create_world_model`.

Families register themselves when their module is imported (`register_family`, built on the
one registry idiom of core.plugins). Nothing here names a family: the built-in catalogue
(`worldflux.models.catalog`, also declared as an entry point of the wheel) and third-party
packages (entry point group `worldflux.families`) are discovered on first lookup, so adding a
family never edits core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldflux.core.config import WorldModelConfig, suggest
from worldflux.core.errors import ContractError, UnknownModelError
from worldflux.core.model import WorldModel
from worldflux.core.plugins import Registry

ENTRY_POINT_GROUP = "worldflux.families"
BUILTIN_CATALOG = "worldflux.models.catalog"


@dataclass(frozen=True)
class FamilyInfo:
    name: str
    model_class: type[WorldModel]
    config_class: type[WorldModelConfig]
    # Named sizes: size name -> config field overrides (the paper's sizes plus "ci").
    sizes: Mapping[str, Mapping[str, Any]]
    default_size: str
    description: str = ""
    aliases: Mapping[str, str] = field(default_factory=dict)


FAMILIES: Registry[FamilyInfo] = Registry(
    "model family", ENTRY_POINT_GROUP, builtins=(BUILTIN_CATALOG,), error=UnknownModelError
)
_aliases: dict[str, str] = {}


def register_family(
    name: str,
    *,
    model_class: type[WorldModel],
    config_class: type[WorldModelConfig],
    sizes: Mapping[str, Mapping[str, Any]],
    default_size: str,
    aliases: Mapping[str, str] | None = None,
    description: str = "",
) -> FamilyInfo:
    """Register a family. Re-registering the same class is a no-op (module re-imports)."""
    if default_size not in sizes:
        raise ContractError(
            f"default size {default_size!r} of {name} is not one of {sorted(sizes)}"
        )
    for size, overrides in sizes.items():
        config_class.check_keys(overrides, what=f"{name}:{size} size")
    info = FamilyInfo(
        name, model_class, config_class, dict(sizes), default_size, description, dict(aliases or {})
    )
    existing = FAMILIES.peek(name)
    if existing is not None and existing.model_class is model_class:
        return existing
    FAMILIES.register(info)
    _aliases.update(info.aliases)
    model_class.family = name
    model_class.config_class = config_class
    return info


def discover_families() -> None:
    """Import the built-in catalogue (if installed) and every entry-point family, once."""
    FAMILIES.discover()


def families() -> dict[str, FamilyInfo]:
    return {name: FAMILIES.get(name) for name in FAMILIES.names()}


def get_family(name: str) -> FamilyInfo:
    return FAMILIES.get(name)


def list_models(include_aliases: bool = False) -> list[str]:
    """Every `family:size` id (and, on request, the aliases)."""
    ids = [f"{f.name}:{size}" for f in families().values() for size in f.sizes]
    if include_aliases:
        ids += list(_aliases)
    return sorted(ids)


def resolve_model_id(model_id: str) -> tuple[FamilyInfo, str]:
    """'family:size', 'family' (default size) or an alias -> (family, size)."""
    discover_families()
    target = _aliases.get(model_id, model_id)
    name, _, size = target.partition(":")
    if name not in FAMILIES:
        choices = FAMILIES.names() + list(_aliases) + list_models()
        raise UnknownModelError(
            f"unknown model {model_id!r}{suggest(model_id, choices)}; "
            f"see list_models() for the {len(list_models())} known ids"
        )
    family = FAMILIES.get(name)
    size = size or family.default_size
    if size not in family.sizes:
        raise UnknownModelError(
            f"{name} has no size {size!r}{suggest(size, family.sizes)}; "
            f"sizes: {', '.join(family.sizes)}"
        )
    return family, size


def build_config(model_id: str, **overrides: Any) -> WorldModelConfig:
    family, size = resolve_model_id(model_id)
    family.config_class.check_keys(overrides, what=f"override for {family.name}")
    values = {**family.sizes[size], **overrides, "size": size}
    return family.config_class(**values)


def create_world_model(model_id: str | Path, **overrides: Any) -> WorldModel:
    """A model from an id (`tdmpc2:5m`, `dreamer`) with config overrides, or a checkpoint dir.

    `device=` moves the new model; every other keyword must be a field of the family's config.
    """
    device = overrides.pop("device", None)
    path = Path(model_id)
    if isinstance(model_id, Path) or path.is_dir():
        if overrides:
            raise ContractError("a checkpoint directory takes no config overrides")
        return WorldModel.from_pretrained(path, map_location=device or "cpu")
    family, _ = resolve_model_id(str(model_id))
    model = family.model_class(build_config(str(model_id), **overrides))
    return model.to(device) if device is not None else model
