"""What a plan returns: the action payload, its statistics and the warm-start state.

Kept apart from the planners so that the services can convert them to protobuf without
importing any planning code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldflux.core import ActionKind, ActionPayload, ContractError

# Extras every planner sets on the returned ActionPayload (besides wf.planner.horizon).
PLANNER_ITERATIONS_KEY = "wf.planner.iterations"
PLANNER_CANDIDATES_KEY = "wf.planner.candidates"
PLANNER_NAME_KEY = "wf.planner.name"


@dataclass
class PlanStats:
    """How a plan was made; mirrors worldflux.v1.PlanStats field for field.

    `candidates` counts the action sequences scored per state per iteration (policy-prior
    ones included). `objective[b]` is the predicted objective of the plan returned for state b
    (for CEM's mean selection: the mean over the final elites that the mean summarises).
    `dynamics_target` and `failovers` are filled in by callers that talk to remote replicas.
    """

    iterations: int
    candidates: int
    horizon: int
    elapsed_ms: float
    objective: list[float]
    warm_started: bool = False
    rollout_calls: int = 0
    dynamics_target: str = ""
    failovers: int = 0


@dataclass
class PlannerState:
    """Warm start carried from one plan to the next (one per episode / control stream).

    `mean` is the final sampling distribution of the previous plan: [B, H, A] action means
    for continuous planners, [B, H, K] categorical probabilities for the discrete one. The next
    plan shifts it one step forward, because one action has been executed since.
    """

    planner: str
    kind: ActionKind
    mean: torch.Tensor
    steps: int = 1

    @property
    def batch_size(self) -> int:
        return int(self.mean.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])

    def check_compatible(self, planner: str, batch: int, horizon: int, width: int) -> None:
        """Raise a ContractError when this state cannot warm-start the requested plan."""
        if self.planner != planner:
            raise ContractError(
                f"warm-start state comes from the {self.planner!r} planner, not {planner!r}: "
                "start the episode without a state"
            )
        expected = (batch, horizon, width)
        if tuple(self.mean.shape) != expected:
            raise ContractError(
                f"warm-start state has shape {list(self.mean.shape)} [B, H, width], but this "
                f"plan needs {list(expected)} (batch {batch}, horizon {horizon}): "
                "start the episode without a state when the batch or horizon changes"
            )

    def shifted(self, fill: torch.Tensor) -> torch.Tensor:
        """The mean moved one step earlier; the new last step is `fill` ([width])."""
        out = torch.empty_like(self.mean)
        out[:, :-1] = self.mean[:, 1:]
        out[:, -1] = fill.to(out)
        return out


@dataclass
class PlanResult:
    """`action` holds tensor [H, B, A] or tokens [H, B]: the caller executes index 0."""

    action: ActionPayload
    stats: PlanStats
    state: PlannerState

    @property
    def first_action(self) -> torch.Tensor:
        """The action each state executes now: [B, A] or [B] indices."""
        primary = self.action.primary
        if not isinstance(primary, torch.Tensor):
            raise ContractError("this plan carries no tensor action")
        return primary[0]
