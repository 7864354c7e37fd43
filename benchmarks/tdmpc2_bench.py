"""TD-MPC2 figures: training speed and peak memory per size, MPPI latency, control, loss gate.

    python benchmarks/tdmpc2_bench.py                      # train: ci,1m,5m,19m; plan: 1m,5m
    python benchmarks/tdmpc2_bench.py --modes train --sizes ci,1m,5m,19m,48m --steps 10
    python benchmarks/tdmpc2_bench.py --modes control --control-steps 2000 --episodes 5
    python benchmarks/tdmpc2_bench.py --modes gate --seeds 0,1,2,3,4 --gate-steps 2000
    ./pants run benchmarks/tdmpc2_bench.py -- --modes plan --device cuda

train:   Trainer steps/s on bundled pendulum data (batch 256, seq_len 4 = the official horizon 3)
         after warm-up steps, and the peak memory of a fresh process that trains that size:
         peak RSS on CPU (minus the RSS before the model was built, printed as "model+train"),
         torch.cuda.max_memory_allocated on GPU.
plan:    MPPI with the official settings (horizon 3, 6 iterations, 512 samples, 64 elites,
         24 policy trajectories, temperature 0.5), closed loop with warm start, one state (B=1):
         ms per plan = ms per executed action. Paper shape: obs 24, act 6.
control: trains tdmpc2:ci on pendulum (or loads --checkpoint), then runs Pendulum-v1 episodes
         (same reset seeds for every controller) with MPPI computing in each of --dtypes, with
         the policy prior's mean action and with uniform random actions, and prints each
         controller's mean return (bfloat16's agreement with float32 where it matters).
gate:    held-out loss (Trainer.evaluate) before and after --gate-steps at ci size, per seed;
         passes when it falls by at least 10% for every seed. With --output-dir each seed's
         trained model is kept (<dir>/seed<N>/model), which control can load (--checkpoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch

from worldflux.core import WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.tdmpc2 import TDMPC2, discount_for_episode_length
from worldflux.planners import InProcessDynamics, MPPIConfig, MPPIPlanner, PlannerState
from worldflux.planners.graphed import GraphedPlanner
from worldflux.training import Trainer, TrainerConfig, seed_everything

PAPER_SHAPE: dict[str, Any] = {"obs_shape": (24,), "action_dim": 6}
PENDULUM_MAX_TORQUE = 2.0  # the bundled pendulum stores actions scaled to [-1, 1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pendulum_model(size: str, device: str, **overrides: Any) -> tuple[TDMPC2, Any, Any]:
    train = load_dataset("pendulum", split="train", seed=0)
    heldout = load_dataset("pendulum", split="heldout", seed=0)
    episode_length = train.spec.num_steps // train.spec.num_episodes - 1
    model = create_world_model(
        f"tdmpc2:{size}",
        **train.spec.model_kwargs(),
        discount=discount_for_episode_length(episode_length),
        device=device,
        **overrides,
    )
    assert isinstance(model, TDMPC2)
    return model, train, heldout


# -- train: steps/s and peak memory, one fresh process per size ----------------------------
def train_worker(
    size: str,
    steps: int,
    warmup: int,
    batch: int,
    device: str,
    threads: int,
    graph: bool = False,
    precision: str = "highest",
) -> dict:
    torch.set_float32_matmul_precision(precision)
    if threads:
        torch.set_num_threads(threads)
    load_dataset("pendulum", split="train", seed=0)  # cache hit; keep it out of the baseline
    baseline = _rss_mb()
    seed_everything(0)
    model, train, _ = _pendulum_model(size, device)
    config = TrainerConfig(
        steps=warmup + steps,
        batch_size=batch,
        seq_len=4,
        device=device,
        eval_batches=0,
        progress=False,
        tensorboard=False,
        threads=threads,
        cuda_graph=graph,
    )
    trainer = Trainer(model, config, train)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    tick = time.perf_counter()
    trainer.fit(until=warmup)
    warmup_s = time.perf_counter() - tick
    result = trainer.fit()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    return {
        "size": size,
        "graph": graph,
        "warmup_s": warmup_s,
        "params": model.num_parameters(),
        "steps_per_s": result.steps_per_second,
        "ms_per_step": 1e3 / result.steps_per_second,
        "peak_rss_mb": peak_rss,
        "model_train_mb": peak_rss - baseline,
        "gpu_peak_mb": gpu,
    }


def run_train(args: argparse.Namespace) -> list[dict]:
    print(
        f"# train: Trainer on pendulum, batch {args.batch_size} x seq 4, {args.steps} steps "
        f"after {args.warmup} warm-up, device {args.device}, threads {args.threads or 'default'}, "
        f"float32 matmul precision {args.matmul_precision}"
    )
    print(
        f"{'size':>5} {'step':>6} {'params':>12} {'steps/s':>8} {'ms/step':>9} {'warm-up s':>9} "
        f"{'peak RSS MB':>12} {'model+train MB':>15} {'GPU peak MB':>12}"
    )
    rows = []
    variants = [False, True] if args.graph else [False]
    for size, graph in ((s, g) for s in filter(None, args.sizes.split(",")) for g in variants):
        call = (
            f"import json, tdmpc2_bench as b; print('ROW', json.dumps(b.train_worker("
            f"{size!r}, {args.steps}, {args.warmup}, {args.batch_size}, {args.device!r}, "
            f"{args.threads}, {graph}, {args.matmul_precision!r})))"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run(
            [sys.executable, "-c", call], env=env, capture_output=True, text=True, check=False
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("ROW ")), None)
        if proc.returncode != 0 or line is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:] or ["no output"]
            print(f"{size:>5}  did not run here:\n    " + "\n    ".join(tail))
            continue
        row = json.loads(line[4:])
        rows.append(row)
        print(
            f"{row['size']:>5} {'graph' if graph else 'eager':>6} {row['params']:>12,} "
            f"{row['steps_per_s']:>8.2f} {row['ms_per_step']:>9.2f} {row['warmup_s']:>9.1f} "
            f"{row['peak_rss_mb']:>12.0f} "
            f"{row['model_train_mb']:>15.0f} {row['gpu_peak_mb']:>12.0f}",
            flush=True,
        )
    return rows


# -- plan: MPPI latency ----------------------------------------------------------------------
def _plan_ms(
    dynamics: InProcessDynamics, obs: torch.Tensor, repeats: int, device: str, graph: bool = False
) -> tuple[list, float]:
    """Closed-loop plans (warm start) after 2 warm-up plans: ms per plan, sorted, and the
    seconds of the first plan (for a CUDA graph: warm-up and recording included)."""
    planner = MPPIPlanner(MPPIConfig(seed=0))
    graphed = GraphedPlanner(planner, dynamics.model, 1, dynamics.compute_dtype) if graph else None
    state: PlannerState | None = None
    times = []
    first_s = 0.0
    for i in range(2 + repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        if graphed is not None:
            result = graphed.plan(obs, state=state)
        else:
            result = planner.plan(dynamics, obs, state=state)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        state = result.state
        if i == 0:
            first_s = time.perf_counter() - start
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    return sorted(times), first_s


def _plan_flops(dynamics: InProcessDynamics, obs: torch.Tensor) -> int:
    """Floating-point operations of one plan (torch's FlopCounterMode: the matrix products,
    which are all but a few percent of the work; elementwise ops are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        MPPIPlanner(MPPIConfig(seed=0)).plan(dynamics, obs)
    return int(counter.get_total_flops())


def _matmul_gflops(dtype: torch.dtype, device: str, repeats: int = 50) -> float:
    """This machine's speed at the planner's typical product, [536, 512] @ [512, 512] (536 =
    512 samples + 24 policy trajectories, 512 = the 5m width), in `dtype`, now: the roofline
    that no implementation of the same plan can beat on this hardware and thread count."""
    a = torch.randn(536, 512, device=device).to(dtype)
    b = torch.randn(512, 512, device=device).to(dtype)
    times = []
    for i in range(5 + repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - start)
    return 2 * 536 * 512 * 512 / statistics.median(times) / 1e9


def _scoring_weights(model: WorldModel, seed: int = 0) -> WorldModel:
    """Untrained TD-MPC2 zero-initialises its reward and Q output layers (as the official
    code does), so every candidate scores 0 and any dtype "agrees". Redraw those layers so
    that candidates score differently (small, close scores: the hard case for bfloat16)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 1 and not bool(p.any()):
                p.copy_(0.05 * torch.randn(p.shape, generator=generator).to(p.device))
    return model


def _first_actions(dynamics: InProcessDynamics, observations: torch.Tensor) -> torch.Tensor:
    """The mean of MPPI's final distribution over the first action (the weighted elite mean,
    what the executed action is drawn around) for each observation, planned from scratch."""
    planner = MPPIPlanner(MPPIConfig(seed=0))
    return torch.cat([planner.plan(dynamics, o[None]).state.mean[:, 0] for o in observations])


def run_plan(args: argparse.Namespace) -> list[dict]:
    dtypes = [getattr(torch, name) for name in args.dtypes.split(",")]
    print(
        f"# plan: MPPI official settings, B=1, {args.repeats} closed-loop plans after 2 warm-up, "
        f"obs 24 act 6, device {args.device}, threads {torch.get_num_threads()}, float32 matmul "
        f"precision {args.matmul_precision}; agreement: "
        f"final first-action means of {args.agreement_obs} fresh plans against float32's "
        "(|diff| <= 0.1 of the [-1, 1] range), untrained weights, zero output layers redrawn; "
        "roofline: the plan's counted matmul FLOPs over this machine's measured matmul speed "
        "in that dtype (a lower bound on ms/action for any implementation of the same plan)"
    )
    print(
        f"{'model':>10} {'dtype':>9} {'exec':>6} {'params':>11} {'median ms/action':>17} "
        f"{'p90 ms':>8} {'vs first':>8} {'first s':>8} {'agree':>6} {'mean |diff|':>11} "
        f"{'GFLOP':>6} {'GFLOP/s':>8} {'peak':>6} {'bound ms':>8}"
    )
    rows = []
    for size in filter(None, args.plan_sizes.split(",")):
        torch.manual_seed(0)
        model = create_world_model(f"tdmpc2:{size}", device=args.device, **PAPER_SHAPE)
        _scoring_weights(model)
        generator = torch.Generator().manual_seed(0)
        obs = torch.randn(1, 24, generator=generator).to(args.device)
        probe = torch.randn(args.agreement_obs, 24, generator=generator).to(args.device)
        reference = _first_actions(InProcessDynamics(model), probe)
        baseline_ms = None
        for dtype, graph in (
            (d, g) for d in dtypes for g in ([False, True] if args.graph else [False])
        ):
            dynamics = InProcessDynamics(model, compute_dtype=dtype)
            times, first_s = _plan_ms(dynamics, obs, args.repeats, args.device, graph)
            diff = (_first_actions(dynamics, probe) - reference).abs().amax(-1)
            median = statistics.median(times)
            baseline_ms = baseline_ms or median
            flops = _plan_flops(dynamics, obs)
            peak = _matmul_gflops(dtype, args.device)
            row = {
                "model": f"tdmpc2:{size}",
                "dtype": str(dtype).removeprefix("torch."),
                "exec": "graph" if graph else "eager",
                "first_plan_s": first_s,
                "params": model.num_parameters(),
                "median_ms": median,
                "p90_ms": times[min(len(times) - 1, int(0.9 * len(times)))],
                "mean_ms": statistics.fmean(times),
                "speedup_vs_first": baseline_ms / median,
                "agreement": float((diff <= 0.1).float().mean()),
                "mean_abs_diff": float(diff.mean()),
                "gflop_per_plan": flops / 1e9,
                "achieved_gflops": flops / 1e6 / median,
                "matmul_peak_gflops": peak,
                "roofline_ms": flops / 1e6 / peak,
            }
            rows.append(row)
            print(
                f"{row['model']:>10} {row['dtype']:>9} {row['exec']:>6} {row['params']:>11,} "
                f"{row['median_ms']:>17.2f} {row['p90_ms']:>8.2f} "
                f"{row['speedup_vs_first']:>7.2f}x {first_s:>8.2f} {row['agreement']:>6.0%} "
                f"{row['mean_abs_diff']:>11.4f} {row['gflop_per_plan']:>6.1f} "
                f"{row['achieved_gflops']:>8.1f} {row['matmul_peak_gflops']:>6.1f} "
                f"{row['roofline_ms']:>8.1f}",
                flush=True,
            )
    return rows


# -- control: a trained ci model on Pendulum-v1 ---------------------------------------------
def _train_ci(args: argparse.Namespace, steps: int, seed: int, out: str | None) -> tuple:
    seed_everything(seed)
    model, train, heldout = _pendulum_model("ci", args.device)
    config = TrainerConfig(
        steps=steps,
        batch_size=args.batch_size,
        seq_len=4,
        seed=seed,
        device=args.device,
        eval_batches=8,
        progress=False,
        tensorboard=False,
        threads=args.threads,
        output_dir=out,
        resume=False,
    )
    result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
    return model, result


def _episode(env: Any, reset_seed: int, act: Any) -> float:
    obs, _ = env.reset(seed=reset_seed)
    total, done = 0.0, False
    while not done:
        action = float(np.clip(act(obs), -1.0, 1.0))
        obs, reward, terminated, truncated, _ = env.step(np.array([action * PENDULUM_MAX_TORQUE]))
        total += float(reward)
        done = terminated or truncated
    return total


def run_control(args: argparse.Namespace) -> dict:
    import gymnasium as gym

    model: WorldModel
    if args.checkpoint:
        model = WorldModel.from_pretrained(args.checkpoint)
        print(f"# control: {args.checkpoint}")
    else:
        model, result = _train_ci(args, args.control_steps, 0, None)
        print(
            f"# control: tdmpc2:ci trained {result.steps} steps on pendulum "
            f"(held-out total {result.initial_eval['total']:.4f} -> "
            f"{result.final_eval['total']:.4f})"
        )
    assert isinstance(model, TDMPC2)
    model.eval()
    rng = np.random.default_rng(0)
    env = gym.make("Pendulum-v1")
    planner_state: list[PlannerState | None] = [None]

    def mppi_in(dtype: torch.dtype) -> Any:
        """MPPI whose model calls compute in `dtype` (the same planner seed for every dtype:
        the returns show whether bfloat16's plans control as well as float32's)."""
        dynamics = InProcessDynamics(model, compute_dtype=dtype)
        planner = MPPIPlanner(MPPIConfig(seed=0))

        def act(obs: np.ndarray) -> float:
            x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
            result = planner.plan(dynamics, x, state=planner_state[0])
            planner_state[0] = result.state
            assert result.action.tensor is not None
            return float(result.action.tensor[0, 0, 0])

        return act

    @torch.no_grad()
    def prior(obs: np.ndarray) -> float:
        z = model.encode(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))["z"]
        return float(model.denormalize_action(model.pi(z).mean)[0, 0])

    def random(obs: np.ndarray) -> float:
        return float(rng.uniform(-1.0, 1.0))

    controllers = {f"mppi {name}": mppi_in(getattr(torch, name)) for name in args.dtypes.split(",")}
    controllers.update({"policy prior": prior, "random": random})
    returns: dict[str, list[float]] = {name: [] for name in controllers}
    seeds = [10_000 + i for i in range(args.episodes)]
    started = time.perf_counter()
    for name, act in controllers.items():
        for seed in seeds:
            planner_state[0] = None  # a new episode: no warm start
            returns[name].append(_episode(env, seed, act))
    print(f"{'controller':>15} {'mean return':>12} {'std':>8}   per episode (seeds {seeds[0]}+)")
    for name, values in returns.items():
        print(
            f"{name:>15} {statistics.fmean(values):>12.1f} {statistics.pstdev(values):>8.1f}   "
            + " ".join(f"{v:.0f}" for v in values)
        )
    print(
        f"# {args.episodes} episodes x {len(controllers)} controllers in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return returns


# -- gate: held-out loss falls by >= 10% within N steps, per seed -------------------------------
def run_gate(args: argparse.Namespace) -> list[dict]:
    print(
        f"# gate: tdmpc2:ci on pendulum, {args.gate_steps} steps, batch {args.batch_size} x seq 4,"
        " held-out total over 8 fixed batches"
    )
    print(f"{'seed':>4} {'initial':>9} {'final':>9} {'change':>8} {'pass':>5}  components (final)")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        out = os.path.join(args.output_dir, f"seed{seed}") if args.output_dir else None
        _, result = _train_ci(args, args.gate_steps, seed, out)
        first, last = result.initial_eval["total"], result.final_eval["total"]
        change = (last - first) / first
        finite = all(math.isfinite(v) for row in result.history for v in row.values())
        row = {"seed": seed, "initial": first, "final": last, "change": change, "finite": finite}
        row["pass"] = change <= -0.10 and finite
        rows.append(row)
        parts = " ".join(
            f"{k}={result.final_eval[k]:.3g}" for k in ("consistency", "reward", "value", "pi")
        )
        print(
            f"{seed:>4} {first:>9.4f} {last:>9.4f} {change:>+8.1%} {row['pass']!s:>5}  {parts}",
            flush=True,
        )
    print(f"# {sum(r['pass'] for r in rows)} of {len(rows)} seeds pass")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modes", default="train,plan", help="train, plan, control, gate")
    p.add_argument("--sizes", default="ci,1m,5m,19m", help="train mode (48m/317m: add them)")
    p.add_argument("--plan-sizes", default="1m,5m")
    p.add_argument(
        "--dtypes", default="float32,bfloat16", help="plan: compute dtypes, float32 first"
    )
    p.add_argument("--agreement-obs", type=int, default=20, help="plan: observations compared")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--matmul-precision",
        default="highest",
        choices=("highest", "high", "medium"),
        help="torch.set_float32_matmul_precision: 'high' lets float32 products use TF32 on "
        "GPUs, as the official TD-MPC2's train.py sets",
    )
    p.add_argument(
        "--graph",
        action="store_true",
        help="train, plan: also measure the CUDA-graph step / plan (eager on a CPU)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--control-steps", type=int, default=2000)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--checkpoint", default="", help="control: a saved model instead of training")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--gate-steps", type=int, default=2000)
    p.add_argument("--output-dir", default="", help="gate: keep each seed's run (model/) here")
    p.add_argument("--json", default="", help="also write the measured rows to this file")
    args = p.parse_args(argv)
    torch.set_float32_matmul_precision(args.matmul_precision)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = set(filter(None, args.modes.split(",")))
    unknown = modes - {"train", "plan", "control", "gate"}
    if unknown:
        p.error(f"unknown modes {sorted(unknown)}")
    out: dict[str, Any] = {}
    if "train" in modes:
        out["train"] = run_train(args)
    if "plan" in modes:
        out["plan"] = run_plan(args)
    if "gate" in modes:
        out["gate"] = run_gate(args)
    if "control" in modes:
        out["control"] = run_control(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
