"""Prediction skill: what a run's success means.

A model's training objective falls on anything (heads that start at zero, latents that collapse,
the marginal statistics of noise), so the gates judge what a planner needs instead: open-loop
predictions on held-out windows, in the data's own units, compared with trivial predictors
fitted on the training split, and compared with the same model fed the wrong actions.

For each held-out window of T steps the model sees the first T - H observations (through
`encode` and then `observe`), then imagines the last H steps open loop from the true actions:

- `obs`: mean squared error of the decoded observations o_{c+1} .. o_{c+H} (families that
  decode). Baselines: the training mean observation, and copy-last (o_c for every step).
- `reward`: mean squared error of the rewards r_{c+1} .. r_{c+H-1}. The first imagined reward
  r_c is left out: it is a function of the observation the model has just seen and of the
  action, so a model can predict it without any dynamics (on data whose transitions were
  shuffled, too). Baselines: the training mean reward (the best constant under squared error of
  the marginal reward distribution), and the last reward received, r_{c-1}.

skill = 1 - error_model / error_best_baseline: 0 is no better than the best trivial predictor,
negative is worse. Action dependence is the same error with the actions shuffled across the
batch: `action_gain = error_shuffled / error_true - 1`; a model whose predictions ignore the
actions is useless to a planner even when its skill is high.

A family names its primary metrics with the `gate_metrics` class attribute; by default every
metric its interface supports is primary. A new metric is one `register_metric` call (or a
`worldflux.metrics` entry point), the same registry idiom as families, planners and gates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from worldflux.core import Batch, LatentState, WorldModel
from worldflux.core.plugins import Registry
from worldflux.core.spec import ActionKind
from worldflux.gates.evaluation import EVAL_SEED, eval_mode, heldout_batches, isolated_rng
from worldflux.gates.records import MetricSkill

BASELINE_SEED = 20_240_602
SHUFFLE_SEED = 20_240_603


# -- what the model predicted ---------------------------------------------------------------


@dataclass
class Window:
    """One held-out batch cut into a context (steps <= c) and an open-loop future of H steps."""

    batch: Batch
    horizon: int

    @property
    def context_end(self) -> int:
        """c: the last observed step."""
        return self.batch.seq_len - 1 - self.horizon

    @property
    def future_actions(self) -> torch.Tensor:
        c = self.context_end
        return self.batch.actions[:, c : c + self.horizon]

    @property
    def valid(self) -> torch.Tensor:
        """[B, H]: step h is a real transition (the row whose action it takes is not an
        episode's final, padding row)."""
        c = self.context_end
        is_last = self.batch.extras.get("is_last")
        if is_last is None:
            return torch.ones(self.batch.batch_size, self.horizon, dtype=torch.bool)
        return ~is_last[:, c : c + self.horizon].bool()


@dataclass
class Predictions:
    """Open-loop predictions of one window: obs [B, H, *obs_shape], rewards [B, H]; and what
    they were made from (the model, its context state, the actions), for metrics that ask a
    model capability of their own (worldflux.gates.generative)."""

    obs: torch.Tensor | None = None
    rewards: torch.Tensor | None = None
    model: WorldModel | None = None
    state: LatentState | None = None
    actions: torch.Tensor | None = None


def has_decoder(model: WorldModel) -> bool:
    return type(model).decode is not WorldModel.decode


def context_state(model: WorldModel, batch: Batch, context_end: int) -> LatentState:
    """The posterior after observing steps 0..c (encode, then observe step by step)."""
    state = model.encode(batch.obs[:, 0])
    for t in range(1, context_end + 1):
        state = model.observe(state, batch.actions[:, t - 1], batch.obs[:, t])
    return state


def predict(model: WorldModel, window: Window, actions: torch.Tensor) -> Predictions:
    state = context_state(model, window.batch, window.context_end)
    rollout = model.rollout(state, actions)
    obs = None
    if has_decoder(model):
        obs = model.decode(LatentState(dict(rollout.latents)))
    return Predictions(obs, rollout.rewards, model, state, actions)


# -- baselines fitted on the training split -------------------------------------------------


@dataclass
class Baselines:
    """Statistics of the training split that the trivial predictors use."""

    obs_mean: torch.Tensor
    reward_mean: float
    # (train_data, batches, batch_size, seq_len) and statistics fitted from it on demand
    # (e.g. token counts in a model's own vocabulary), keyed by the metric that needs them.
    source: tuple[Any, int, int, int] | None = None
    fitted: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, train_data: Any, batches: int, batch_size: int, seq_len: int) -> Baselines:
        """Means over `batches` fixed training batches (any dataset with `.sample` works)."""
        obs_sum: torch.Tensor | None = None
        reward_sum, rows, reward_rows = 0.0, 0, 0
        for batch in heldout_batches(train_data, batches, batch_size, seq_len, BASELINE_SEED):
            real = _real_rows(batch)
            obs = batch.obs.float()[real]
            obs_sum = obs.sum(0) if obs_sum is None else obs_sum + obs.sum(0)
            rows += obs.shape[0]
            reward_sum += float(batch.rewards.float()[real].sum())
            reward_rows += int(real.sum())
        assert obs_sum is not None
        source = (train_data, batches, batch_size, seq_len)
        return cls(obs_sum / max(rows, 1), reward_sum / max(reward_rows, 1), source)


def _real_rows(batch: Batch) -> torch.Tensor:
    is_last = batch.extras.get("is_last")
    if is_last is None:
        return torch.ones(batch.obs.shape[:2], dtype=torch.bool)
    return ~is_last.bool()


# -- metrics --------------------------------------------------------------------------------

# (sum of squared errors, count) of a prediction, per predictor name ("model", baselines).
ErrorSums = dict[str, tuple[float, int]]
MetricFn = Callable[[Window, Predictions, Baselines], ErrorSums | None]


def _sse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Squared error summed over the masked [B, H] entries and all their trailing dims."""
    diff = (pred.float() - target.float()).square()
    per_step = diff.reshape(*diff.shape[:2], -1)
    width = per_step.shape[-1]
    return float(per_step.sum(-1)[mask].sum()), int(mask.sum()) * width


def obs_metric(window: Window, pred: Predictions, baselines: Baselines) -> ErrorSums | None:
    if pred.obs is None:
        return None
    batch, c, h = window.batch, window.context_end, window.horizon
    target = batch.obs[:, c + 1 : c + 1 + h].float()
    mask = window.valid
    last = batch.obs[:, c : c + 1].float().expand_as(target)
    mean = baselines.obs_mean.to(target.device).expand_as(target)
    return {
        "model": _sse(pred.obs.to(target.device), target, mask),
        "mean": _sse(mean, target, mask),
        "copy_last": _sse(last, target, mask),
    }


def reward_metric(window: Window, pred: Predictions, baselines: Baselines) -> ErrorSums | None:
    if pred.rewards is None or window.horizon < 2 or window.context_end < 1:
        return None
    batch, c, h = window.batch, window.context_end, window.horizon
    target = batch.rewards[:, c + 1 : c + h].float()
    mask = window.valid[:, 1:]
    last = batch.rewards[:, c - 1 : c].float().expand_as(target)
    return {
        "model": _sse(pred.rewards[:, 1:].to(target.device), target, mask),
        "mean": _sse(torch.full_like(target, baselines.reward_mean), target, mask),
        "last_reward": _sse(last, target, mask),
    }


@dataclass(frozen=True)
class PredictionMetric:
    """A held-out prediction metric: `measure` gives the squared-error sums of the model and of
    each baseline on one window, or None where the model cannot be measured by it."""

    name: str
    measure: MetricFn


METRICS: Registry[PredictionMetric] = Registry(
    "prediction metric",
    "worldflux.metrics",
    builtins=(
        "worldflux.gates.skill",
        "worldflux.gates.generative",
        "worldflux.gates.representation",
        "worldflux.gates.views",
    ),
)


def register_metric(name: str, fn: MetricFn) -> PredictionMetric:
    """Add a prediction metric (a family then lists it in its `gate_metrics`); the
    `worldflux.metrics` entry point group may name a PredictionMetric instead."""
    return METRICS.register(PredictionMetric(name, fn))


register_metric("obs", obs_metric)
register_metric("reward", reward_metric)


def primary_metrics(model: WorldModel) -> tuple[str, ...]:
    """The metrics a family is judged on: its `gate_metrics`, or all that its interface has."""
    declared = getattr(type(model), "gate_metrics", None)
    if declared:
        unknown = [m for m in declared if m not in METRICS]
        if unknown:
            raise ValueError(
                f"{type(model).__name__}.gate_metrics names unknown metric(s) {unknown}; "
                f"known: {', '.join(METRICS.names())}"
            )
        return tuple(declared)
    names = []
    if has_decoder(model):
        names.append("obs")
    if model.spec.has_reward:
        names.append("reward")
    return tuple(names)


# -- results --------------------------------------------------------------------------------


@dataclass
class SkillSettings:
    horizon: int = 5
    batches: int = 8
    batch_size: int = 16
    seq_len: int = 16


@dataclass
class _Accumulator:
    sums: dict[str, list[float]] = field(default_factory=dict)

    def add(self, errors: ErrorSums) -> None:
        for name, (sse, count) in errors.items():
            acc = self.sums.setdefault(name, [0.0, 0.0])
            acc[0] += sse
            acc[1] += count

    def mse(self, name: str) -> float:
        sse, count = self.sums.get(name, [math.nan, 0.0])
        return sse / count if count else math.nan

    @property
    def count(self) -> int:
        return int(self.sums.get("model", [0.0, 0.0])[1])


def shuffled(actions: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Actions of other windows: a permutation of the batch with no window keeping its own
    (a cyclic shift of a random order)."""
    n = actions.shape[0]
    if n < 2:
        return actions
    order = torch.randperm(n, generator=generator)
    target = torch.empty_like(order)
    target[order] = order.roll(1)
    return actions[target.to(actions.device)]


def measure_skill(
    model: WorldModel,
    heldout: Any,
    baselines: Baselines,
    settings: SkillSettings,
    metrics: Iterable[str] | None = None,
) -> dict[str, MetricSkill]:
    """Every applicable metric over the fixed held-out windows; primary ones flagged."""
    primary = set(primary_metrics(model))
    names = list(metrics) if metrics is not None else METRICS.names()
    horizon = min(settings.horizon, settings.seq_len - 2)
    if horizon < 1:
        raise ValueError(f"seq_len {settings.seq_len} is too short for open-loop prediction")
    acts_matter = model.spec.action.kind is not ActionKind.NONE
    true_acc = {n: _Accumulator() for n in names}
    shuffled_acc = {n: _Accumulator() for n in names}
    device = model.device
    generator = torch.Generator().manual_seed(SHUFFLE_SEED)
    with eval_mode(model), torch.no_grad():
        for index, batch in enumerate(
            heldout_batches(heldout, settings.batches, settings.batch_size, settings.seq_len)
        ):
            window = Window(batch.to(device), horizon)
            actions = window.future_actions
            # Common random numbers: a stochastic model draws the same noise with the true and
            # the shuffled actions, so their difference is the actions' doing, not sampling's.
            with isolated_rng(EVAL_SEED + index, device):
                runs = [(true_acc, predict(model, window, actions))]
            if acts_matter:
                wrong = shuffled(actions, generator)
                with isolated_rng(EVAL_SEED + index, device):
                    runs.append((shuffled_acc, predict(model, window, wrong)))
            for accumulators, pred in runs:
                for name in names:
                    errors = METRICS.get(name).measure(window, pred, baselines)
                    if errors is not None:
                        accumulators[name].add(errors)
    out = {}
    for name in names:
        acc = true_acc[name]
        if not acc.sums:
            continue
        baseline_names = [k for k in acc.sums if k != "model"]
        out[name] = MetricSkill(
            acc.mse("model"),
            {k: acc.mse(k) for k in baseline_names},
            shuffled_acc[name].mse("model") if acts_matter else None,
            name in primary,
            acc.count,
        )
    return out
