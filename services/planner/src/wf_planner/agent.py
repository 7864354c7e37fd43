"""ServiceAgent: an OnlineLoop agent whose planner is the planner service.

The networked deployment of issue 17: the loop process trains the model, a dynamics service
serves it, a planner service plans over that dynamics service, and the loop acts with what the
planner service returns. Every action crosses two gRPC hops (loop -> PlannerService.Control ->
DynamicsService.Rollout/Propose); nothing here plans or runs the model itself, and a failure of
either hop is raised as ServiceActingError (never a silent fall-back to planning in process).

It stands in for worldflux.agents.Agent where OnlineLoop calls it (act, reset, device,
state_dict/load_state_dict; anything else the loop reads comes from its own agent). Two
Control streams keep the service's warm start: one for the training envs (reset when an
episode ends: the stream's warm start covers the whole batch, so with several
sub-environments an ending episode resets all rows) and one for evaluation (reset at the
start of every evaluation episode, which also reseeds the service's generator, so each
evaluation episode is planned alike). The loop's own in-process Agent (`local`) keeps its
part of a checkpoint: its generators and warm start are saved and restored as before, so a
checkpoint written through the services resumes in process and back. What cannot be saved
is the service's stream state: a resumed run restarts the service's warm start and
generator, so its actions are not those of the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import torch

from wf_planner.client import ControlSession, PlannerClient
from worldflux.core import ActionPayload


class ServiceActingError(RuntimeError):
    """Acting through the planner service failed (the service's status and message)."""


class _EvalEpisode:
    """The `state` an evaluation episode passes back: only says "not the first step"."""


class ServiceAgent:
    def __init__(
        self,
        client: PlannerClient,
        local: Any,
        prepare: Callable[[], object] | None = None,
        timeout_s: float | None = 60.0,
    ) -> None:
        """`client` talks to the planner service; `local` is the loop's own Agent (its RNG
        bookkeeping for checkpoints, and the evaluation generator the loop reseeds); `prepare`
        runs before each plan (the loop passes `model.eval`: the Trainer leaves the served
        model in train mode, and a plan must not see dropout)."""
        self.client = client
        self.local = local
        self.prepare = prepare
        self.timeout_s = timeout_s
        self._train: ControlSession | None = None
        self._eval: ControlSession | None = None
        self._reset_train = True
        self.plans = 0  # answered Control steps
        self.rollout_calls = 0  # dynamics Rollout calls the planner service made for them
        self.targets: set[str] = set()  # dynamics replicas that served them

    # -- what OnlineLoop reads -------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # observations are sent over the wire from the CPU

    def __getattr__(self, name: str) -> Any:
        # Whatever else the loop asks of its agent (the evaluation generator it reseeds, the
        # spec) is the local agent's: nothing of it decides an action here.
        if name == "local":
            raise AttributeError(name)
        return getattr(self.local, name)

    @property
    def state(self) -> Any:
        return self.local.state

    @state.setter
    def state(self, value: Any) -> None:
        self.local.state = value
        self._reset_train = True

    def act(
        self, obs: torch.Tensor, greedy: bool = False, state: object | None = None
    ) -> tuple[torch.Tensor, object]:
        """Actions for observations [N, *obs_shape] from the planner service: [N, A] floats
        or [N] indices. Evaluation (`greedy`) uses its own stream, restarted when `state` is
        None (a new episode)."""
        if self.prepare is not None:
            self.prepare()
        obs = obs.detach().cpu()
        if greedy:
            if self._eval is None:
                self._eval = self.client.control(self.timeout_s)
            payload = self._step("_eval", obs, reset=state is None)
            return _actions(payload), _EvalEpisode()
        if self._train is None:
            self._train = self.client.control(self.timeout_s)
        payload = self._step("_train", obs, reset=self._reset_train)
        self._reset_train = False
        return _actions(payload), None

    def _step(self, which: str, obs: torch.Tensor, reset: bool) -> ActionPayload:
        session: ControlSession = getattr(self, which)
        try:
            payload, stats = session.step(obs, reset=reset)
        except grpc.RpcError as err:
            session.abort()
            setattr(self, which, None)  # the next call opens a new stream
            code = err.code() if hasattr(err, "code") else None
            details = err.details() if hasattr(err, "details") else str(err)
            name = code.name if code is not None else "UNKNOWN"
            raise ServiceActingError(
                f"acting through the planner service failed: {name}: {details}"
            ) from err
        self.plans += 1
        self.rollout_calls += int(stats.rollout_calls)
        if stats.dynamics_target:
            self.targets.add(stats.dynamics_target)
        return payload

    def reset(self, rows: Sequence[int]) -> None:
        """Episodes of `rows` ended: the next training plan restarts the stream's warm start."""
        if rows:
            self._reset_train = True
            self.local.reset(rows)

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The local agent's state (the service's stream state cannot be saved)."""
        return self.local.state_dict()  # type: ignore[no-any-return]

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.local.load_state_dict(meta, tensors)
        self._reset_train = True

    def close(self) -> None:
        for which in ("_train", "_eval"):
            session = getattr(self, which)
            if session is not None:
                try:
                    session.close()
                except grpc.RpcError:
                    session.abort()
                setattr(self, which, None)


def _actions(payload: ActionPayload) -> torch.Tensor:
    actions = payload.tensor if payload.tensor is not None else payload.tokens
    if actions is None:
        raise ServiceActingError(f"the planner service returned a {payload.kind} action")
    return actions[0]  # plans are [H, N, ...]: the first step of every row
