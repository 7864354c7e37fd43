"""Config base class: a family's constructor arguments, as a dataclass that round-trips JSON."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from worldflux.core.errors import ContractError
from worldflux.core.spec import ActionKind, ActionSpec, ObservationSpec

C = TypeVar("C", bound="WorldModelConfig")
T = TypeVar("T")


def suggest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_fields(
    cls: type, keys: Iterable[str], what: str = "key", also: Iterable[str] = ()
) -> None:
    """Raise a ContractError (with a did-you-mean) for any key that is not a field of the
    dataclass `cls` (or one of `also`): the one unknown-key check of every config and setting."""
    known = [f.name for f in dataclasses.fields(cls)] + list(also)
    for key in keys:
        if key not in known:
            raise ContractError(
                f"unknown {what} {key!r} for {cls.__name__}{suggest(key, known)}; "
                f"known: {', '.join(known)}"
            )


def from_fields(cls: type[T], data: Mapping[str, Any], what: str = "key") -> T:
    """`cls(**data)` after check_fields: a typo fails with the field it was meant to be."""
    check_fields(cls, data, what)
    return cls(**dict(data))


@dataclass
class WorldModelConfig:
    """Fields every family shares; a family subclasses this with its own fields.

    For discrete actions `action_dim` is the number of choices (the one-hot width).
    """

    obs_shape: tuple[int, ...] = (24,)
    action_dim: int = 6
    action_kind: str = "continuous"
    obs_modality: str = ""  # "" means: image for 3-D observations, vector otherwise
    size: str = "ci"
    action_low: float = -1.0
    action_high: float = 1.0

    def __post_init__(self) -> None:
        self.obs_shape = tuple(int(d) for d in self.obs_shape)
        # Validate through the specs so a bad config fails with the same messages.
        self.observation_spec()
        self.action_spec()

    # -- specs ---------------------------------------------------------------------------
    def observation_spec(self) -> ObservationSpec:
        modality = self.obs_modality or ("image" if len(self.obs_shape) == 3 else "vector")
        return ObservationSpec(self.obs_shape, "float32", modality)

    def action_spec(self) -> ActionSpec:
        kind = ActionKind.parse(self.action_kind)
        if kind is ActionKind.CONTINUOUS:
            return ActionSpec.continuous(self.action_dim, self.action_low, self.action_high)
        if kind is ActionKind.DISCRETE:
            return ActionSpec.discrete(self.action_dim)
        raise ContractError(f"action_kind {self.action_kind!r}: use 'continuous' or 'discrete'")

    # -- construction and JSON -------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def check_keys(cls, keys: Iterable[str], what: str = "config") -> None:
        check_fields(cls, keys, f"{what} key")

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        cls.check_keys(data)
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(hints.get(k), v) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self: C, **changes: Any) -> C:
        self.check_keys(changes)
        return dataclasses.replace(self, **changes)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _coerce(hint: Any, value: Any) -> Any:
    """JSON lists back to the tuples the dataclass declares."""
    if isinstance(value, list) and hint is not None:
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            origin = next(
                (typing.get_origin(a) for a in typing.get_args(hint) if typing.get_origin(a)), None
            )
        if origin is tuple:
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value
