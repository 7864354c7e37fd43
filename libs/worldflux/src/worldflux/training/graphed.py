"""The Trainer's optimizer step as one CUDA graph (`TrainerConfig(cuda_graph=True)`).

A TD-MPC2 update at batch 256 is about two thousand small kernels; eager PyTorch spends more
time launching them than the GPU spends running them. Recorded once and replayed per step
(`worldflux.core.capture.CapturedCall`), the step costs one launch plus a copy of the batch into
the static input buffers.

What changes against the eager step, and how each is kept honest:
- Checks that read values on the host cannot run inside the graph. Each batch is checked for
  NaN/Inf on the host before it is copied in; after each replay every metric (loss
  components, gradient norms, family metrics) is read back at once, and a NaN/Inf among them
  restores the weights, buffers and optimizer moments saved at the start of that step and
  raises NonFiniteLossError, so a bad step loses nothing, as in eager mode.
- Recording runs `warmup` eager steps first (the CUDA-graph recipe); their effect on weights and
  optimizer state is undone before the first replay, so step 1 is the first real update.
- What Python computes once is frozen into the graph: the learning rate (so the schedule must
  be constant without warmup) and the `step` passed to `after_optimizer_step` (so the model must
  declare `graph_capturable`, i.e. that its step does not depend on the step number).
On a CPU the same static-buffer step runs eagerly (no graph), which is how tests cover it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from worldflux.core.capture import CapturedCall, to_float
from worldflux.core.errors import ContractError, NonFiniteLossError
from worldflux.core.state import Batch

if TYPE_CHECKING:
    from worldflux.training.trainer import Trainer


def check_graphable(trainer: Trainer) -> None:
    """Refuse, before any step, a run whose step a graph would record wrongly."""
    model, spec, cfg = trainer.model, trainer.optimizer_spec, trainer.config
    reasons = []
    if not getattr(model, "graph_capturable", False):
        reasons.append(f"{model.model_id} does not declare graph_capturable")
    if cfg.schedule != "constant" or spec.warmup_steps:
        reasons.append("the learning rate must be constant (schedule 'constant', no warmup)")
    if spec.name not in ("adam", "adamw"):
        reasons.append(f"optimizer {spec.name!r} is not capturable (adam or adamw are)")
    if trainer.dist.enabled:
        reasons.append("distributed training all-reduces outside the graph")
    if getattr(model, "keeps_replay_context", False):
        reasons.append("replay context is written back on the host after each step")
    if reasons:
        raise ContractError("TrainerConfig.cuda_graph cannot be used: " + "; ".join(reasons))


class GraphedStep:
    """Static batch buffers, the recorded step and the per-step rollback copies."""

    def __init__(self, trainer: Trainer, warmup: int = 3) -> None:
        check_graphable(trainer)
        self.trainer = trainer
        self.warmup = warmup
        self.batch: Batch | None = None
        self.call: CapturedCall | None = None
        self._live: list[torch.Tensor] = []
        self._saved: list[torch.Tensor] = []

    @property
    def warmup_s(self) -> float:
        return self.call.warmup_s if self.call is not None else 0.0

    def _state_tensors(self) -> list[torch.Tensor]:
        """Everything a step writes: parameters, floating buffers, optimizer moments."""
        model, optimizer = self.trainer.model, self.trainer.optimizer
        tensors = [p.data for p in model.parameters()]
        tensors += [b for b in model.buffers() if b.is_floating_point()]
        for state in optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensors

    def _body(self) -> dict[str, float | torch.Tensor]:
        if self._saved:
            torch._foreach_copy_(self._saved, self._live)
        assert self.batch is not None
        metrics, _ = self.trainer.apply_updates(self.batch, step=0)
        self.trainer.model.after_optimizer_step(0)
        return metrics

    def _keep_rollback(self) -> None:
        self._live = self._state_tensors()
        self._saved = [t.clone() for t in self._live]

    def _record(self) -> None:
        """Warm up, record, then undo the warm-up steps' updates (weights and moments)."""
        assert self.call is not None
        before = [t.clone() for t in self._state_tensors()]
        had_state = bool(self.trainer.optimizer.state)
        self.call.record()
        live = self._state_tensors()
        with torch.no_grad():
            for i, tensor in enumerate(live):
                if i < len(before):
                    tensor.copy_(before[i])
                elif not had_state:
                    tensor.zero_()  # optimizer moments created by the warm-up: fresh is zero
        if had_state and len(live) != len(before):
            raise ContractError("the optimizer state changed shape while recording the step")

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One optimizer step on `batch` (any device): metrics as floats."""
        device = self.trainer.device
        _check_finite_batch(batch)
        if self.batch is None:
            self.batch = _static_copy(batch, device)
            self.call = CapturedCall(
                self._body, device, warmup=self.warmup, before_capture=self._keep_rollback
            )
            if self.call.graphed:
                self._record()
        else:
            _copy_batch(self.batch, batch)
        assert self.call is not None
        if not self.call.graphed:
            self._keep_rollback()  # eager: the copies are taken on the host, each step
        outputs = self.call()
        values = {k: to_float(v) for k, v in outputs.items()}
        for name, value in values.items():
            if not math.isfinite(value):
                with torch.no_grad():
                    torch._foreach_copy_(self._live, self._saved)
                raise NonFiniteLossError(name, value, step)
        return values


def _check_finite_batch(batch: Batch) -> None:
    """The value checks the recorded loss skips, on the host copy of the batch: inside a
    graph a NaN would not raise but poison (or, as a NaN index, crash) the GPU step."""
    for name in ("obs", "actions", "rewards", "continues"):
        value = getattr(batch, name)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ContractError(f"batch.{name} contains NaN or infinite values")


def _static_copy(batch: Batch, device: torch.device) -> Batch:
    """The recorded step's own input buffers: copies, never the sampler's tensors (refilling
    those in place could write into a dataset that hands out views)."""

    def own(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device, copy=True)

    return Batch(
        own(batch.obs),
        own(batch.actions),
        own(batch.rewards),
        own(batch.continues),
        own(batch.is_first),
        {k: own(v) for k, v in batch.extras.items()},
    )


def _copy_batch(static: Batch, batch: Batch) -> None:
    """Copy a fresh batch into the recorded one's buffers; a different shape is refused."""
    for name in ("obs", "actions", "rewards", "continues", "is_first"):
        target, source = getattr(static, name), getattr(batch, name)
        if target.shape != source.shape:
            raise ContractError(
                f"a CUDA-graph step was recorded for batch.{name} {list(target.shape)}, "
                f"got {list(source.shape)}"
            )
        target.copy_(source, non_blocking=True)
    for key, value in batch.extras.items():
        if key in static.extras:
            static.extras[key].copy_(value, non_blocking=True)
