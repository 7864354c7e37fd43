"""Train the Renderer3D world model on the bundled 3D scene, then render held-out novel views.

    python examples/train_renderer3d.py --test                     # seconds: ci size, smoke run
    python examples/train_renderer3d.py --size ci --steps 600 --output-dir runs/r3d-ci
    python examples/train_renderer3d.py --size base --steps 5000 --device cuda \\
        --output-dir runs/r3d-base

The model infers a scene of 3D Gaussians from one frame of known camera pose and renders the
frames seen from other poses (`scene3d`: three spheres, the action sets the next frame's camera
azimuth). Printed before and after training: the held-out loss and `novel_view_error` (frames of
the same scene the encoder never saw); after training, the error of views rendered through
`ConditionPayload(camera_pose=...)` for held-out poses against the two trivial answers (the
training mean frame and a copy of the input view). The trained model is saved under
<output-dir>/model and reloads with `create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence

import torch
from training_run import (
    add_run_arguments,
    check_finite,
    check_reload,
    finish_run_arguments,
    trainer_config,
)

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import ConditionPayload, WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.renderer3d import SIZES
from worldflux.training import Trainer, TrainResult

TEST_SETTINGS = {"size": "ci", "steps": 20, "batch_size": 8, "seq_len": 6, "eval_batches": 2}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="ci", choices=sorted(SIZES), help="named model size")
    p.add_argument("--dataset", default="scene3d", help="bundled dataset of posed views")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=8, help="views per window (>= 3)")
    p.add_argument("--lr", type=float, default=None, help="default: the family's (2e-3)")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if args.seq_len < 3:
        p.error("--seq-len must be >= 3 (one encoded view and at least one other)")
    return args


@torch.no_grad()
def novel_views(model: WorldModel, heldout, train, windows: int = 64) -> dict[str, float]:
    """Held-out frames 2.. of each window rendered from frame 1's scene at their poses (through
    ConditionPayload), against the training mean frame and the input view; same scene only."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    mean = torch.cat([train.sample(windows, 4, gen).obs.flatten(0, 1) for _ in range(4)]).mean(0)
    batch = heldout.sample(windows, 6, torch.Generator().manual_seed(1))
    poses = model.camera_poses(batch.actions)  # pose of frame t + 1
    state = model.encode(batch.obs[:, 1], ConditionPayload(camera_pose=poses[:, 0]))
    episode = batch.is_first.float().cumsum(1)
    sums = {"model": 0.0, "mean": 0.0, "copy_input": 0.0}
    count = 0
    for t in range(2, batch.obs.shape[1]):
        keep = episode[:, t] == episode[:, 1]
        view = model.render(state, ConditionPayload(camera_pose=poses[:, t - 1]))
        target = batch.obs[:, t]
        for name, guess in (("model", view), ("mean", mean[None]), ("copy_input", batch.obs[:, 1])):
            sums[name] += float((guess - target).square().mean((1, 2, 3))[keep].sum())
        count += int(keep.sum())
    return {k: v / max(count, 1) for k, v in sums.items()}


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    train = load_dataset(args.dataset, split="train", seed=args.seed)
    heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    overrides: dict[str, object] = {"device": args.device}
    if args.lr is not None:
        overrides["lr"] = args.lr
    model = create_world_model(f"renderer3d:{args.size}", **train.spec.model_kwargs(), **overrides)
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        config = trainer_config(args, output_dir)
        gaussians = model.spec.latent["scene"][0] // 8  # 8 numbers per Gaussian
        print(
            f"{model.model_id}: {model.num_parameters() / 1e6:.3f}M parameters, {gaussians} "
            f"Gaussians per view, {args.dataset}, device {args.device}"
        )
        result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
        first, last = result.initial_eval, result.final_eval
        for key in ("total", "render", "novel_view_error"):
            print(f"held-out {key:18s} {first.get(key, math.nan):9.5f} -> {last[key]:9.5f}")
        errors = novel_views(model, heldout, train)
        print(
            f"novel views through ConditionPayload: model {errors['model']:.5f}, mean frame "
            f"{errors['mean']:.5f}, copy of the input view {errors['copy_input']:.5f}"
        )
        print(
            f"{result.steps} steps, {result.steps_per_second:.2f} steps/s, {result.seconds:.1f} s"
        )
        if output_dir is not None:
            check_reload(model, output_dir)
    check_finite(result)
    if args.test and not last["novel_view_error"] < first["novel_view_error"]:
        raise SystemExit("held-out novel_view_error did not fall")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
