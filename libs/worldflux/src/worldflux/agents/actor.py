"""ActorAgent: a world model acting by its learned policy (planner="actor").

DreamerV3 collects experience with its actor, not by planning: it keeps one recurrent
posterior per environment, updated with every observation, and samples the actor on it. This
agent does the same for any family whose model implements `WorldModel.act`:

- the first observation of an episode is encoded (`encode`: the posterior from a zero state
  and action, DreamerV3's `is_first` reset);
- every later one is folded into the running latent with the action that led to it
  (`observe(state, prev_action, obs)`: DreamerV3's posterior step);
- the actor is sampled on that latent (exploration) or its mode is taken (greedy
  evaluation).

When a sub-environment's episode ends (`reset(rows)`), its row is marked so that the next
observation (the first of the new episode, under SAME_STEP autoreset) is encoded afresh; the
other rows keep their latents.

Randomness. The posterior's stochastic latent and the actor's samples come from the agent's
own generators, never from the global RNG that the Trainer's updates draw from: each call
draws a seed from the generator and runs the model under a forked global RNG seeded with it
(so `observe` needs no generator argument, in any family), and the generator itself goes to
`act`. Exploration and evaluation have separate generators, so an evaluation never shifts what
training draws next. The running latents, the last actions, the reset marks and both
generators are in `state_dict()`: a resumed run takes exactly the actions the killed one
would have taken.

The interface is the planner Agent's (act / reset / state_dict / load_state_dict /
eval_generator), so OnlineLoop drives either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from worldflux.core import ContractError, LatentState, WorldModel

ACTOR = "actor"  # the OnlineConfig.planner value that selects this agent
EVAL_SEED_OFFSET = 0xE7A1
_SEED_RANGE = 2**62


@dataclass
class ActorState:
    """Per sub-environment: the posterior of the last observation acted on, the action taken
    from it (model units: indices or bounded floats) and whether the next observation starts
    a new episode."""

    latent: LatentState
    action: torch.Tensor
    fresh: torch.Tensor  # bool [N]

    @property
    def batch_size(self) -> int:
        return self.latent.batch_size


@contextmanager
def _seeded_from(generator: torch.Generator, device: torch.device) -> Iterator[None]:
    """Run the block on a global RNG seeded from `generator`, restoring the global RNG after."""
    seed = int(torch.randint(0, _SEED_RANGE, (1,), generator=generator, device=generator.device))
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


def _merge(base: LatentState, rows: torch.Tensor, part: LatentState) -> LatentState:
    """`base` with the states at `rows` replaced by `part`'s."""
    tensors = {}
    for name, value in base.tensors.items():
        merged = value.clone()
        merged[rows] = part[name].to(merged)
        tensors[name] = merged
    return LatentState(tensors, dict(base.meta))


class ActorAgent:
    def __init__(self, model: WorldModel, seed: int = 0) -> None:
        if not isinstance(model, WorldModel):
            raise ContractError(
                "planner='actor' acts with the model's own actor in this process: it needs a "
                f"WorldModel, got {type(model).__name__} (a remote Dynamics has no actor)"
            )
        if not model.has_actor():
            raise ContractError(
                f"planner='actor' needs a family with a learned policy (WorldModel.act); "
                f"{model.family or type(model).__name__} has none: use planner='auto' "
                "(MPPI / discrete CEM through the model's rollouts)"
            )
        self.model = model
        self.spec = model.spec
        device = model.device
        self.explore = torch.Generator(device=device)
        self.explore.manual_seed(seed)
        self.greedy = torch.Generator(device=device)
        self.greedy.manual_seed(seed + EVAL_SEED_OFFSET)
        self.state: ActorState | None = None  # the training envs' latents

    @property
    def device(self) -> torch.device:
        return self.model.device

    def eval_generator(self) -> torch.Generator:
        """The generator greedy (evaluation) acting draws from; the loop reseeds it."""
        return self.greedy

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, greedy: bool = False, state: ActorState | None = None
    ) -> tuple[torch.Tensor, ActorState]:
        """Actions for observations [N, *obs_shape] ([N, A] floats or [N] indices) and the
        state after them. Without `state` (and not greedy) the agent's own training state is
        used and updated; an evaluation passes its own (None at its episode's start)."""
        own = state is None and not greedy
        current = self.state if own else state
        generator = self.greedy if greedy else self.explore
        model = self.model
        model.eval()  # the Trainer leaves it in train mode after a step
        obs = obs.to(self.device)
        if current is not None and current.batch_size != obs.shape[0]:
            raise ContractError(
                f"the actor state holds {current.batch_size} environments, got "
                f"{obs.shape[0]} observations"
            )
        with _seeded_from(generator, self.device):
            if current is None or bool(current.fresh.all()):
                latent = model.encode(obs)
            else:
                latent = model.observe(current.latent, current.action, obs)
                if bool(current.fresh.any()):
                    rows = current.fresh.nonzero().squeeze(-1)
                    latent = _merge(latent, rows, model.encode(obs[rows]))
            action = model.act(latent, greedy=greedy, generator=generator)
        latent = latent.detach()
        fresh = torch.zeros(obs.shape[0], dtype=torch.bool, device=self.device)
        after = ActorState(latent, action.detach(), fresh)
        if own:
            self.state = after
        return action, after

    def reset(self, rows: Sequence[int]) -> None:
        """The sub-environments `rows` start new episodes: encode their next observation."""
        if self.state is not None and rows:
            self.state.fresh[list(rows)] = True

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON, tensors): both generators and the training latents, actions, reset marks."""
        tensors = {
            "explore.generator": self.explore.get_state(),
            "greedy.generator": self.greedy.get_state(),
        }
        meta: dict[str, Any] = {"agent": ACTOR, "state": None}
        if self.state is not None:
            for name, value in self.state.latent.tensors.items():
                tensors[f"latent.{name}"] = value.detach().cpu()
            tensors["action"] = self.state.action.detach().cpu()
            tensors["fresh"] = self.state.fresh.detach().cpu()
            meta["state"] = {
                "latent": sorted(self.state.latent.tensors),
                "meta": dict(self.state.latent.meta),
            }
        return meta, tensors

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        if meta.get("agent") != ACTOR:
            raise ContractError(
                "this checkpoint was written by a planner agent, not planner='actor'"
            )
        self.explore.set_state(tensors["explore.generator"])
        self.greedy.set_state(tensors["greedy.generator"])
        saved = meta.get("state")
        self.state = None
        if saved is not None:
            device = self.device
            latent = LatentState(
                {name: tensors[f"latent.{name}"].to(device) for name in saved["latent"]},
                dict(saved["meta"]),
            )
            self.state = ActorState(
                latent, tensors["action"].to(device), tensors["fresh"].to(device).bool()
            )
