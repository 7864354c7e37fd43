"""Agent: a world model's Dynamics plus a planner, acting on a batch of environments at once.

The planner is any registered one (make_planner: "auto" picks MPPI for continuous actions and
the categorical CEM for discrete ones); the Dynamics is InProcessDynamics around a model being
trained, or any other Dynamics (RemoteDynamics for the planner-service path). One plan covers
all sub-environments (the planners batch over states), with one warm-start row per
sub-environment: when an episode ends, that row is reset to the planner's fresh distribution,
the others keep theirs.

Two planners share the settings: `explore` (MPPI's exploration noise on the first action, as
TD-MPC2 acts while collecting) and `greedy` for evaluation, each with its own generator, so an
evaluation never shifts what the training run draws next. Their generators and the warm start
are part of `state_dict()`: a resumed run plans exactly as the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from worldflux.core import ContractError, WorldModel
from worldflux.planners import InProcessDynamics, PlannerState, make_planner
from worldflux.planners.base import Bounds, Planner
from worldflux.planners.dynamics import Dynamics
from worldflux.planners.factory import AutoPlanner
from worldflux.planners.mppi import MPPIConfig

EVAL_PLANNER_SEED_OFFSET = 0xE7A1


def _resolve(planner: Planner | AutoPlanner, dynamics: Dynamics) -> Planner:
    return planner.for_spec(dynamics.spec) if isinstance(planner, AutoPlanner) else planner


class Agent:
    def __init__(
        self,
        dynamics: Dynamics | WorldModel,
        planner: str = "auto",
        planner_settings: dict[str, Any] | None = None,
        seed: int = 0,
        explore: bool = True,
    ) -> None:
        """`dynamics` is a Dynamics or a WorldModel (wrapped in InProcessDynamics)."""
        self.model = dynamics if isinstance(dynamics, WorldModel) else None
        self.dynamics: Dynamics = (
            InProcessDynamics(dynamics) if isinstance(dynamics, WorldModel) else dynamics
        )
        settings = dict(planner_settings or {})
        settings.pop("seed", None)
        self.explore = _resolve(make_planner(planner, seed=seed, **settings), self.dynamics)
        self.greedy = _resolve(
            make_planner(planner, seed=seed + EVAL_PLANNER_SEED_OFFSET, **settings), self.dynamics
        )
        if explore and isinstance(self.explore.config, MPPIConfig):
            self.explore.config.exploration_noise = True
        if isinstance(self.greedy.config, MPPIConfig):
            self.greedy.config.exploration_noise = False
        self.state: PlannerState | None = None  # warm start of the training envs

    @property
    def spec(self) -> Any:
        return self.dynamics.spec

    @property
    def device(self) -> torch.device:
        return self.explore.device_for(self.dynamics)

    def eval_generator(self) -> torch.Generator:
        """The generator greedy (evaluation) planning draws from; the loop reseeds it."""
        return self.greedy.generator(self.device)

    def act(
        self, obs: torch.Tensor, greedy: bool = False, state: PlannerState | None = None
    ) -> tuple[torch.Tensor, PlannerState]:
        """Actions for observations [N, *obs_shape]: [N, A] floats or [N] indices, and the
        warm start for the next call. Without `state`, the agent's own training warm start
        is used and updated (the evaluation passes its own)."""
        if self.model is not None:
            self.model.eval()  # the Trainer leaves it in train mode (dropout) after a step
        planner = self.greedy if greedy else self.explore
        own = state is None and not greedy
        result = planner.plan(self.dynamics, obs, state=self.state if own else state)
        payload = result.action
        actions = payload.tensor if payload.tensor is not None else payload.tokens
        if actions is None:
            raise ContractError(f"planner {planner.name} returned no action tensor")
        if own:
            self.state = result.state
        return actions[0], result.state

    def fresh_rows(self, state: PlannerState | None, rows: Sequence[int]) -> PlannerState | None:
        """`state` with the warm start of `rows` (episodes that just ended) set back to the
        planner's starting distribution: the range centre, or uniform for discrete actions."""
        if state is None or not rows:
            return state
        mean = state.mean.clone()
        action = self.spec.action
        if action.is_indexed:
            mean[list(rows)] = 1.0 / action.num_actions
        else:
            mean[list(rows)] = Bounds.from_spec(action, mean.device).center.to(mean)
        return PlannerState(state.planner, state.kind, mean, state.steps)

    def reset(self, rows: Sequence[int]) -> None:
        """Forget the training warm start of the sub-environments `rows`."""
        self.state = self.fresh_rows(self.state, rows)

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON, tensors): both planners' generator states and the training warm start."""
        device = self.device
        tensors = {
            "explore.generator": self.explore.generator(device).get_state(),
            "greedy.generator": self.greedy.generator(device).get_state(),
        }
        meta: dict[str, Any] = {"warm_start": None}
        if self.state is not None:
            tensors["warm_start.mean"] = self.state.mean.detach().cpu()
            meta["warm_start"] = {
                "planner": self.state.planner,
                "kind": self.state.kind.value,
                "steps": self.state.steps,
            }
        return meta, tensors

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        device = self.device
        self.explore.generator(device).set_state(tensors["explore.generator"])
        self.greedy.generator(device).set_state(tensors["greedy.generator"])
        warm = meta.get("warm_start")
        self.state = None
        if warm is not None:
            self.state = PlannerState(
                warm["planner"], self.spec.action.kind, tensors["warm_start.mean"], warm["steps"]
            )
