"""MPPI as TD-MPC2 plans (nicklashansen/tdmpc2, `TDMPC2._plan`), batched over states.

Per plan: policy-prior trajectories from dynamics.propose() (kept fixed over the iterations),
mean starting at the range centre or at the previous plan's mean shifted one step, std at
max_std. Per iteration: sample the remaining candidates, score all of them in one rollout, take
the top elites, weight them by exp(temperature * (value - max value)) and refit mean and std
to those weights (std clamped to [min_std, max_std]). The returned plan is an elite drawn by
its weight from the last iteration; the mean is what the next plan warm-starts from.
Action spaces of 20 or more dimensions get 2 more iterations, as the official code adds them
(`iterations += 2 * (action_dim >= 20)`): the wider search needs longer to settle.
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
    gather_candidates,
    register_planner,
)
from worldflux.planners.gaussian import initial_mean, sample, with_prior
from worldflux.planners.objectives import Objective
from worldflux.planners.types import PlannerState


@dataclass
class MPPIConfig(SamplingConfig):
    """TD-MPC2's defaults. `exploration_noise` adds std[0]-scaled noise to the first action,
    as TD-MPC2 does when acting outside eval mode (off by default: evaluation behaviour)."""

    horizon: int = 3
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24
    temperature: float = 0.5
    min_std: float = 0.05
    max_std: float = 2.0
    exploration_noise: bool = False
    # Official heuristic for large action spaces: extra iterations from this many dimensions.
    large_action_dim: int = 20
    large_action_extra_iterations: int = 2

    def iterations_for(self, action_dim: int) -> int:
        """The iterations a plan over `action_dim`-dimensional actions runs."""
        extra = self.large_action_extra_iterations if action_dim >= self.large_action_dim else 0
        return self.iterations + extra

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.large_action_dim < 1 or self.large_action_extra_iterations < 0:
            raise ContractError(
                "MPPIConfig needs large_action_dim >= 1 and large_action_extra_iterations >= 0, "
                f"got {self.large_action_dim} / {self.large_action_extra_iterations}"
            )
        if not self.temperature > 0:
            raise ContractError(f"MPPIConfig.temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.min_std <= self.max_std:
            raise ContractError(
                f"MPPIConfig needs 0 < min_std <= max_std, got {self.min_std} / {self.max_std}"
            )


def draw(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of `weight` [B, E] (rows sum to 1), drawn by its weight: [B, 1].

    Inverse-CDF sampling (the first index whose cumulative weight exceeds a uniform draw):
    what torch.multinomial does for one sample, in tensor ops a CUDA graph can record.
    """
    u = torch.rand((weight.shape[0], 1), generator=generator, device=weight.device)
    cdf = weight.cumsum(1)
    return (cdf <= u * cdf[:, -1:]).sum(1, keepdim=True).clamp(max=weight.shape[1] - 1)


@register_planner
class MPPIPlanner(Planner):
    name = "mppi"
    config_class = MPPIConfig
    kinds = (ActionKind.CONTINUOUS, ActionKind.LATENT)
    config: MPPIConfig

    def __init__(
        self, config: MPPIConfig | None = None, objective: Objective | str | None = None
    ) -> None:
        super().__init__(config if config is not None else MPPIConfig(), objective)

    def _search(self, search: Search, state: PlannerState | None) -> Outcome:
        cfg = self.config
        bounds = search.bounds
        mean = initial_mean(search, bounds, state, self.name)
        std = torch.ones_like(mean) * (cfg.max_std * bounds.scale)
        min_std, max_std = cfg.min_std * bounds.scale, cfg.max_std * bounds.scale
        prior = search.propose(cfg.num_pi_trajs)
        num_sampled = cfg.num_samples - (prior.shape[1] if prior is not None else 0)
        iterations = cfg.iterations_for(search.spec.action.dim)
        for _ in range(iterations):
            candidates = with_prior(
                prior, sample(mean, std, num_sampled, bounds, search.generator), bounds
            )
            scores = search.evaluate(candidates)
            elite_value, elite_idx = scores.topk(cfg.num_elites, dim=1)  # [B, E]
            elites = gather_candidates(candidates, elite_idx)  # [B, E, H, A]
            weight = torch.exp(cfg.temperature * (elite_value - elite_value[:, :1]))
            weight = weight / weight.sum(1, keepdim=True)
            w = weight[:, :, None, None]
            mean = (w * elites).sum(1)
            spread = (w * (elites - mean.unsqueeze(1)) ** 2).sum(1).sqrt()
            std = torch.minimum(torch.maximum(spread, min_std), max_std)
        choice = draw(weight, search.generator)  # [B, 1]
        plan = gather_candidates(elites, choice)[:, 0]
        objective = elite_value.gather(1, choice)[:, 0]
        if cfg.exploration_noise:
            noise = torch.randn(plan[:, 0].shape, generator=search.generator, device=plan.device)
            plan = plan.clone()
            plan[:, 0] = bounds.clamp(plan[:, 0] + std[:, 0] * noise)
        return Outcome(plan, objective, mean, cfg.num_samples, iterations)
