"""plan_cem.py end to end at a tiny scale, and its answers to action dims it cannot meet."""

import plan_cem
import pytest
import torch

from worldflux.core import ContractError


def test_trains_briefly_then_prints_a_cem_plan(capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    code = plan_cem.main(
        [
            "--horizon", "2", "--action-dim", "1", "--dataset", "pendulum",
            "--train-steps", "3", "--batch-size", "4", "--seq-len", "4",
            "--iterations", "2", "--samples", "16", "--elites", "4", "--states", "3",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trained tdmpc2:ci on pendulum for 3 steps" in out
    assert "ActionPayload(kind=continuous, tensor=" in out
    assert "shape [2, 3, 1] [H, B, A]" in out
    assert "'wf.planner.horizon': 2" in out
    assert "2 rollout calls" in out
    assert out.count("predicted objective of the plan") == 3


def test_action_dim_picks_a_matching_dataset() -> None:
    assert plan_cem.pick_dataset(1, "auto") == "pendulum"
    assert plan_cem.pick_dataset(2, "auto") == "video"  # the only 2-D continuous one
    assert plan_cem.pick_dataset(2, "cartpole") == "cartpole"  # 2 discrete choices
    with pytest.raises(ContractError, match=r"pendulum has 1 continuous action dims.*video"):
        plan_cem.pick_dataset(2, "pendulum")
    with pytest.raises(ContractError, match="no bundled dataset has 7-dimensional actions"):
        plan_cem.pick_dataset(7, "auto")


def test_errors_exit_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_cem.main(["--action-dim", "3"]) == 2
    assert "no bundled dataset has 3-dimensional actions" in capsys.readouterr().err
