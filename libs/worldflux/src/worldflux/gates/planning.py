"""The planner-boundary gate's one plan: a model behind InProcessDynamics, planned through the
generic planners, exactly as a user or the planner service would.

The "auto" planner picks MPPI or categorical CEM from the model's action kind, never its family:
the boundary being tested is that planners need nothing but the Dynamics protocol.
"""

from __future__ import annotations

from typing import Any

import torch

from worldflux.core import ConditionPayload, WorldModel
from worldflux.planners import InProcessDynamics, make_planner

# Small search settings: the gate checks the boundary, not plan quality.
SEARCH = {"num_samples": 64, "num_elites": 8, "iterations": 2}


def plan_once(model: WorldModel, obs: torch.Tensor, horizon: int) -> tuple[Any, int]:
    """Plan once from `obs` [B, ...]; return (PlanResult.action, the horizon asked for)."""
    planner = make_planner("auto", horizon=horizon, **SEARCH)
    condition = None
    spec = model.spec
    if not spec.has_reward and spec.goal_latent:
        # A reward-free model plans towards a goal: here another observation of the batch.
        condition = ConditionPayload(goal=obs.roll(1, 0).to(model.device))
    result = planner.plan(InProcessDynamics(model), obs.to(model.device), condition)
    return result.action, horizon
