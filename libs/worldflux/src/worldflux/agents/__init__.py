"""Agents that learn to control: a world model and a planner (or its own actor) acting in
gymnasium environments.

`OnlineLoop(OnlineConfig(env_id="Pendulum-v1", model="tdmpc2:ci")).run()` collects experience
with a SyncVectorEnv, trains the model on it with the Trainer at a set update-to-data ratio,
evaluates periodically and checkpoints so that a killed run resumes where it stopped. Models
come from the registry (create_world_model); this package never imports a family.
`planner="actor"` acts by the model's learned policy (ActorAgent, WorldModel.act: DreamerV3);
`pixels=64` observes rendered frames (PixelObservation) instead of the env's state.
"""

from worldflux.agents.actor import ActorAgent, ActorState
from worldflux.agents.agent import Agent
from worldflux.agents.loop import EpisodeRecord, OnlineConfig, OnlineLoop
from worldflux.agents.spaces import EnvSpaces, action_spec, env_spaces, observation_spec

__all__ = [
    "ActorAgent",
    "ActorState",
    "Agent",
    "EnvSpaces",
    "EpisodeRecord",
    "OnlineConfig",
    "OnlineLoop",
    "action_spec",
    "env_spaces",
    "observation_spec",
]
