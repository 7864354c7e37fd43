"""The V-JEPA 2-AC goal-reaching example: its --test run plans with CEM and reports both rates,
and the world it plans in is the bundled push dataset's."""

import numpy as np
import plan_vjepa2_ac
import torch

from worldflux.datasets import push

torch.set_num_threads(1)


def test_smoke_run_reports_cem_and_random_success() -> None:
    out = plan_vjepa2_ac.main(["--test"])
    assert set(out) == {"cem_success", "random_success", "cem_distance", "random_distance"}
    assert all(0.0 <= out[k] <= 1.0 for k in ("cem_success", "random_success"))
    assert np.isfinite(out["cem_distance"]) and np.isfinite(out["random_distance"])


def test_runs_longer_than_the_checkpoint_interval_without_an_output_dir() -> None:
    # the defaults are --checkpoint-every 1000 and --steps 1600, and the Trainer cannot
    # checkpoint without a directory: the example turns checkpoints off when none is given
    small = ["--steps", "4", "--batch-size", "4", "--seq-len", "4", "--eval-batches", "1"]
    small += ["--episodes", "1", "--samples", "8", "--threads", "1", "--no-progress"]
    small += ["--eval-every", "0", "--checkpoint-every", "2"]
    assert plan_vjepa2_ac.parse_args(small).checkpoint_every == 0
    kept = plan_vjepa2_ac.parse_args([*small, "--output-dir", "never-written"])
    assert kept.checkpoint_every == 2
    out = plan_vjepa2_ac.main(small)  # step 2 would checkpoint
    assert np.isfinite(out["cem_distance"])


def test_world_moves_the_square_by_the_push_and_stops_at_the_edge() -> None:
    field = np.full((3, push.FRAME, push.FRAME), 0.5, np.float32)
    world = plan_vjepa2_ac.World(field, np.array([20.0, 20.0]))
    world.step(np.array([1.0, -0.5]))
    assert world.position.tolist() == [20.0 + push.STEP, 20.0 - 0.5 * push.STEP]
    for _ in range(5):
        world.step(np.array([1.0, 0.0]))
    assert world.position[0] == push.HIGH
    frame = world.frame()
    assert frame.shape == (3, push.FRAME, push.FRAME)
    assert (frame[:, 20, int(push.HIGH) + 1] == 1.0).all()  # inside the white square
    assert abs(float(frame[0, 0, 0]) - 0.5) < 0.01  # the field elsewhere
