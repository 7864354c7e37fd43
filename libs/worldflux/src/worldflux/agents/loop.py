"""OnlineLoop: act in gymnasium environments, fill a replay buffer, train, evaluate, checkpoint.

One iteration: the agent acts for every sub-environment of a SyncVectorEnv (uniform random
actions for the first `seed_steps` env steps), the env steps, and each sub-environment's rows
go to its own pending episode; an episode enters the ReplayBuffer whole when it ends (as the
official TD-MPC2 trainer adds episodes), so sequences never mix sub-environments. Then the
Trainer (worldflux.training: optimizer, clipping, schedule, NaN guard, replay context) takes
optimizer steps until `updates == floor(utd_ratio * (env_steps - seed_steps))`; updates owed
while the buffer holds no sequence yet are caught up as soon as it does.

Acting: `planner` names a planner (Agent: MPPI / CEM through the model's rollouts) or is
"actor" (ActorAgent: the model's own learned policy on a recurrent posterior per env, as
DreamerV3 acts). `pixels` > 0 makes the agent see rendered frames instead of the env's state.

Evaluation: every `eval_every` env steps, `eval_episodes` episodes on a separate env, reset
with seeds eval_seed, eval_seed + 1, ... (the same episodes every time), acting greedily with
the evaluation planner or the actor's mode (reseeded per evaluation). Global RNGs are set
aside meanwhile, so an evaluation never changes the training run.

Checkpoints (every `checkpoint_every` env steps and at the end): one directory written
atomically (core.atomic.atomic_directory) holding the Trainer's checkpoint (model, optimizer,
schedule, python/numpy/torch RNGs, sampler, replay) under `trainer/` and the loop's own under
`loop/` (env step and episode counters, returns so far, pending episodes, current
observations, the random-action RNG, the agent's generators and warm start or latents, the env
snapshot). A run started again with the same config and output_dir continues from it and
takes the same actions as the run that was killed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldflux.agents import envs as envs_module
from worldflux.agents.actor import ACTOR, ActorAgent
from worldflux.agents.agent import Agent
from worldflux.agents.spaces import EnvSpaces, env_spaces
from worldflux.core import CheckpointError, ContractError, create_world_model
from worldflux.core.atomic import atomic_directory, readable_directory, recover_directory
from worldflux.training import ReplayBuffer, Trainer, TrainerConfig
from worldflux.training.checkpoint import has_checkpoint, read_checkpoint, write_checkpoint
from worldflux.training.seeding import capture_rng, restore_rng

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
ACTION_SEED_OFFSET = 0xAC7_0000
ENV_SEED_STRIDE = 1000


@dataclass
class OnlineConfig:
    """An online run. Steps are env steps summed over the sub-environments."""

    env_id: str = "Pendulum-v1"
    model: str = "tdmpc2:ci"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    planner: str = "auto"  # a planners-registry name, or "actor": the model's own policy
    planner_settings: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 1
    total_env_steps: int = 10_000
    seed_steps: int = 1000
    utd_ratio: float = 1.0
    batch_size: int = 256
    seq_len: int = 4
    replay_capacity: int = 1_000_000
    eval_every: int = 0  # 0: only at the end
    eval_episodes: int = 10
    eval_seed: int = 1_000_000
    checkpoint_every: int = 0  # 0: only at the end (needs output_dir)
    output_dir: str | None = None
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    # Record each update as a CUDA graph (TrainerConfig.cuda_graph): for graph_capturable
    # models such as TD-MPC2 on a GPU, several times fewer milliseconds per update.
    cuda_graph: bool = False
    max_episode_steps: int | None = None  # overrides the env's TimeLimit (short tests)
    pixels: int = 0  # > 0: observe rendered frames resized to pixels x pixels (envs.py)

    def __post_init__(self) -> None:
        for name, minimum in (
            ("num_envs", 1),
            ("total_env_steps", 1),
            ("seed_steps", 0),
            ("batch_size", 1),
            ("seq_len", 1),
            ("replay_capacity", 2),
            ("eval_every", 0),
            ("eval_episodes", 0),
            ("checkpoint_every", 0),
            ("seed", 0),
            ("threads", 0),
            ("pixels", 0),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ContractError(
                    f"OnlineConfig.{name} must be an int >= {minimum}, got {value!r}"
                )
        if not (isinstance(self.utd_ratio, int | float) and self.utd_ratio > 0):
            raise ContractError(f"OnlineConfig.utd_ratio must be > 0, got {self.utd_ratio!r}")
        if self.output_dir is not None:
            self.output_dir = str(self.output_dir)

    def updates_due(self, env_steps: int) -> int:
        """Optimizer steps owed after `env_steps` env steps."""
        return math.floor(self.utd_ratio * max(0, env_steps - self.seed_steps) + 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EpisodeRecord:
    env_step: int  # total env steps when the episode ended
    ret: float
    length: int


class _Pending:
    """The rows of one sub-environment's running episode (the datasets' row layout)."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.continues: list[float] = []

    def __len__(self) -> int:
        return len(self.obs)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, cont: float) -> None:
        self.obs.append(obs)
        self.actions.append(action)
        self.rewards.append(reward)
        self.continues.append(cont)

    def rows(self) -> dict[str, np.ndarray]:
        n = len(self.obs)
        is_first = np.zeros(n, bool)
        is_first[0] = True
        is_last = np.zeros(n, bool)
        is_last[-1] = True
        return {
            "obs": np.stack(self.obs),
            "actions": np.stack(self.actions),
            "rewards": np.asarray(self.rewards, np.float32),
            "continues": np.asarray(self.continues, np.float32),
            "is_first": is_first,
            "is_last": is_last,
        }


class OnlineLoop:
    def __init__(self, config: OnlineConfig, dynamics: Any = None) -> None:
        """`dynamics`: act through this Dynamics (e.g. RemoteDynamics serving the model being
        trained) instead of InProcessDynamics around the model."""
        self.config = cfg = config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.env = envs_module.make_vector_env(
            cfg.env_id, cfg.num_envs, cfg.max_episode_steps, cfg.pixels
        )
        self.spaces: EnvSpaces = env_spaces(
            self.env.single_observation_space, self.env.single_action_space
        )
        overrides = {**self.spaces.model_overrides(), **cfg.model_overrides}
        torch.manual_seed(cfg.seed)  # the model's initial weights
        self.model = create_world_model(cfg.model, **overrides)
        # A run never stores more rows than env steps plus one final row per episode: a
        # larger buffer only costs memory and checkpoint time.
        capacity = min(cfg.replay_capacity, max(2, 2 * cfg.total_env_steps))
        self.replay = ReplayBuffer(
            capacity,
            self.spaces.observation.shape,
            self.spaces.action.step_shape,
            torch.uint8 if self.spaces.pixels else torch.float32,
            torch.int64 if self.spaces.discrete else torch.float32,
        )
        planned_updates = max(1, cfg.updates_due(cfg.total_env_steps))
        self.trainer = Trainer(
            self.model,
            TrainerConfig(
                steps=planned_updates,
                batch_size=cfg.batch_size,
                seq_len=cfg.seq_len,
                seed=cfg.seed,
                device=cfg.device,
                eval_batches=0,
                progress=False,
                resume=False,
                tensorboard=False,
                threads=cfg.threads,
                cuda_graph=cfg.cuda_graph,
            ),
            train_data=self.replay,
        )
        self.agent: Agent | ActorAgent
        if cfg.planner == ACTOR:
            if dynamics is not None:
                raise ContractError(
                    "planner='actor' acts with the model's actor in this process; a Dynamics "
                    "(e.g. RemoteDynamics) is for planning agents"
                )
            self.agent = ActorAgent(self.model, seed=cfg.seed)
        else:
            self.agent = Agent(
                dynamics if dynamics is not None else self.model,
                cfg.planner,
                cfg.planner_settings,
                seed=cfg.seed,
            )
        self.action_rng = np.random.default_rng(cfg.seed + ACTION_SEED_OFFSET)
        self.env_steps = 0
        self.episodes: list[EpisodeRecord] = []
        self.eval_history: list[dict[str, Any]] = []
        self.train_metrics: list[dict[str, float]] = []
        self.seconds = {"act": 0.0, "env": 0.0, "train": 0.0, "eval": 0.0, "checkpoint": 0.0}
        self._pending = [_Pending() for _ in range(cfg.num_envs)]
        self._returns = np.zeros(cfg.num_envs)
        obs, _ = self.env.reset(seed=[cfg.seed * ENV_SEED_STRIDE + i for i in range(cfg.num_envs)])
        self.obs = obs
        self.eval_env = envs_module.make_eval_env(
            cfg.env_id, cfg.max_episode_steps, pixels=cfg.pixels
        )
        self.resumed = False
        if self.checkpoint_dir is not None:
            recover_directory(self.checkpoint_dir)
            if has_checkpoint(self.checkpoint_dir / "loop"):
                self.load_checkpoint(self.checkpoint_dir)
                self.resumed = True

    @property
    def checkpoint_dir(self) -> Path | None:
        if self.config.output_dir is None:
            return None
        return Path(self.config.output_dir) / CHECKPOINT_DIR

    @property
    def updates(self) -> int:
        return self.trainer.step

    # -- acting ----------------------------------------------------------------------------
    def next_actions(self) -> np.ndarray:
        """Model-unit actions for the current observations: random during seeding."""
        if self.env_steps < self.config.seed_steps:
            return self.spaces.random_actions(self.action_rng, self.config.num_envs)
        obs = self.spaces.model_obs(self.obs).to(self.agent.device)
        actions, _ = self.agent.act(obs)
        return actions.detach().cpu().numpy()

    def step(self) -> None:
        """One vector step for every sub-environment, the updates it makes due, and the
        evaluation / checkpoint whose interval it crosses (those at the target are run's)."""
        cfg = self.config
        before = self.env_steps
        self._collect()
        if self.env_steps < cfg.total_env_steps:
            if _crossed(before, self.env_steps, cfg.eval_every):
                self.eval_history.append(self.evaluate())
            if _crossed(before, self.env_steps, cfg.checkpoint_every) and self.checkpoint_dir:
                self.save_checkpoint()

    def _collect(self) -> None:
        cfg = self.config
        tick = time.perf_counter()
        actions = self.next_actions()
        self.seconds["act"] += time.perf_counter() - tick
        tick = time.perf_counter()
        next_obs, reward, terminated, truncated, info = self.env.step(
            self.spaces.env_actions(actions)
        )
        self.seconds["env"] += time.perf_counter() - tick
        stored = self.spaces.storage_obs(self.obs)
        ended = []
        for i in range(cfg.num_envs):
            pending = self._pending[i]
            cont = 0.0 if terminated[i] else 1.0
            pending.add(stored[i], np.asarray(actions[i]), float(reward[i]), cont)
            self._returns[i] += float(reward[i])
            if terminated[i] or truncated[i]:
                final = self.spaces.storage_obs(np.asarray(info["final_obs"][i])[None])[0]
                pad = np.zeros_like(np.asarray(actions[i]))
                pending.add(final, pad, 0.0, cont)
                self.replay.add_rows(**pending.rows())
                self.episodes.append(
                    EpisodeRecord(
                        self.env_steps + cfg.num_envs, float(self._returns[i]), len(pending) - 1
                    )
                )
                self._pending[i] = _Pending()
                self._returns[i] = 0.0
                ended.append(i)
        self.agent.reset(ended)
        self.obs = next_obs
        self.env_steps += cfg.num_envs
        tick = time.perf_counter()
        self.train_to(cfg.updates_due(self.env_steps))
        self.seconds["train"] += time.perf_counter() - tick

    def train_to(self, due: int) -> None:
        if self.trainer.step >= due or len(self.replay.valid_starts(self.config.seq_len)) == 0:
            return
        while self.trainer.step < due:
            metrics = self.trainer.train_step()
            self.train_metrics.append(
                {"update": self.trainer.step, "env_step": self.env_steps, **metrics}
            )

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, episodes: int | None = None, record_frames: bool = False) -> dict[str, Any]:
        """Mean return over the evaluation episodes (seeds eval_seed + i), greedy planning.

        With `record_frames` the first episode's rgb_array frames are returned too."""
        cfg = self.config
        count = cfg.eval_episodes if episodes is None else episodes
        tick = time.perf_counter()
        rng_data, rng_tensors = capture_rng()
        greedy_gen = self.agent.eval_generator()
        saved_gen = greedy_gen.get_state()
        greedy_gen.manual_seed(cfg.seed + cfg.eval_seed)
        env = self.eval_env
        frames: list[np.ndarray] = []
        if record_frames:
            env = envs_module.make_eval_env(
                cfg.env_id, cfg.max_episode_steps, "rgb_array", pixels=cfg.pixels
            )
        returns = []
        try:
            for episode in range(count):
                obs, _ = env.reset(seed=cfg.eval_seed + episode)
                state = None
                total, done = 0.0, False
                while not done:
                    if record_frames and episode == 0:
                        frames.append(np.asarray(env.render()))
                    x = self.spaces.model_obs(np.asarray(obs)[None]).to(self.agent.device)
                    action, state = self.agent.act(x, greedy=True, state=state)
                    obs, reward, terminated, truncated, _ = env.step(
                        self.spaces.env_actions(action)[0]
                    )
                    total += float(reward)
                    done = bool(terminated or truncated)
                returns.append(total)
        finally:
            greedy_gen.set_state(saved_gen)
            restore_rng(rng_data, rng_tensors)
            if record_frames:
                env.close()
        result: dict[str, Any] = {
            "env_step": self.env_steps,
            "updates": self.updates,
            "mean_return": float(np.mean(returns)) if returns else float("nan"),
            "returns": returns,
        }
        self.seconds["eval"] += time.perf_counter() - tick
        if record_frames:
            result["frames"] = frames
        return result

    # -- the run ---------------------------------------------------------------------------
    def run(self, until: int | None = None) -> dict[str, Any]:
        """Step to `total_env_steps` (or stop at `until`), evaluating and checkpointing as
        configured; evaluates and checkpoints at the end."""
        cfg = self.config
        target = cfg.total_env_steps if until is None else min(int(until), cfg.total_env_steps)
        while self.env_steps < target:
            self.step()
        if cfg.eval_episodes and (
            not self.eval_history or self.eval_history[-1]["env_step"] != self.env_steps
        ):
            self.eval_history.append(self.evaluate())
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        return {
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episodes": [asdict(e) for e in self.episodes],
            "eval": self.eval_history,
            "seconds": dict(self.seconds),
        }

    def close(self) -> None:
        self.env.close()
        self.eval_env.close()
        self.trainer.close()

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else self.checkpoint_dir
        if target is None:
            raise ContractError("checkpoints need OnlineConfig.output_dir (or a path)")
        tick = time.perf_counter()
        agent_meta, agent_tensors = self.agent.state_dict()
        pending_tensors: dict[str, torch.Tensor] = {}
        pending_meta = []
        for i, pending in enumerate(self._pending):
            pending_meta.append(len(pending))
            if len(pending):
                for name in ("obs", "actions"):
                    pending_tensors[f"{i}.{name}"] = torch.as_tensor(
                        np.stack(getattr(pending, name))
                    )
                for name in ("rewards", "continues"):
                    pending_tensors[f"{i}.{name}"] = torch.as_tensor(
                        np.asarray(getattr(pending, name), np.float32)
                    )
        state = {
            "config": self.config.to_dict(),
            "env_steps": self.env_steps,
            "episodes": [asdict(e) for e in self.episodes],
            "eval_history": self.eval_history,
            "returns": self._returns.tolist(),
            "pending": pending_meta,
            "action_rng": self.action_rng.bit_generator.state,
            "agent": agent_meta,
            "env": envs_module.snapshot(self.env),
        }
        tensors = {
            "agent": agent_tensors,
            "obs": {"obs": torch.as_tensor(np.asarray(self.obs))},
        }
        if pending_tensors:
            tensors["pending"] = pending_tensors
        with atomic_directory(target) as tmp:
            self.trainer.save_checkpoint(tmp / "trainer")
            write_checkpoint(tmp / "loop", state, tensors)
        self.seconds["checkpoint"] += time.perf_counter() - tick
        return target

    def load_checkpoint(self, path: str | Path) -> None:
        path = readable_directory(path)
        self.trainer.load_checkpoint(path / "trainer")
        state, tensors = read_checkpoint(path / "loop")
        saved = state["config"]
        # Fields a checkpoint cannot continue under another value (pixels: 0 before it existed).
        defaults = {"pixels": 0}
        keys = ("env_id", "num_envs", "model", "seed", "seed_steps", "utd_ratio", "planner")
        for key in (*keys, "pixels"):
            value = saved.get(key, defaults.get(key))
            if value != getattr(self.config, key):
                raise CheckpointError(
                    f"{path}: written by a run with {key}={value!r}, this one has "
                    f"{getattr(self.config, key)!r}; use another output_dir"
                )
        self.env_steps = int(state["env_steps"])
        self.episodes = [EpisodeRecord(**e) for e in state["episodes"]]
        self.eval_history = list(state["eval_history"])
        self.action_rng.bit_generator.state = state["action_rng"]
        self.agent.load_state_dict(state["agent"], tensors["agent"])
        snap = state["env"]
        if snap["exact"]:
            envs_module.restore(self.env, snap)
            self.obs = tensors["obs"]["obs"].numpy().astype(self.obs.dtype)
            self._returns = np.asarray(state["returns"], np.float64)
            self._pending = []
            for i, count in enumerate(state["pending"]):
                pending = _Pending()
                if count:
                    part = tensors["pending"]
                    for j in range(count):
                        pending.add(
                            part[f"{i}.obs"][j].numpy(),
                            part[f"{i}.actions"][j].numpy(),
                            float(part[f"{i}.rewards"][j]),
                            float(part[f"{i}.continues"][j]),
                        )
                self._pending.append(pending)
        else:
            # The env's internal state is not ours to restore: start fresh episodes (the
            # interrupted ones are dropped) from seeds that differ from the first start.
            log.warning(
                "%s: %s cannot be restored mid-episode; the interrupted episodes are dropped",
                path,
                self.config.env_id,
            )
            offset = self.env_steps + 1
            obs, _ = self.env.reset(
                seed=[
                    self.config.seed * ENV_SEED_STRIDE + offset + i
                    for i in range(self.config.num_envs)
                ]
            )
            self.obs = obs
            self.agent.state = None
        log.info("resumed %s at env step %d (%d updates)", path, self.env_steps, self.updates)


def _crossed(before: int, after: int, every: int) -> bool:
    return bool(every) and before // every != after // every
