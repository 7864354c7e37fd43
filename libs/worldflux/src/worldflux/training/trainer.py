"""Trainer: fits any WorldModel on a SequenceDataset or ReplayBuffer, resumably and reproducibly.

One step: sample a batch with the trainer's own generator, model.loss(batch), stop with
NonFiniteLossError if a component is NaN/Inf, backward, (all-reduce under torchrun), clip,
optimizer and schedule step, model.after_optimizer_step(step). Everything a step depends on
(weights, optimizer moments, schedule, every RNG, the sampler, the step, replay contents) is in
the checkpoint, so a resumed run repeats an uninterrupted one step for step.

Several optimizers. A model's parameter groups may name an "optimizer" (default "main"). Each
named set is updated in turn, in the order the names first appear: the first on model.loss,
every later one on model.optimizer_loss(name, batch, first_output), computed after the earlier
updates (TD-MPC2's policy after its world model). Each set clips its own gradients, as separate
official optimizers do. They share one torch optimizer (a parameter without a gradient is
skipped by its step), so the checkpoint format and the schedule stay those of one optimizer.

Replay context. When a model's `keeps_replay_context` is true and it trains from a ReplayBuffer,
the posterior latents its loss returns in `aux["posterior.<name>"]` are written back to the
rows they belong to after each step, and later samples carry them as context. A fixed dataset
is sampled as it is (no context); `ReplayBuffer.from_dataset(data)` opts it in.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist

from worldflux.core.capture import capturing, scalar, to_float
from worldflux.core.errors import CheckpointError, ContractError, NonFiniteLossError
from worldflux.core.model import WorldModel
from worldflux.core.state import Batch, LossOutput
from worldflux.serialization.atomic import recover_directory
from worldflux.training.callbacks import Callback
from worldflux.training.checkpoint import (
    flatten_optimizer,
    has_checkpoint,
    read_checkpoint,
    unflatten_optimizer,
    write_checkpoint,
)
from worldflux.training.clip import clip_gradients
from worldflux.training.config import TrainerConfig
from worldflux.training.distributed import (
    DistContext,
    average_gradients,
    broadcast_module,
    gather_tensor,
    init_distributed,
)
from worldflux.training.graphed import GraphedStep
from worldflux.training.loggers import MetricsLogger
from worldflux.training.optim import build_optimizer
from worldflux.training.progress import ProgressBar
from worldflux.training.replay import SLOTS_KEY, ReplayBuffer
from worldflux.training.schedule import build_schedule
from worldflux.training.seeding import capture_rng, restore_rng, seed_everything, set_deterministic

log = logging.getLogger(__name__)

# Offsets that keep the sampler and evaluation streams apart from the global seed's stream.
SAMPLER_SEED_OFFSET = 0x5EED_0000
EVAL_SEED_OFFSET = 0xE7A1_0000
RANK_SEED_STRIDE = 1_000_003
CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
MAIN_OPTIMIZER = "main"  # parameter groups that name no optimizer
POSTERIOR_PREFIX = "posterior."  # LossOutput.aux keys of latents kept for replay context


class DataSource(Protocol):
    def sample(
        self, batch_size: int, seq_len: int, generator: torch.Generator | None = None
    ) -> Batch: ...

    def __len__(self) -> int: ...


@dataclass
class TrainResult:
    """What fit() did. `seconds` is the wall time of the fit() call; `steps_per_second`
    counts optimizer steps over the time spent in them (evaluations and checkpoints excluded).
    `history` has one entry per optimizer step since step 1 (restored on resume)."""

    steps: int
    initial_eval: dict[str, float]
    final_eval: dict[str, float]
    history: list[dict[str, float]]
    seconds: float
    steps_per_second: float
    eval_history: list[dict[str, float]] = field(default_factory=list)
    output_dir: str | None = None


class Trainer:
    def __init__(
        self,
        model: WorldModel,
        config: TrainerConfig,
        train_data: DataSource,
        eval_data: DataSource | None = None,
        callbacks: Iterable[Callback | Any] = (),
    ) -> None:
        self.config = config
        self.device = torch.device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.dist: DistContext = init_distributed(self.device)
        seed_everything(config.seed)
        self.model = model.to(self.device)
        if self.dist.enabled:
            broadcast_module(self.model)
        self.train_data = train_data
        self.eval_data = eval_data
        self.callbacks = list(callbacks)
        self.optimizer_spec = model.optimizer_spec()
        graphed = config.cuda_graph and self.device.type == "cuda"
        self.optimizer = build_optimizer(model, self.optimizer_spec, capturable=graphed)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.param_sets = optimizer_sets(self.optimizer)
        self.scheduler = build_schedule(
            self.optimizer,
            self.optimizer_spec.warmup_steps,
            config.steps,
            config.schedule,
            config.min_lr_ratio,
        )
        rank_offset = RANK_SEED_STRIDE * self.dist.rank  # each rank draws its own batches
        self.generator = torch.Generator().manual_seed(
            config.seed + SAMPLER_SEED_OFFSET + rank_offset
        )
        self._eval_state = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET).get_state()
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.eval_history: list[dict[str, float]] = []
        self.initial_eval: dict[str, float] = {}
        self.final_eval: dict[str, float] = {}
        self.should_stop = False
        self._checkpointed_step = -1
        self.output_dir = Path(config.output_dir) if config.output_dir else None
        if config.checkpoint_every and self.output_dir is None:
            # Refused now rather than at the first periodic checkpoint, steps into the run.
            raise ContractError(
                "TrainerConfig.checkpoint_every needs output_dir (where checkpoints go); "
                "set checkpoint_every=0 to train without checkpoints"
            )
        self.graphed = GraphedStep(self) if config.cuda_graph else None
        self._check_data(train_data, "train_data")
        if eval_data is not None:
            self._check_data(eval_data, "eval_data")
        if self.output_dir and config.resume:
            self._recover_checkpoint()
            if has_checkpoint(self.checkpoint_dir):
                self.load_checkpoint(self.checkpoint_dir)

    # -- setup -----------------------------------------------------------------------------
    def _recover_checkpoint(self) -> None:
        """Put back the checkpoint that a save killed between its two renames left aside.

        Rank 0 alone renames (two ranks renaming the same directory would race); the barrier
        keeps the other ranks from reading before it has.
        """
        if self.dist.is_main and recover_directory(self.checkpoint_dir):
            log.warning(
                "%s: the last save was interrupted; restored the previous checkpoint",
                self.checkpoint_dir,
            )
        if self.dist.enabled:
            dist.barrier()

    @property
    def checkpoint_dir(self) -> Path:
        if self.output_dir is None:
            raise ContractError("checkpoints need TrainerConfig.output_dir")
        return self.output_dir / CHECKPOINT_DIR

    def _check_data(self, data: DataSource, role: str) -> None:
        """Fail before training if the data cannot feed this model (shape, action kind)."""
        if not hasattr(data, "sample"):
            raise ContractError(f"{role} must have .sample(batch_size, seq_len, generator)")
        if hasattr(data, "__len__") and len(data) == 0:
            return  # an online replay buffer that is filled later
        probe = data.sample(1, self.config.seq_len, torch.Generator().manual_seed(0))
        try:
            self.model.check_obs(probe.obs.float(), leading=2, name=f"{role} observations")
            self.model.check_actions(probe.actions, leading=2)
        except ContractError as err:
            raise ContractError(f"{role} does not fit model {self.model.model_id}: {err}") from None

    # -- one step --------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One optimizer step; returns its metrics (loss components, lr, grad_norm)."""
        cfg = self.config
        step = self.step + 1
        self.model.train()
        batch = self.train_data.sample(cfg.batch_size, cfg.seq_len, self.generator)
        # The schedule's lr (spec.lr times warmup/decay); groups scale it by their lr_scale.
        lr = self.optimizer_spec.lr * self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        if self.graphed is not None:
            metrics = self.graphed.step(batch, step)  # after_optimizer_step is in the graph
            self.scheduler.step()
        else:
            batch = batch.to(self.device)
            values, out = self.apply_updates(batch, step)
            metrics = {k: to_float(v) for k, v in values.items()}
            self.scheduler.step()
            if self.dist.enabled:
                broadcast_module(self.model, buffers_only=True)
            self.model.after_optimizer_step(step)
            self._keep_replay_context(batch, out)
        self.step = step
        metrics["lr"] = lr
        return metrics

    def apply_updates(
        self, batch: Batch, step: int
    ) -> tuple[dict[str, float | torch.Tensor], LossOutput]:
        """Loss, then backward, clip and step of each optimizer in turn: the tensor work of a
        step. Metrics are floats, or tensors while a CUDA graph records it (read after replay).
        """
        out = self.model.loss(batch)
        self._check_finite(out, step)
        metrics: dict[str, float | torch.Tensor] = dict(out.scalars())
        metrics.update(out.metrics)
        first, *later = self.param_sets
        metrics["grad_norm"] = self._update(first[1], out.total, step, "grad_norm")
        for name, params in later:
            extra = self.model.optimizer_loss(name, batch, out)
            self._check_finite(extra, step)
            metrics.update({k: v for k, v in extra.scalars().items() if k != "total"})
            metrics.update(extra.metrics)
            key = f"grad_norm_{name}"
            metrics[key] = self._update(params, extra.total, step, key)
        return metrics, out

    def _update(
        self, params: list[torch.nn.Parameter], loss: torch.Tensor, step: int, name: str
    ) -> float | torch.Tensor:
        """Backward, clip and step the parameters of one optimizer; the pre-clip grad norm."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if len(self.param_sets) > 1:
            # Another optimizer's parameters are not this update's to move.
            mine = {id(p) for p in params}
            for p in self.params:
                if id(p) not in mine:
                    p.grad = None
        if self.dist.enabled:
            average_gradients(params, self.dist.world_size)
        grad_norm = clip_gradients(params, self.optimizer_spec.clip, self.optimizer_spec.clip_value)
        if not capturing() and not bool(torch.isfinite(grad_norm)):
            # Gradients are identical on every rank after the all-reduce: all ranks stop here.
            raise NonFiniteLossError(name, float(grad_norm), step)
        self.optimizer.step()
        return scalar(grad_norm)

    def _keep_replay_context(self, batch: Batch, out: Any) -> None:
        """Write the posteriors of this batch back to the replay rows it was read from."""
        if not getattr(self.model, "keeps_replay_context", False):
            return
        slots = batch.extras.get(SLOTS_KEY)
        store = getattr(self.train_data, "store_latents", None)
        latents = {
            k[len(POSTERIOR_PREFIX) :]: v
            for k, v in getattr(out, "aux", {}).items()
            if k.startswith(POSTERIOR_PREFIX)
        }
        if slots is not None and store is not None and latents:
            store(slots, latents)

    def _check_finite(self, out: Any, step: int) -> None:
        # While a CUDA graph records, out.check_finite steps aside (DDP is refused there).
        if not self.dist.enabled:
            out.check_finite(step)
            return
        # Every rank must stop together, or the others would wait forever in the all-reduce.
        try:
            out.check_finite(step)
            local_error = None
        except NonFiniteLossError as err:
            local_error = err
        flag = torch.tensor([0.0 if local_error else 1.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        if local_error is not None:
            raise local_error
        if float(flag) < 1.0:
            raise NonFiniteLossError("total (on another rank)", math.nan, step)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Mean held-out loss ("total", each component, family metrics) over fixed batches.

        The batches come from a generator reset to the same state each time, and the global
        RNGs are set aside meanwhile, so evaluating never changes what training does next.
        """
        cfg = self.config
        if self.eval_data is None or cfg.eval_batches == 0:
            return {}
        generator = torch.Generator()
        generator.set_state(self._eval_state)
        rng_data, rng_tensors = capture_rng()
        was_training = self.model.training
        self.model.eval()
        sums: dict[str, float] = {}
        try:
            torch.manual_seed(cfg.seed + EVAL_SEED_OFFSET)
            with torch.no_grad():
                for _ in range(cfg.eval_batches):
                    batch = self.eval_data.sample(cfg.batch_size, cfg.seq_len, generator)
                    out = self.model.loss(batch.to(self.device)).check_finite(self.step)
                    values = out.scalars()
                    values.update({k: float(v) for k, v in out.metrics.items()})
                    for name, value in values.items():
                        sums[name] = sums.get(name, 0.0) + value
        finally:
            self.model.train(was_training)
            restore_rng(rng_data, rng_tensors)
        return {name: value / cfg.eval_batches for name, value in sums.items()}

    def _run_eval(self, logger: MetricsLogger | None) -> dict[str, float]:
        metrics = self.evaluate()
        if metrics:
            self.eval_history.append({"step": self.step, **metrics})
            if logger is not None:
                logger.log("eval", self.step, metrics)
            for callback in self.callbacks:
                if hasattr(callback, "on_eval"):
                    callback.on_eval(self, self.step, metrics)
        return metrics

    # -- the loop --------------------------------------------------------------------------
    def fit(self, until: int | None = None) -> TrainResult:
        """Train to `config.steps` (or stop at step `until`, to checkpoint part way).

        Evaluates before the first step of a fresh run, every `eval_every` steps and at the
        end; checkpoints every `checkpoint_every` steps and at the end when output_dir is set.
        """
        cfg = self.config
        target = cfg.steps if until is None else min(int(until), cfg.steps)
        started = time.perf_counter()
        start_step = self.step
        train_seconds = 0.0
        main = self.dist.is_main
        logger = None
        if self.output_dir is not None and main:
            logger = MetricsLogger(self.output_dir, self.step, cfg.tensorboard)
        bar = ProgressBar(target, self.step, cfg.progress and main)
        previous = set_deterministic(cfg.deterministic)
        self.should_stop = False
        try:
            if self.step == 0 and not self.eval_history:
                self.initial_eval = self._run_eval(logger)
            while self.step < target and not self.should_stop:
                tick = time.perf_counter()
                metrics = self.train_step()
                train_seconds += time.perf_counter() - tick
                step = self.step
                self.history.append({"step": step, **metrics})
                if logger is not None and cfg.log_every and step % cfg.log_every == 0:
                    logger.log("train", step, metrics)
                bar.update(step, metrics["total"])
                for callback in self.callbacks:
                    if hasattr(callback, "on_step_end"):
                        callback.on_step_end(self, step, metrics)
                if cfg.eval_every and step % cfg.eval_every == 0 and step < target:
                    self._run_eval(logger)
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < target:
                    self.save_checkpoint()
            last = self.eval_history[-1] if self.eval_history else None
            if last is not None and last["step"] == self.step:
                self.final_eval = {k: v for k, v in last.items() if k != "step"}
            else:
                self.final_eval = self._run_eval(logger)
            if self.output_dir is not None and self._checkpointed_step != self.step:
                self.save_checkpoint()
            if self.output_dir is not None and main and self.step >= cfg.steps:
                self.model.save_pretrained(self.output_dir / MODEL_DIR)
        finally:
            set_deterministic(previous)
            bar.close()
            if logger is not None:
                logger.close()
        seconds = time.perf_counter() - started
        ran = self.step - start_step
        return TrainResult(
            steps=self.step,
            initial_eval=dict(self.initial_eval),
            final_eval=dict(self.final_eval),
            history=list(self.history),
            seconds=seconds,
            steps_per_second=ran / train_seconds if train_seconds > 0 else 0.0,
            eval_history=list(self.eval_history),
            output_dir=str(self.output_dir) if self.output_dir else None,
        )

    def close(self) -> None:
        """Leave the process group if this trainer created it."""
        if self.dist.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write the full training state (on rank 0; every rank must call this together)."""
        target = Path(path) if path is not None else self.checkpoint_dir
        samplers = gather_tensor(self.generator.get_state(), self.dist)
        if self.dist.is_main:
            rng_data, rng_tensors = capture_rng()
            rng_tensors.update({f"sampler.rank{r}": s for r, s in enumerate(samplers)})
            optimizer_data, optimizer_tensors = flatten_optimizer(self.optimizer.state_dict())
            state: dict[str, Any] = {
                "step": self.step,
                "model_id": self.model.model_id,
                "fingerprint": self.model.fingerprint(),
                "config": self.config.to_dict(),
                "world_size": self.dist.world_size,
                "history": self.history,
                "eval_history": self.eval_history,
                "initial_eval": self.initial_eval,
                "optimizer": optimizer_data,
                "scheduler": self.scheduler.state_dict(),
                "rng": rng_data,
                "replay": None,
            }
            tensors = {
                "model": dict(self.model.state_dict()),
                "optimizer": optimizer_tensors,
                "rng": rng_tensors,
            }
            if isinstance(self.train_data, ReplayBuffer):
                state["replay"], tensors["replay"] = self.train_data.state_dict()
            write_checkpoint(target, state, tensors)
            for callback in self.callbacks:
                if hasattr(callback, "on_checkpoint"):
                    callback.on_checkpoint(self, self.step, target)
        self._checkpointed_step = self.step
        return target

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything save_checkpoint wrote; the next fit() continues from there."""
        path = Path(path)
        state, tensors = read_checkpoint(path)
        where = path / "trainer.json"
        if state.get("fingerprint") != self.model.fingerprint():
            raise CheckpointError(
                f"{where}: written for model {state.get('model_id')} with fingerprint "
                f"{state.get('fingerprint')}, this model ({self.model.model_id}) has "
                f"{self.model.fingerprint()}"
            )
        written_by = state.get("world_size", 1)
        if written_by != self.dist.world_size:
            # Each rank's batch stream and the effective batch (batch_size x processes) are
            # part of the run: continuing with another count would silently change both.
            raise CheckpointError(
                f"{where}: written by {written_by} process(es), this run has "
                f"{self.dist.world_size}; resume with the same number of processes "
                f"(torchrun --nproc_per_node={written_by}) or start a new output_dir"
            )
        sampler_key = f"sampler.rank{self.dist.rank}"
        if sampler_key not in tensors.get("rng", {}):
            raise CheckpointError(
                f"{where}: written by {state.get('world_size')} process(es), has no sampler "
                f"state for rank {self.dist.rank}"
            )
        try:
            self.model.load_state_dict(tensors["model"], strict=True)
            self.optimizer.load_state_dict(
                unflatten_optimizer(state["optimizer"], tensors["optimizer"])
            )
            self.scheduler.load_state_dict(state["scheduler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"{path}: cannot restore training state ({err})") from None
        if state.get("replay") is not None:
            if not isinstance(self.train_data, ReplayBuffer):
                raise CheckpointError(f"{where}: holds a replay buffer but train_data is not one")
            self.train_data.load_state_dict(state["replay"], tensors["replay"])
        rng_tensors = tensors["rng"]
        restore_rng(state["rng"], rng_tensors)
        self.generator.set_state(rng_tensors[sampler_key])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.eval_history = list(state["eval_history"])
        self.initial_eval = dict(state["initial_eval"])
        self._checkpointed_step = self.step
        log.info("resumed from %s at step %d", path, self.step)


def optimizer_sets(
    optimizer: torch.optim.Optimizer,
) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """(optimizer name, its parameters) in the order the names first appear in the groups."""
    sets: dict[str, list[torch.nn.Parameter]] = {}
    for group in optimizer.param_groups:
        sets.setdefault(str(group.get("optimizer", MAIN_OPTIMIZER)), []).extend(group["params"])
    return list(sets.items()) or [(MAIN_OPTIMIZER, [])]


def train(
    model: WorldModel,
    config: TrainerConfig,
    train_data: DataSource,
    eval_data: DataSource | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Trainer(...).fit() in one call."""
    trainer = Trainer(model, config, train_data, eval_data, callbacks)
    try:
        return trainer.fit()
    finally:
        trainer.close()
