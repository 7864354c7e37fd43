"""A sampling planner's whole plan (encode, each iteration's rollout and refit) as one CUDA graph.

TD-MPC2's MPPI plan is six iterations of a three-step latent rollout over 512 candidates:
hundreds of small kernels that a GPU runs in microseconds each but Python launches one by one,
so an eager plan is launch-bound (tdmpc2:5m: 44 ms per plan on an H200 for 4.6 ms of kernels).
`GraphedPlanner` records the plan once for a fixed batch of B observations and replays it per
action: one launch, a copy of the observations in and of the plan out (4.2 ms on that H200;
docs/content/benchmarks.md).

It runs the same `Planner._search` as `Planner.plan`, on buffers that stay put:
- `obs` [B, *obs_shape]: validated on the host, then copied in;
- `previous` [B, H, A]: the warm-start mean, set to the action-range centre for the first
  plan of an episode (shifted, that is exactly the cold start's initial mean), so one graph
  serves both;
- the planner's generator, registered with the graph, draws fresh samples on each replay.
Model calls are not content-seeded (`InProcessDynamics(seed_calls=False)`): plans are random
draws, as they are in the official TD-MPC2. The objective is prepared once; goal conditions
are not supported here. The model must declare `graph_capturable`. On a CPU the same search
runs eagerly on the same buffers (no graph): that is how tests compare it with `Planner.plan`.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from worldflux.core import ActionKind, ContractError, WorldModel
from worldflux.core.capture import CapturedCall
from worldflux.planners.base import (
    Bounds,
    Outcome,
    Planner,
    Search,
    check_observations,
    check_state_type,
    non_finite_objective,
)
from worldflux.planners.dynamics import InProcessDynamics
from worldflux.planners.objectives import default_objective
from worldflux.planners.types import PlannerState, PlanResult


class GraphedPlanner:
    """`planner.plan(model, obs, state=...)` for batches of exactly `batch_size` observations."""

    def __init__(
        self,
        planner: Planner,
        model: WorldModel,
        batch_size: int = 1,
        compute_dtype: torch.dtype | None = None,
        warmup: int = 3,
    ) -> None:
        if not getattr(model, "graph_capturable", False):
            raise ContractError(
                f"{model.model_id} does not declare graph_capturable: plan with planner.plan()"
            )
        if batch_size < 1:
            raise ContractError(f"batch_size must be >= 1, got {batch_size}")
        self.planner = planner
        self.dynamics = InProcessDynamics(model, compute_dtype, seed_calls=False)
        self.spec = spec = model.spec
        planner.check_spec(spec)
        if spec.action.kind not in (ActionKind.CONTINUOUS, ActionKind.LATENT):
            raise ContractError("GraphedPlanner plans continuous actions (cem, mppi)")
        objective = planner.objective if planner.objective is not None else default_objective(spec)
        objective.check(spec)
        self.scorer = objective.prepare(self.dynamics, None, batch_size)
        self.device = device = planner.device_for(self.dynamics)
        self.batch_size = batch_size
        horizon = planner.config.horizon
        self.obs = torch.zeros((batch_size, *spec.observation.shape), device=model.device)
        self.center = Bounds.from_spec(spec.action, device).center
        self.previous = self.center.expand(batch_size, horizon, spec.action.dim).clone()
        self.generator = planner.generator(device)
        generators = [self.generator] if device.type == "cuda" else []
        self.call = CapturedCall(self._search, device, generators, warmup)
        self.rollout_calls = 0

    @property
    def warmup_s(self) -> float:
        """Seconds spent warming up and recording (0 until the first plan, and on a CPU)."""
        return self.call.warmup_s

    def _search(self) -> tuple[Outcome, torch.Tensor]:
        with torch.no_grad():
            latent = self.dynamics.encode(self.obs)
            search = Search(
                self.dynamics,
                latent,
                self.scorer,
                None,
                self.planner.config.horizon,
                self.device,
                self.generator,
            )
            warm = PlannerState(self.planner.name, self.spec.action.kind, self.previous)
            outcome = self.planner._search(search, warm)
            self.rollout_calls = search.rollout_calls
            flags = search.finite_flags
            finite = torch.stack(flags).all() if flags else torch.ones((), dtype=torch.bool)
        return outcome, finite

    def plan(self, obs: torch.Tensor, state: PlannerState | None = None) -> PlanResult:
        """As Planner.plan: actions [H, B, ...] (execute index 0) and the next warm start."""
        started = time.perf_counter()
        check_observations(self.spec, obs)
        if obs.shape[0] != self.batch_size:
            raise ContractError(
                f"this graph plans for {self.batch_size} observations, got {list(obs.shape)}"
            )
        state = check_state_type(state)
        if state is not None:
            state.check_compatible(
                self.planner.name,
                self.batch_size,
                self.planner.config.horizon,
                self.spec.action.dim,
            )
        self.obs.copy_(obs)
        self.previous.copy_(
            state.mean if state is not None else self.center.expand_as(self.previous)
        )
        outcome, finite = self.call()
        if not bool(finite):
            raise non_finite_objective(self.spec)
        # The mean lives in the graph's memory, which the next replay overwrites.
        copied = replace(outcome, mean=outcome.mean.clone())
        return self.planner.package(self.spec, copied, self.rollout_calls, state, started)
