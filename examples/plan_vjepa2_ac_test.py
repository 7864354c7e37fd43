"""The V-JEPA 2-AC goal-reaching example: its --test run plans with CEM and reports both rates,
and the world it plans in is the bundled video dataset's physics."""

import numpy as np
import plan_vjepa2_ac
import torch

from worldflux.datasets import video

torch.set_num_threads(1)


def test_smoke_run_reports_cem_and_random_success() -> None:
    out = plan_vjepa2_ac.main(["--test"])
    assert set(out) == {"cem_success", "random_success", "cem_distance", "random_distance"}
    assert all(0.0 <= out[k] <= 1.0 for k in ("cem_success", "random_success"))
    assert np.isfinite(out["cem_distance"]) and np.isfinite(out["random_distance"])


def test_world_pushes_the_red_ball_only() -> None:
    world = plan_vjepa2_ac.World(np.full((3, 2), 32.0), np.zeros((3, 2)), np.full(3, 5.0))
    world.step(np.array([1.0, 0.0]))
    assert world.position[0, 0] == 32.0 + video.DRAG * video.PUSH
    assert (world.position[1:] == 32.0).all()
    frame = world.frame()
    assert frame.shape == (3, 64, 64) and 0.0 <= float(frame.min()) <= float(frame.max()) <= 1.0
