"""Train a tiny `ci` world model on a bundled dataset, then plan with CEM and print the action.

    python examples/plan_cem.py --horizon 3 --action-dim 2
    python examples/plan_cem.py --horizon 5 --action-dim 1 --family dreamerv3
    ./pants run examples/plan_cem.py -- --horizon 3 --action-dim 2

`--action-dim` picks the bundled dataset whose action space has that many dimensions (for
discrete datasets: that many choices, as in WorldModelConfig), continuous ones first:
1 -> pendulum (torque), 2 -> video (a 2-D push on the red ball, whose reward is how close that
ball ends up to the centre; 64x64 frames). `--dataset NAME` chooses directly; a dataset whose
action dim differs from `--action-dim` is an error that lists the ones that match. Continuous
actions are planned with CEM, discrete ones with the categorical CEM. Everything runs offline.

The printout shows the model's held-out loss before and after training (it must fall), the
ActionPayload (actions [H, B, A] with extras["wf.planner.horizon"] = H; each state executes
index 0) and the plan's predicted objective next to that of random action sequences, with how
much the model's predictions vary across actions at all: a briefly trained model may hardly
tell actions apart (then every plan scores alike, and --train-steps is the remedy).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import (
    ContractError,
    UnknownModelError,
    WorldModel,
    create_world_model,
    get_family,
)
from worldflux.datasets import DatasetSpec, dataset_info, list_datasets, load_dataset
from worldflux.planners import (
    CEMConfig,
    CEMPlanner,
    DiscreteCEMConfig,
    DiscreteCEMPlanner,
    InProcessDynamics,
    PlanResult,
    default_objective,
)
from worldflux.training import Trainer, TrainerConfig

# Preference when several datasets match --action-dim: continuous before discrete (CEM's home
# ground), then state vectors before pixels (faster to train on a CPU), then this order.
MODALITY_ORDER = {"vector": 0, "image": 1, "video": 2, "tokens": 3}
PREFERRED = ("pendulum", "mountaincar", "video", "pendulum-pixels", "cartpole")
# Default training steps: a few CPU minutes each. Measured with tdmpc2:ci: on pendulum, after
# 400 steps the predicted return already varies across action sequences (std ~1e-2) and CEM's
# plan scores like the best of 256 random ones; on 64x64 video frames even 800 steps leave the
# predictions almost blind to the push (std ~1e-4). The printout says which case it is.
AUTO_STEPS = {"vector": 300, "pixels": 150}


def pick_dataset(action_dim: int, name: str) -> str:
    """The dataset to train on: `name` if given (checked), else the best match for the dim."""
    infos = [dataset_info(n) for n in list_datasets()]
    matching = sorted(
        (i for i in infos if i.action_dim == action_dim and i.obs_dtype == "float32"),
        key=lambda i: (
            i.action_kind != "continuous",
            MODALITY_ORDER.get(i.modality, 9),
            PREFERRED.index(i.name) if i.name in PREFERRED else len(PREFERRED),
        ),
    )
    table = ", ".join(f"{i.name} ({i.action_dim} {i.action_kind})" for i in infos)
    if name != "auto":
        info = dataset_info(name)
        if info.action_dim != action_dim:
            raise ContractError(
                f"--dataset {name} has {info.action_dim} {info.action_kind} action "
                f"{'choices' if info.action_kind == 'discrete' else 'dims'}, not --action-dim "
                f"{action_dim}; bundled datasets: {table}"
            )
        return name
    if not matching:
        raise ContractError(
            f"no bundled dataset has {action_dim}-dimensional actions; bundled datasets: {table}"
        )
    return matching[0].name


def train(model: WorldModel, dataset: str, args: argparse.Namespace) -> None:
    steps = (
        args.train_steps or AUTO_STEPS["vector" if len(model.config.obs_shape) == 1 else "pixels"]
    )
    config = TrainerConfig(
        steps=steps,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        seed=args.seed,
        device=args.device,
        eval_batches=2,
        log_every=max(1, steps // 5),
        progress=False,
        tensorboard=False,
    )
    trainer = Trainer(
        model,
        config,
        train_data=load_dataset(dataset, "train", seed=args.seed),
        eval_data=load_dataset(dataset, "heldout", seed=args.seed),
    )
    result = trainer.fit()
    before, after = result.initial_eval["total"], result.final_eval["total"]
    print(
        f"trained {model.model_id} on {dataset} for {result.steps} steps in {result.seconds:.1f}s:"
        f" held-out loss {before:.4f} -> {after:.4f}"
    )
    if not after < before:
        print("warning: the held-out loss did not fall; train longer (--train-steps)")


def random_objective(
    dynamics: InProcessDynamics, obs: torch.Tensor, horizon: int, num: int, seed: int
) -> torch.Tensor:
    """Predicted objectives [B, num] of `num` uniformly random action sequences per state."""
    spec = dynamics.spec
    gen = torch.Generator().manual_seed(seed)
    batch = obs.shape[0]
    if spec.action.is_indexed:
        actions = torch.randint(spec.action.num_actions, (batch * num, horizon), generator=gen)
    else:
        low = torch.tensor(spec.action.low or (-1.0,) * spec.action.dim)
        high = torch.tensor(spec.action.high or (1.0,) * spec.action.dim)
        actions = low + (high - low) * torch.rand(
            batch * num, horizon, spec.action.dim, generator=gen
        )
    scorer = default_objective(spec).prepare(dynamics, None, batch)
    return scorer(dynamics.rollout(dynamics.encode(obs), actions)).reshape(batch, num)


def print_plan(result: PlanResult, baseline: torch.Tensor) -> None:
    payload = result.action
    primary = payload.primary
    assert isinstance(primary, torch.Tensor)
    print(f"ActionPayload(kind={payload.action_kind.value}, {payload.primary_name}=")
    print(f"  shape {list(primary.shape)} [H, B{', A' if primary.dim() == 3 else ''}]")
    print("  " + str(primary.numpy().round(3)).replace("\n", "\n  ") + ",")
    print(f"  extras={payload.extras})")
    print(f"first action per state (execute this): {result.first_action.tolist()}")
    stats = result.stats
    print(
        f"stats: {stats.iterations} iterations x {stats.candidates} candidates, horizon "
        f"{stats.horizon}, {stats.rollout_calls} rollout calls, {stats.elapsed_ms:.1f} ms"
    )
    for b, value in enumerate(stats.objective):
        rand = baseline[b]
        print(
            f"state {b}: predicted objective of the plan {value:.5f}; random sequences: mean "
            f"{float(rand.mean()):.5f}, best {float(rand.max()):.5f}, spread (std) "
            f"{float(rand.std()):.2e}"
        )
    spread = float(baseline.std(1).mean())
    if spread < 1e-3:
        print(
            f"note: the model's predictions hardly depend on the actions (spread {spread:.1e}), "
            "so any plan scores alike; a briefly trained model is like that: raise --train-steps"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--action-dim", type=int, default=2)
    parser.add_argument("--dataset", default="auto", help="bundled dataset, or auto")
    parser.add_argument(
        "--family",
        default="auto",
        help="world-model family (ci size); auto: tdmpc2, or dreamerv3 for discrete actions",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help=f"0: {AUTO_STEPS['vector']} for state vectors, {AUTO_STEPS['pixels']} for pixels",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=4)
    parser.add_argument("--states", type=int, default=2, help="observations planned at once")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--elites", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ContractError, UnknownModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    dataset = pick_dataset(args.action_dim, args.dataset)
    spec: DatasetSpec = load_dataset(dataset, "heldout", seed=args.seed).spec
    family = args.family
    if family == "auto":
        family = "dreamerv3" if spec.action_kind == "discrete" else "tdmpc2"
    family = get_family(family).name
    model = create_world_model(f"{family}:ci", device=args.device, **spec.model_kwargs())
    print(
        f"dataset {dataset}: obs {list(spec.obs_shape)}, {spec.action_dim} {spec.action_kind} "
        f"action {'choices' if spec.action_kind == 'discrete' else 'dims'}; model {model.model_id}"
        f" ({model.num_parameters():,} parameters)"
    )
    started = time.perf_counter()
    train(model, dataset, args)

    heldout = load_dataset(dataset, "heldout", seed=args.seed)
    batch = heldout.sample(args.states, 1, torch.Generator().manual_seed(args.seed + 1))
    obs = batch.obs[:, 0]
    dynamics = InProcessDynamics(model)
    common = {
        "horizon": args.horizon,
        "iterations": args.iterations,
        "num_samples": args.samples,
        "num_elites": args.elites,
        "seed": args.seed,
    }
    planner: CEMPlanner | DiscreteCEMPlanner
    if model.spec.action.is_indexed:
        planner = DiscreteCEMPlanner(DiscreteCEMConfig(**common))
    else:
        planner = CEMPlanner(CEMConfig(**common))
    print(f"planning {args.states} held-out observations with {planner.name}")
    result = planner.plan(dynamics, obs)
    baseline = random_objective(dynamics, obs, args.horizon, args.samples, args.seed)
    print_plan(result, baseline)
    print(f"total {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
