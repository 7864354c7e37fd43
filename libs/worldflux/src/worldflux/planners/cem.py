"""Cross-entropy method for continuous (and latent) actions.

Each iteration samples candidates around a diagonal Gaussian per state and step, scores them in
one batched rollout, and refits mean and std to the elites, mixed with the previous values by
`momentum` (as in TD-MPC's CEM). Stds are in units of half the action range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldflux.core import ActionKind, ContractError
from worldflux.planners.base import (
    Outcome,
    Planner,
    SamplingConfig,
    Search,
    check_range,
    gather_candidates,
    register_planner,
)
from worldflux.planners.gaussian import initial_mean, sample, with_prior
from worldflux.planners.objectives import Objective
from worldflux.planners.types import PlannerState

CEM_SELECT = ("mean", "best")


@dataclass
class CEMConfig(SamplingConfig):
    """`select="mean"` returns the final mean (smooth, the classic CEM answer); "best" returns
    the best candidate scored in any iteration."""

    horizon: int = 5
    momentum: float = 0.1
    init_std: float = 2.0
    min_std: float = 0.05
    max_std: float = 2.0
    select: str = "mean"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("CEMConfig", "momentum", self.momentum, 0.0, 0.999)
        _check_stds("CEMConfig", self.min_std, self.max_std, self.init_std)
        if self.select not in CEM_SELECT:
            raise ContractError(
                f"CEMConfig.select must be one of {', '.join(CEM_SELECT)}, got {self.select!r}"
            )


def _check_stds(owner: str, min_std: float, max_std: float, init_std: float) -> None:
    if not 0.0 < min_std <= max_std:
        raise ContractError(f"{owner} needs 0 < min_std <= max_std, got {min_std} / {max_std}")
    if not min_std <= init_std <= max_std:
        raise ContractError(
            f"{owner}.init_std must be in [min_std, max_std] = [{min_std}, {max_std}], "
            f"got {init_std}"
        )


@register_planner
class CEMPlanner(Planner):
    name = "cem"
    config_class = CEMConfig
    kinds = (ActionKind.CONTINUOUS, ActionKind.LATENT)
    config: CEMConfig

    def __init__(
        self, config: CEMConfig | None = None, objective: Objective | str | None = None
    ) -> None:
        super().__init__(config if config is not None else CEMConfig(), objective)

    def _search(self, search: Search, state: PlannerState | None) -> Outcome:
        cfg = self.config
        bounds = search.bounds
        mean = initial_mean(search, bounds, state, self.name)
        std = torch.ones_like(mean) * (cfg.init_std * bounds.scale)
        min_std, max_std = cfg.min_std * bounds.scale, cfg.max_std * bounds.scale
        prior = search.propose(cfg.num_pi_trajs)
        num_sampled = cfg.num_samples - (prior.shape[1] if prior is not None else 0)
        best = torch.full((search.batch,), -torch.inf, device=search.device)
        best_plan = mean.clone()
        elite_scores = best
        for _ in range(cfg.iterations):
            candidates = with_prior(
                prior, sample(mean, std, num_sampled, bounds, search.generator), bounds
            )
            scores = search.evaluate(candidates)
            elite_scores, elite_idx = scores.topk(cfg.num_elites, dim=1)
            elites = gather_candidates(candidates, elite_idx)
            improved = elite_scores[:, 0] > best
            best = torch.where(improved, elite_scores[:, 0], best)
            best_plan = torch.where(improved[:, None, None], elites[:, 0], best_plan)
            mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(1)
            fitted = elites.std(1, unbiased=False)
            std = torch.minimum(
                torch.maximum(cfg.momentum * std + (1 - cfg.momentum) * fitted, min_std), max_std
            )
        if cfg.select == "best":
            return Outcome(best_plan, best, mean, cfg.num_samples)
        finite = torch.isfinite(elite_scores)
        objective = torch.where(finite, elite_scores, 0.0).sum(1) / finite.sum(1)
        return Outcome(bounds.clamp(mean), objective, mean, cfg.num_samples)
