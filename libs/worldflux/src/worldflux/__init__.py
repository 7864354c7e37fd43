"""WorldFlux: latent world models for reinforcement learning behind one API.

    from worldflux import Trainer, TrainerConfig, create_world_model, load_dataset, make_planner

Every public name below is loaded on first use (PEP 562 `__getattr__`), so `import worldflux`
stays fast and imports neither torch nor grpc; type checkers read the imports under
TYPE_CHECKING instead.

Those imports carry `# pants: no-infer-dep`: every module of the package depends on this file
(its ancestor `__init__.py`), so inferred dependencies here would make every module depend on the
whole library, and one edit would select every test. Code in this repository that imports from
the top depends on the `libs/worldflux/src/worldflux:api` target instead (see the BUILD file).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from worldflux.core import (
        ActionKind,  # pants: no-infer-dep
        ActionPayload,  # pants: no-infer-dep
        ActionSpec,  # pants: no-infer-dep
        Batch,  # pants: no-infer-dep
        CheckpointError,  # pants: no-infer-dep
        ConditionPayload,  # pants: no-infer-dep
        ContractError,  # pants: no-infer-dep
        LatentState,  # pants: no-infer-dep
        LossOutput,  # pants: no-infer-dep
        ModelSpec,  # pants: no-infer-dep
        ObservationSpec,  # pants: no-infer-dep
        Rollout,  # pants: no-infer-dep
        UnknownModelError,  # pants: no-infer-dep
        WorldModel,  # pants: no-infer-dep
        WorldModelConfig,  # pants: no-infer-dep
        create_world_model,  # pants: no-infer-dep
        list_models,  # pants: no-infer-dep
        register_family,  # pants: no-infer-dep
    )
    from worldflux.datasets import (
        list_datasets,  # pants: no-infer-dep
        load_dataset,  # pants: no-infer-dep
    )
    from worldflux.planners import (
        Dynamics,  # pants: no-infer-dep
        InProcessDynamics,  # pants: no-infer-dep
        make_planner,  # pants: no-infer-dep
        planner_names,  # pants: no-infer-dep
    )
    from worldflux.rpc import RemoteDynamics  # pants: no-infer-dep
    from worldflux.training import (
        Trainer,  # pants: no-infer-dep
        TrainerConfig,  # pants: no-infer-dep
        TrainResult,  # pants: no-infer-dep
    )

# Public name -> the package that exports it (api_test checks this table against the imports above).
_EXPORTS: dict[str, str] = {
    "ActionKind": "worldflux.core",
    "ActionPayload": "worldflux.core",
    "ActionSpec": "worldflux.core",
    "Batch": "worldflux.core",
    "CheckpointError": "worldflux.core",
    "ConditionPayload": "worldflux.core",
    "ContractError": "worldflux.core",
    "LatentState": "worldflux.core",
    "LossOutput": "worldflux.core",
    "ModelSpec": "worldflux.core",
    "ObservationSpec": "worldflux.core",
    "Rollout": "worldflux.core",
    "UnknownModelError": "worldflux.core",
    "WorldModel": "worldflux.core",
    "WorldModelConfig": "worldflux.core",
    "create_world_model": "worldflux.core",
    "list_models": "worldflux.core",
    "register_family": "worldflux.core",
    "list_datasets": "worldflux.datasets",
    "load_dataset": "worldflux.datasets",
    "Dynamics": "worldflux.planners",
    "InProcessDynamics": "worldflux.planners",
    "make_planner": "worldflux.planners",
    "planner_names": "worldflux.planners",
    "RemoteDynamics": "worldflux.rpc",
    "Trainer": "worldflux.training",
    "TrainerConfig": "worldflux.training",
    "TrainResult": "worldflux.training",
}

__all__ = [
    "ActionKind",
    "ActionPayload",
    "ActionSpec",
    "Batch",
    "CheckpointError",
    "ConditionPayload",
    "ContractError",
    "Dynamics",
    "InProcessDynamics",
    "LatentState",
    "LossOutput",
    "ModelSpec",
    "ObservationSpec",
    "RemoteDynamics",
    "Rollout",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "UnknownModelError",
    "WorldModel",
    "WorldModelConfig",
    "__version__",
    "create_world_model",
    "list_datasets",
    "list_models",
    "load_dataset",
    "make_planner",
    "planner_names",
    "register_family",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'worldflux' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
