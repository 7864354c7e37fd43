"""Learn to control a gymnasium environment online: act, collect, train, evaluate, checkpoint.

    python examples/control.py --env Pendulum-v1 --model tdmpc2:1m --env-steps 15000
    python examples/control.py --env CartPole-v1 --model dreamerv3:size1m --env-steps 50000
    python examples/control.py --test                      # seconds: tdmpc2:ci, tiny MPPI
    (with libs/worldflux/src and examples on PYTHONPATH, or ./pants run examples/control.py --)

How the agent acts (--planner): a family with a learned policy (WorldModel.has_actor():
DreamerV3) acts by its actor by default ("actor": a recurrent posterior per env, the actor
sampled while collecting and its mode in evaluation, as the official agent does); every other
family plans with the planners registry ("auto": MPPI for continuous actions, categorical CEM
for discrete ones) through InProcessDynamics around the model being trained. --planner auto
makes DreamerV3 plan too. --pixels 64 observes the env's rgb_array render at 64 x 64 instead of
its state vector.

Defaults for the actor path (DreamerV3). The official agent trains on batch 16 x length 64 at
a train ratio (replayed steps per env step) of 32 (Atari default) up to 512 (DMC proprio).
Here: batch 16, length 16, train ratio 64, so UTD = 64 / (16 * 16) = 0.25 updates per env
step. Why: (1) the replay buffer samples windows inside one episode, and CartPole episodes
under a random policy last ~20 steps, so length-64 windows would leave the early, failing
episodes (the only ones with terminals) out of training; the replay context (the stored
posterior of the step before a window) carries the recurrent state across windows instead.
(2) On this 2-core CPU one size1m update of 16 x 16 takes ~0.25 CPU-s (16 x 64: ~1 CPU-s), so
ratio 64 costs ~0.06 CPU-s per env step, ~55 min for 50,000 env steps on one core; ratio 512
would take ~7 hours. Override with --batch-size, --seq-len, --train-ratio or --utd.
Writes under --output-dir:
  episodes.csv   one row per finished training episode (env_step, return, length)
  eval.csv       one row per evaluation (env_step, updates, mean_return, returns)
  returns.png    training episode returns and evaluation means against env steps
  tensorboard/   the same figures and the training losses (tensorboardX event files)
  eval.gif       the frames of the last evaluation's first episode (rgb_array)
  checkpoint/    the whole run state: start the same command again to resume it
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.agents import OnlineConfig, OnlineLoop
from worldflux.agents.actor import ACTOR
from worldflux.core.atomic import atomic_write_bytes
from worldflux.core.registry import resolve_model_id

ACTOR_BATCH = 16
ACTOR_TRAIN_RATIO = 64.0

# A few dozen env steps at ci size with a tiny MPPI: the CI smoke run.
TEST_SETTINGS: dict[str, Any] = {
    "model": "tdmpc2:ci",
    "env_steps": 48,
    "seed_steps": 24,
    "max_episode_steps": 12,
    "batch_size": 8,
    "eval_episodes": 1,
    "eval_every": 24,
    "num_samples": 16,
    "iterations": 1,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few dozen steps (CI smoke run)")
    p.add_argument("--env", default="Pendulum-v1", help="gymnasium env id")
    p.add_argument("--model", default="tdmpc2:1m", help="model id (family:size)")
    p.add_argument("--env-steps", type=int, default=15_000, help="total env steps")
    p.add_argument("--num-envs", type=int, default=1, help="sub-environments (SyncVectorEnv)")
    p.add_argument("--seed-steps", type=int, default=1000, help="random actions first")
    p.add_argument(
        "--utd", type=float, default=None, help="updates per env step (default: 1, actor: ratio)"
    )
    p.add_argument(
        "--train-ratio",
        type=float,
        default=None,
        help="replayed steps per env step: UTD = ratio / (batch * seq-len) (actor default 64)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="default: 256, actor: 16")
    p.add_argument("--seq-len", type=int, default=0, help="default: 4 for tdmpc2, else 16")
    p.add_argument(
        "--discount", type=float, default=None, help="tdmpc2: default from episode length"
    )
    p.add_argument(
        "--planner",
        default=None,
        help="actor, auto, mppi, cem, discrete-cem (default: actor if the family has one)",
    )
    p.add_argument("--pixels", type=int, default=0, help="observe rgb_array frames, N x N")
    p.add_argument("--num-samples", type=int, default=0, help="planner samples (0: default)")
    p.add_argument("--iterations", type=int, default=0, help="planner iterations (0: default)")
    p.add_argument("--eval-every", type=int, default=0, help="env steps (0: env-steps / 10)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=0, help="env steps (0: with evals)")
    p.add_argument("--max-episode-steps", type=int, default=None, help="override the TimeLimit")
    p.add_argument("--output-dir", default=None, help="default: runs/control-<env>-<model>")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="record each update as a CUDA graph (TD-MPC2 on a GPU; eager on a CPU)",
    )
    p.add_argument("--device", default="cpu", help="torch device of the model (cpu, cuda)")
    p.add_argument("--no-gif", action="store_true", help="skip the evaluation GIF")
    p.add_argument(
        "--via-services",
        action="store_true",
        help="act through a planner service over a dynamics service serving the model being "
        "trained, both on 127.0.0.1 (examples/online_services.py; not with --planner actor)",
    )
    args = p.parse_args(argv)
    if args.test:
        for key, value in TEST_SETTINGS.items():
            setattr(args, key, value)
    if args.env_steps < 1:
        p.error("--env-steps must be >= 1")
    if args.planner is None:
        args.planner = ACTOR if has_actor(args.model) else "auto"
    actor = args.planner == ACTOR
    if args.batch_size is None:
        args.batch_size = ACTOR_BATCH if actor else 256
    if args.utd is None:
        ratio = args.train_ratio or (ACTOR_TRAIN_RATIO if actor else None)
        seq_len = args.seq_len or default_seq_len(args.model)
        args.utd = ratio / (args.batch_size * seq_len) if ratio else 1.0
    elif args.train_ratio is not None:
        p.error("give --utd or --train-ratio, not both")
    if args.output_dir is None:
        args.output_dir = f"runs/control-{args.env}-{args.model.replace(':', '-')}-s{args.seed}"
    return args


def has_actor(model_id: str) -> bool:
    """Whether the model's family acts by a learned policy (decided on the class)."""
    family, _ = resolve_model_id(model_id)
    return family.model_class.has_actor()


def default_seq_len(model_id: str) -> int:
    return 4 if model_id.split(":", 1)[0] == "tdmpc2" else 16


def online_config(args: argparse.Namespace) -> OnlineConfig:
    family = args.model.split(":", 1)[0]
    overrides: dict[str, Any] = {}
    if family == "tdmpc2":
        import gymnasium as gym

        from worldflux.models.tdmpc2 import discount_for_episode_length

        length = args.max_episode_steps or gym.spec(args.env).max_episode_steps or 1000
        overrides["discount"] = args.discount or discount_for_episode_length(length)
    elif args.discount:
        overrides["discount"] = args.discount
    planner: dict[str, Any] = {}
    if args.num_samples:
        planner["num_samples"] = args.num_samples
        planner["num_elites"] = max(2, args.num_samples // 8)
        if args.planner in ("auto", "mppi"):
            planner["num_pi_trajs"] = max(1, args.num_samples // 20)
    if args.iterations:
        planner["iterations"] = args.iterations
    eval_every = args.eval_every or max(1, args.env_steps // 10)
    return OnlineConfig(
        env_id=args.env,
        model=args.model,
        model_overrides=overrides,
        planner=args.planner,
        planner_settings=planner,
        num_envs=args.num_envs,
        total_env_steps=args.env_steps,
        seed_steps=args.seed_steps,
        utd_ratio=args.utd,
        batch_size=args.batch_size,
        seq_len=args.seq_len or default_seq_len(args.model),
        eval_every=eval_every,
        eval_episodes=args.eval_episodes,
        checkpoint_every=args.checkpoint_every or eval_every,
        output_dir=args.output_dir,
        seed=args.seed,
        threads=args.threads,
        cuda_graph=args.cuda_graph,
        device=args.device,
        max_episode_steps=args.max_episode_steps,
        pixels=args.pixels,
    )


# -- outputs ---------------------------------------------------------------------------------
def write_csvs(loop: OnlineLoop, out: Path) -> None:
    """Rewritten whole from the loop's state, so a resumed run's files never hold rows twice."""
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["env_step", "return", "length"])
    writer.writerows([e.env_step, f"{e.ret:.4f}", e.length] for e in loop.episodes)
    atomic_write_bytes(out / "episodes.csv", rows.getvalue().encode())
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["env_step", "updates", "mean_return", "returns"])
    for e in loop.eval_history:
        returns = " ".join(f"{r:.2f}" for r in e["returns"])
        writer.writerow([e["env_step"], e["updates"], f"{e['mean_return']:.4f}", returns])
    atomic_write_bytes(out / "eval.csv", rows.getvalue().encode())


def write_plot(loop: OnlineLoop, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if loop.episodes:
        ax.plot(
            [e.env_step for e in loop.episodes],
            [e.ret for e in loop.episodes],
            ".",
            alpha=0.4,
            label="training episode",
        )
    if loop.eval_history:
        ax.plot(
            [e["env_step"] for e in loop.eval_history],
            [e["mean_return"] for e in loop.eval_history],
            "o-",
            label="evaluation mean",
        )
    ax.axvline(loop.config.seed_steps, color="grey", ls=":", label="end of random seeding")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    path = out / "returns.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_gif(frames: list[np.ndarray], path: Path, every: int = 2, fps: int = 25) -> Path:
    """rgb_array frames to an animated GIF with PIL (no video codec needed)."""
    from PIL import Image  # pants: no-infer-dep (Pillow comes with matplotlib)

    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames[::every]]
    if not images:
        raise ValueError("no frames to write")
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=int(1000 * every / fps), loop=0
    )
    return path


TB_KEYS = (
    "total",
    "consistency",
    "reward",
    "value",
    "pi",
    "grad_norm",
    "policy",
    "rew",
    "con",
    "dyn",
    "rep",
    "rec",
    "policy_entropy",
    "imag_return",
)


class TensorBoardLog:
    """Episode returns, evaluations and training losses as tensorboardX scalars."""

    def __init__(self, out: Path, loop: OnlineLoop) -> None:
        from tensorboardX import SummaryWriter

        resume = loop.env_steps
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume or None)
        self.episodes = len(loop.episodes)
        self.evals = len(loop.eval_history)
        self.metrics = len(loop.train_metrics)

    def update(self, loop: OnlineLoop) -> None:
        for e in loop.episodes[self.episodes :]:
            self.writer.add_scalar("episode/return", e.ret, e.env_step)
        for evaluation in loop.eval_history[self.evals :]:
            self.writer.add_scalar(
                "eval/mean_return", evaluation["mean_return"], evaluation["env_step"]
            )
        for m in loop.train_metrics[self.metrics :][::10]:
            for key in TB_KEYS:
                if key in m:
                    self.writer.add_scalar(f"train/{key}", m[key], int(m["env_step"]))
        self.episodes, self.evals = len(loop.episodes), len(loop.eval_history)
        self.metrics = len(loop.train_metrics)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = online_config(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    loop = OnlineLoop(config)
    title = f"{args.model} on {args.env} (seed {args.seed})"
    if loop.resumed:
        print(f"# resumed {out} at env step {loop.env_steps} ({loop.updates} updates)")
    board = TensorBoardLog(out, loop)
    services = contextlib.ExitStack()
    deployment: Any = None
    try:
        if args.via_services:
            from online_services import through_services

            deployment = services.enter_context(through_services(loop))
            print(f"# acting through {deployment.planner_target} -> {deployment.dynamics_target}")
        while loop.env_steps < config.total_env_steps:
            evals = len(loop.eval_history)
            loop.step()
            if len(loop.eval_history) != evals:
                last = loop.eval_history[-1]
                print(
                    f"env step {last['env_step']:>7}  updates {last['updates']:>7}  "
                    f"eval mean return {last['mean_return']:9.1f}  "
                    f"episodes {len(loop.episodes)}  cpu {time.process_time():.0f}s  "
                    + " ".join(f"{k} {v:.0f}s" for k, v in loop.seconds.items()),
                    flush=True,
                )
                write_csvs(loop, out)
                write_plot(loop, out, title)
                board.update(loop)
        result = loop.run()  # the final evaluation and checkpoint
        final = loop.eval_history[-1] if loop.eval_history else None
        gif = None
        if not args.no_gif:
            frames = loop.evaluate(episodes=1, record_frames=True)["frames"]
            gif = write_gif(frames, out / "eval.gif")
        write_csvs(loop, out)
        plot = write_plot(loop, out, title)
        board.update(loop)
    finally:
        if deployment is not None:
            agent = deployment.agent
            print(f"# {agent.plans} plans by the planner service, {agent.rollout_calls} rollouts")
        services.close()
        board.close()
        loop.close()
    seconds = result["seconds"]
    print(
        f"# {loop.env_steps} env steps, {loop.updates} updates, {len(loop.episodes)} episodes; "
        f"final eval mean return {final['mean_return'] if final else float('nan'):.1f}"
    )
    print("# seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    print(f"# process CPU time {time.process_time():.1f} s (this process, since it started)")
    print(f"# wrote {plot}, {out / 'episodes.csv'}, {out / 'eval.csv'}, {out / 'tensorboard'}")
    if gif is not None:
        print(f"# wrote {gif}")
    return {**result, "output_dir": str(out), "plot": str(plot), "gif": str(gif) if gif else None}


if __name__ == "__main__":
    main(sys.argv[1:])
