"""Reach a goal frame in the bundled `push` world with V-JEPA 2-AC and CEM; compare with random.

    python examples/plan_vjepa2_ac.py --test                 # seconds: a smoke run
    python examples/plan_vjepa2_ac.py --steps 1600 --episodes 50 --output-dir runs/vjepa2-ac

1. Train `vjepa2-ac:<size>` on the bundled `push` clips (teacher forcing + 2-step rollout) on
   a frozen encoder: the random-init ViT, or with `--encoder-steps N` a `vjepa2:<size>` trained
   for N steps on the same clips first (the paper's recipe: 2-AC on a pretrained V-JEPA 2).
2. Each episode draws a `push` scene (worldflux.datasets.push: a white square that the 2-D
   action moves by up to 10 px a step over a smooth colour field) and a start position; the
   goal frame is the scene `--goal-steps` steps later under uniformly random pushes. From the
   start, the agent replans every step with CEM on the L1 distance between the imagined
   features and the goal frame's (model-predictive control through the generic planner and
   GoalDistanceObjective), for `--goal-steps` steps.
3. Success: the square ends within `--radius` pixels of its goal position. The same episodes
   (starts and goals) are run with uniformly random actions; both success rates are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from training_run import add_run_arguments, finish_run_arguments, trainer_config

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import ConditionPayload, WorldModel, create_world_model
from worldflux.datasets import load_dataset, push
from worldflux.planners import CEMConfig, CEMPlanner, GoalDistanceObjective, InProcessDynamics
from worldflux.training import Trainer

TEST_SETTINGS = {
    "size": "ci",
    "steps": 10,
    "encoder_steps": 2,
    "batch_size": 8,
    "seq_len": 4,
    "eval_batches": 1,
    "episodes": 2,
    "samples": 16,
}


@dataclass
class World:
    """The push dataset's world from a given state: its colour field and the square's corner."""

    field: np.ndarray
    position: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator) -> World:
        return cls(push.background(rng), rng.uniform(push.LOW, push.HIGH, 2))

    def copy(self) -> World:
        return World(self.field, self.position.copy())

    def step(self, action: np.ndarray) -> None:
        self.position = push.move(self.position, action)

    def frame(self) -> torch.Tensor:
        """float [3, FRAME, FRAME] in [0, 1], as the dataset returns frames."""
        pixels = push.render(self.field, self.position[None])[0]
        return torch.from_numpy(pixels).float() / 255.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size")
    p.add_argument("--size", default="ci", choices=["ci", "tiny", "base"])
    p.add_argument("--steps", type=int, default=1600, help="2-AC training steps")
    p.add_argument(
        "--encoder-steps",
        type=int,
        default=0,
        help="first train vjepa2:<size> this many steps and freeze its encoder (0: random init)",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--goal-steps", type=int, default=3)
    p.add_argument("--radius", type=float, default=4.0, help="success radius in pixels")
    p.add_argument("--samples", type=int, default=64, help="CEM candidates per iteration")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if args.output_dir is None:
        args.checkpoint_every = 0  # the Trainer cannot checkpoint without a directory
    return args


def reach(
    model: WorldModel | None, start: World, goal: World, steps: int, args, seed: int
) -> float:
    """Run one episode (CEM every step, or random actions when model is None); the square's
    final distance to its goal position in pixels."""
    world = start.copy()
    rng = np.random.default_rng(seed)
    goal_frame = goal.frame()[None]
    for t in range(steps):
        if model is None:
            action = rng.uniform(-1, 1, 2)
        else:
            planner = CEMPlanner(
                CEMConfig(
                    horizon=steps - t,
                    num_samples=args.samples,
                    num_elites=max(args.samples // 8, 2),
                    iterations=3,
                    seed=seed * 100 + t,
                ),
                objective=GoalDistanceObjective(metric="l1"),
            )
            plan = planner.plan(
                InProcessDynamics(model), world.frame()[None], ConditionPayload(goal=goal_frame)
            )
            assert plan.action.tensor is not None
            action = plan.action.tensor[0, 0].cpu().numpy()
        world.step(action)
    return float(np.linalg.norm(world.position - goal.position))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    train = load_dataset("push", split="train", seed=args.seed)
    heldout = load_dataset("push", split="heldout", seed=args.seed)
    torch.manual_seed(args.seed)
    model = create_world_model(
        f"vjepa2-ac:{args.size}", **train.spec.model_kwargs(), device=args.device
    )
    if args.encoder_steps:
        encoder = create_world_model(
            f"vjepa2:{args.size}", **train.spec.model_kwargs(), device=args.device
        )
        config = dataclasses.replace(trainer_config(args, None), steps=args.encoder_steps)
        Trainer(encoder, config, train, heldout).fit()
        model.load_encoder(encoder)
    result = Trainer(model, trainer_config(args, args.output_dir), train, heldout).fit()
    print(
        f"{model.model_id}: held-out loss {result.initial_eval['total']:.4f} -> "
        f"{result.final_eval['total']:.4f} in {result.steps} steps"
    )
    model.eval()
    rng = np.random.default_rng(args.seed + 1)
    planned, random_ = [], []
    for episode in range(args.episodes):
        start = World.random(rng)
        goal = start.copy()
        for _ in range(args.goal_steps):
            goal.step(rng.uniform(-1, 1, 2))
        planned.append(reach(model, start, goal, args.goal_steps, args, episode))
        random_.append(reach(None, start, goal, args.goal_steps, args, episode))
    out = {
        "cem_success": float(np.mean(np.asarray(planned) <= args.radius)),
        "random_success": float(np.mean(np.asarray(random_) <= args.radius)),
        "cem_distance": float(np.mean(planned)),
        "random_distance": float(np.mean(random_)),
    }
    print(
        f"{args.episodes} episodes, goal {args.goal_steps} steps ahead, success radius "
        f"{args.radius:g} px: CEM {out['cem_success']:.0%} (mean final distance "
        f"{out['cem_distance']:.1f} px), random {out['random_success']:.0%} "
        f"({out['random_distance']:.1f} px)"
    )
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
