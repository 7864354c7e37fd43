"""ActionPayload and ConditionPayload: what planners return and what models are conditioned on.

They mirror the wire messages in proto/worldflux/v1/payload.proto one to one, so a payload that
validates here converts to protobuf and back without loss.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import torch

from worldflux.core.errors import ContractError
from worldflux.core.spec import ActionKind

PLANNER_HORIZON_KEY = "wf.planner.horizon"
EXTRA_KEY_PATTERN = re.compile(r"^wf\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

ExtraValue: TypeAlias = bool | int | float | str | torch.Tensor

PRIMARY_FIELDS = ("tensor", "tokens", "latent", "text")
# The one primary field each kind carries its action in (none for ActionKind.NONE).
PRIMARY_FOR_KIND: dict[ActionKind, str | None] = {
    ActionKind.CONTINUOUS: "tensor",
    ActionKind.DISCRETE: "tokens",
    ActionKind.TOKEN: "tokens",
    ActionKind.LATENT: "latent",
    ActionKind.TEXT: "text",
    ActionKind.NONE: None,
}


def validate_extras(extras: Mapping[str, Any], owner: str) -> None:
    """Keys must be `wf.<domain>.<name>` (lowercase); values scalars, strings or tensors."""
    for key, value in extras.items():
        if not isinstance(key, str) or not EXTRA_KEY_PATTERN.match(key):
            raise ContractError(
                f"{owner} extras key {key!r} must look like 'wf.<domain>.<name>' "
                "(lowercase letters, digits and underscores, e.g. 'wf.planner.horizon')"
            )
        if not isinstance(value, bool | int | float | str | torch.Tensor):
            raise ContractError(
                f"{owner} extras[{key!r}] is a {type(value).__name__}; "
                "use a bool, int, float, str or torch.Tensor"
            )
    horizon = extras.get(PLANNER_HORIZON_KEY)
    if horizon is not None and (
        isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1
    ):
        raise ContractError(
            f"{owner} extras[{PLANNER_HORIZON_KEY!r}] must be an int >= 1, got {horizon!r}"
        )


def _check_finite(name: str, value: torch.Tensor) -> None:
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ContractError(f"ActionPayload.{name} contains NaN or infinite values")


@dataclass
class ActionPayload:
    """An action: its kind, exactly one primary value and namespaced extras.

    continuous -> `tensor` (float), discrete/token -> `tokens` (integer indices),
    latent -> `latent` (float), text -> `text` (list of str), none -> no primary.
    Planners return `tensor=[H, B, A]` or `tokens=[H, B]` and set extras["wf.planner.horizon"].
    """

    kind: ActionKind | str
    tensor: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    text: list[str] | None = None
    extras: dict[str, ExtraValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> ActionPayload:
        kind = ActionKind.parse(self.kind)
        self.kind = kind
        present = [name for name in PRIMARY_FIELDS if getattr(self, name) is not None]
        expected = PRIMARY_FOR_KIND[kind]
        if expected is None:
            if present:
                raise ContractError(
                    f"ActionPayload(kind=none) carries no action, but {', '.join(present)} "
                    "was set: drop it or choose the kind that matches it"
                )
        elif len(present) > 1:
            raise ContractError(
                f"ActionPayload has several primaries ({', '.join(present)}); set exactly one: "
                f"kind={kind.value} uses `{expected}`"
            )
        elif not present:
            raise ContractError(f"ActionPayload(kind={kind.value}) needs `{expected}=` to be set")
        elif present[0] != expected:
            raise ContractError(
                f"ActionPayload(kind={kind.value}) carries its action in `{expected}`, but "
                f"`{present[0]}` was set: move the value to `{expected}=` or change the kind"
            )
        for name in ("tensor", "latent"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                    raise ContractError(f"ActionPayload.{name} must be a floating-point tensor")
                _check_finite(name, value)
        if self.tokens is not None and (
            not isinstance(self.tokens, torch.Tensor)
            or self.tokens.dtype not in (torch.int64, torch.int32)
        ):
            raise ContractError("ActionPayload.tokens must be an int64 or int32 tensor of indices")
        if self.text is not None and (
            not isinstance(self.text, list) or not all(isinstance(t, str) for t in self.text)
        ):
            raise ContractError("ActionPayload.text must be a list of str")
        validate_extras(self.extras, "ActionPayload")
        return self

    @classmethod
    def of(
        cls,
        kind: ActionKind | str,
        actions: torch.Tensor,
        extras: dict[str, ExtraValue] | None = None,
    ) -> ActionPayload:
        """`actions` in the primary field that `kind` uses (PRIMARY_FOR_KIND): indices as
        int64 tokens, everything else as a floating-point tensor or latent."""
        kind = ActionKind.parse(kind)
        name = PRIMARY_FOR_KIND[kind]
        if name is None:
            raise ContractError(f"{kind.value} actions carry no tensor: there is nothing to send")
        if name == "tokens":
            value = actions if actions.dtype in (torch.int64, torch.int32) else actions.long()
        else:
            value = actions if actions.is_floating_point() else actions.float()
        return cls(kind=kind, extras=dict(extras or {}), **{name: value})

    @property
    def action_kind(self) -> ActionKind:
        return ActionKind.parse(self.kind)

    @property
    def primary_name(self) -> str | None:
        return PRIMARY_FOR_KIND[self.action_kind]

    @property
    def primary(self) -> torch.Tensor | list[str] | None:
        name = self.primary_name
        return getattr(self, name) if name else None

    @property
    def horizon(self) -> int | None:
        value = self.extras.get(PLANNER_HORIZON_KEY)
        return value if isinstance(value, int) else None


@dataclass
class ConditionPayload:
    """What a model or a plan is conditioned on; every field is optional."""

    goal: torch.Tensor | None = None
    text: list[str] | None = None
    camera_pose: torch.Tensor | None = None
    extras: dict[str, ExtraValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> ConditionPayload:
        for name in ("goal", "camera_pose"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise ContractError(f"ConditionPayload.{name} must be a floating-point tensor")
            if not bool(torch.isfinite(value).all()):
                raise ContractError(f"ConditionPayload.{name} contains NaN or infinite values")
        if self.text is not None and (
            not isinstance(self.text, list) or not all(isinstance(t, str) for t in self.text)
        ):
            raise ContractError("ConditionPayload.text must be a list of str")
        validate_extras(self.extras, "ConditionPayload")
        return self

    @property
    def is_empty(self) -> bool:
        return (
            self.goal is None and self.text is None and self.camera_pose is None and not self.extras
        )
