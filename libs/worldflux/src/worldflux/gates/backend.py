"""Where a seed run gets its data and its training loop.

The default backend is the library's own: bundled datasets (worldflux.datasets) and the generic
Trainer (worldflux.training), so the gate measures exactly what users run. A different backend
(`wf-gate measure --backend NAME`, a class registered in BACKENDS) can bring its own datasets or
loop; it only has to provide the two methods of TrainingBackend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from worldflux.core import WorldModel, create_world_model
from worldflux.core.plugins import Registry
from worldflux.core.registry import resolve_model_id
from worldflux.datasets import load_dataset
from worldflux.training import Callback, Trainer, TrainerConfig

StepHook = Callable[[int], None]


@dataclass(frozen=True)
class TrainSpec:
    steps: int
    batch_size: int
    seq_len: int
    seed: int
    device: str
    deterministic: bool
    # After the family's warmup: "constant" (the family's own) or "cosine" decay over the run.
    schedule: str = "constant"


@dataclass
class TrainOutcome:
    """steps_done optimizer steps in `seconds` of wall time; `train_seconds`, when the loop
    measures it, is the time inside optimizer steps alone (no callbacks or evaluations)."""

    steps_done: int
    seconds: float
    train_seconds: float | None = None


class TrainingBackend(Protocol):
    name: str

    def load_dataset(self, name: str, split: str, seed: int) -> Any:
        """A SequenceDataset-like object: `.spec` (obs_shape, action_dim, action_kind) and
        `.sample(batch_size, seq_len, generator) -> Batch`."""
        ...

    def train(
        self, model: WorldModel, data: Any, spec: TrainSpec, on_step: StepHook
    ) -> TrainOutcome:
        """Train in place for spec.steps optimizer steps, calling on_step(step) after each
        (step counts from 1). Raise NonFiniteLossError when a loss turns NaN/Inf."""
        ...


class LibraryBackend:
    """worldflux.datasets + worldflux.training.Trainer."""

    name = "library"

    def load_dataset(self, name: str, split: str, seed: int) -> Any:
        return load_dataset(name, split=split, seed=seed)

    def train(
        self, model: WorldModel, data: Any, spec: TrainSpec, on_step: StepHook
    ) -> TrainOutcome:
        config = TrainerConfig(
            steps=spec.steps,
            batch_size=spec.batch_size,
            seq_len=spec.seq_len,
            seed=spec.seed,
            device=spec.device,
            deterministic=spec.deterministic,
            schedule=spec.schedule,
            progress=False,
            tensorboard=False,
        )
        # No eval_data: the gate evaluates on its own fixed held-out batches, the same for
        # every seed, so that seeds are compared on equal terms.
        trainer = Trainer(model, config, data, None, [_StepCallback(on_step)])
        start = time.perf_counter()
        result = trainer.fit()
        seconds = time.perf_counter() - start
        steps = int(result.steps)
        train_seconds = steps / result.steps_per_second if result.steps_per_second > 0 else None
        return TrainOutcome(steps, seconds, train_seconds)


class _StepCallback(Callback):
    def __init__(self, on_step: StepHook) -> None:
        self.on_step = on_step

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        del trainer, metrics
        self.on_step(step)


def model_for_data(model_id: str, data_spec: Any, **overrides: Any) -> WorldModel:
    """The family at the id's size, shaped for the dataset's observations and actions, with the
    fields the family derives from the data (`dataset_defaults`) and `overrides` on top."""
    family, _ = resolve_model_id(model_id)
    if hasattr(data_spec, "model_kwargs"):
        kwargs: dict[str, Any] = dict(data_spec.model_kwargs())
    else:
        kwargs = {
            "obs_shape": tuple(data_spec.obs_shape),
            "action_dim": int(data_spec.action_dim),
            "action_kind": str(data_spec.action_kind),
        }
    derive = getattr(family.config_class, "dataset_defaults", None)
    if derive is not None:
        kwargs.update(derive(data_spec))
    kwargs.update(overrides)
    return create_world_model(model_id, **kwargs)


BACKENDS: Registry[type[Any]] = Registry(
    "training backend", "worldflux.backends", builtins=("worldflux.gates.backend",)
)
register_backend = BACKENDS.register
register_backend(LibraryBackend)


def load_backend(name: str | None) -> TrainingBackend:
    """A registered backend by name (None: the library's own), instantiated.

    Backends are classes with a `name` and the two TrainingBackend methods, registered with
    `register_backend` or a `worldflux.backends` entry point (`wf-gate --import MODULE` loads a
    module that registers one without installing it)."""
    backend = BACKENDS.get(name or LibraryBackend.name)()
    for method in ("load_dataset", "train"):
        if not callable(getattr(backend, method, None)):
            raise ValueError(f"backend {name!r} has no {method}() method")
    return backend  # type: ignore[no-any-return]
