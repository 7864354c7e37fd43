"""Categorical CEM for discrete and token actions.

Each state keeps one categorical distribution per step [B, H, K]. Every iteration samples
candidate index sequences from it, scores them in one rollout, and refits each step's
distribution to the elites' action frequencies, smoothed towards uniform (so no action's
probability collapses to zero after a few unlucky samples) and mixed with the previous
distribution by `momentum`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

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
from worldflux.planners.objectives import Objective
from worldflux.planners.types import PlannerState

DISCRETE_SELECT = ("best", "mode")


@dataclass
class DiscreteCEMConfig(SamplingConfig):
    """`select="best"` returns the best sequence scored in any iteration; "mode" the most
    likely action of each step's final distribution."""

    horizon: int = 5
    num_samples: int = 256
    num_elites: int = 32
    momentum: float = 0.1
    smoothing: float = 0.05
    select: str = "best"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("DiscreteCEMConfig", "momentum", self.momentum, 0.0, 0.999)
        check_range("DiscreteCEMConfig", "smoothing", self.smoothing, 0.0, 1.0)
        if self.select not in DISCRETE_SELECT:
            raise ContractError(
                f"DiscreteCEMConfig.select must be one of {', '.join(DISCRETE_SELECT)}, "
                f"got {self.select!r}"
            )


@register_planner
class DiscreteCEMPlanner(Planner):
    name = "discrete-cem"
    config_class = DiscreteCEMConfig
    aliases = ("categorical-cem", "discrete_cem", "dcem")
    kinds = (ActionKind.DISCRETE, ActionKind.TOKEN)
    config: DiscreteCEMConfig

    def __init__(
        self, config: DiscreteCEMConfig | None = None, objective: Objective | str | None = None
    ) -> None:
        super().__init__(config if config is not None else DiscreteCEMConfig(), objective)

    def _search(self, search: Search, state: PlannerState | None) -> Outcome:
        cfg = self.config
        b, h, k = search.batch, search.horizon, search.spec.action.num_actions
        uniform = torch.full((k,), 1.0 / k, device=search.device)
        if state is None:
            probs = uniform.expand(b, h, k).clone()
        else:
            state.check_compatible(self.name, b, h, k)
            probs = state.shifted(uniform).to(search.device, torch.float32)
        prior = search.propose(cfg.num_pi_trajs)
        if prior is not None and bool(((prior < 0) | (prior >= k)).any()):
            raise ContractError(f"dynamics.propose returned action indices outside [0, {k})")
        num_sampled = cfg.num_samples - (prior.shape[1] if prior is not None else 0)
        best = torch.full((b,), -torch.inf, device=search.device)
        best_plan = probs.argmax(-1)
        elite_scores = best
        for _ in range(cfg.iterations):
            drawn = torch.multinomial(
                probs.reshape(b * h, k), num_sampled, replacement=True, generator=search.generator
            )
            candidates = drawn.reshape(b, h, num_sampled).transpose(1, 2)  # [B, N, H]
            if prior is not None:
                candidates = torch.cat([prior.long(), candidates], dim=1)
            scores = search.evaluate(candidates)
            elite_scores, elite_idx = scores.topk(cfg.num_elites, dim=1)
            elites = gather_candidates(candidates, elite_idx)  # [B, E, H]
            improved = elite_scores[:, 0] > best
            best = torch.where(improved, elite_scores[:, 0], best)
            best_plan = torch.where(improved[:, None], elites[:, 0], best_plan)
            freq = F.one_hot(elites, k).float().mean(1)  # [B, H, K]
            freq = (1 - cfg.smoothing) * freq + cfg.smoothing / k
            probs = cfg.momentum * probs + (1 - cfg.momentum) * freq
        if cfg.select == "best":
            return Outcome(best_plan, best, probs, cfg.num_samples)
        finite = torch.isfinite(elite_scores)
        objective = torch.where(finite, elite_scores, 0.0).sum(1) / finite.sum(1)
        return Outcome(probs.argmax(-1), objective, probs, cfg.num_samples)
