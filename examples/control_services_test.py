"""control.py --via-services: the CI smoke run acting through a planner service (its own
process) over a dynamics service serving the model being trained, on 127.0.0.1."""

import re
from pathlib import Path

import control
import pytest
import torch

from worldflux.core import ContractError

torch.set_num_threads(1)


def test_smoke_run_acts_through_both_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = control.main(["--test", "--via-services", "--no-gif", "--output-dir", str(tmp_path)])
    settings = control.TEST_SETTINGS
    assert result["env_steps"] == settings["env_steps"]
    assert result["updates"] == settings["env_steps"] - settings["seed_steps"]
    out = capsys.readouterr().out
    assert re.search(r"# acting through 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+", out), out
    found = re.search(r"# (\d+) plans by the planner service, (\d+) rollouts", out)
    assert found, out
    plans, rollouts = int(found[1]), int(found[2])
    # Every acting step after seeding, and every evaluation step, was a service plan with one
    # Rollout per MPPI iteration.
    assert plans >= settings["env_steps"] - settings["seed_steps"]
    assert rollouts == plans * settings["iterations"]


def test_the_actor_cannot_act_through_the_planner_service(tmp_path: Path) -> None:
    argv = ["--env", "CartPole-v1", "--model", "dreamerv3:ci", "--planner", "actor"]
    argv += ["--env-steps", "4", "--seed-steps", "4", "--no-gif", "--via-services"]
    with pytest.raises(ContractError, match="through_services acts through the planner service"):
        control.main([*argv, "--output-dir", str(tmp_path)])
