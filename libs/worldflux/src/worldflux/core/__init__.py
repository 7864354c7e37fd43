"""Contracts every WorldFlux package builds on: specs, payloads, states, model base, registry."""

from worldflux.core.config import WorldModelConfig
from worldflux.core.errors import (
    CheckpointError,
    ContractError,
    NonFiniteLossError,
    UnknownModelError,
)
from worldflux.core.model import OptimizerSpec, WorldModel
from worldflux.core.payload import PLANNER_HORIZON_KEY, ActionPayload, ConditionPayload
from worldflux.core.registry import (
    create_world_model,
    families,
    get_family,
    list_models,
    register_family,
)
from worldflux.core.spec import ActionKind, ActionSpec, ModelSpec, ObservationSpec
from worldflux.core.state import Batch, LatentState, LossOutput, Rollout

__all__ = [
    "PLANNER_HORIZON_KEY",
    "ActionKind",
    "ActionPayload",
    "ActionSpec",
    "Batch",
    "CheckpointError",
    "ConditionPayload",
    "ContractError",
    "LatentState",
    "LossOutput",
    "ModelSpec",
    "NonFiniteLossError",
    "ObservationSpec",
    "OptimizerSpec",
    "Rollout",
    "UnknownModelError",
    "WorldModel",
    "WorldModelConfig",
    "create_world_model",
    "families",
    "get_family",
    "list_models",
    "register_family",
]
