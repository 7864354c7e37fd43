"""The SSM example's --test run, a documented command, and its arguments."""

from pathlib import Path

import pytest
import torch
import train_ssm
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_ssm.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.steps == train_ssm.EXAMPLE.test_settings["steps"]
    assert result.final_eval["next_obs"] < result.initial_eval["next_obs"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "imagined 5 steps" in out and "saved model reloads identically: True" in out
    assert "planned first action" in out


def test_arguments(capsys) -> None:
    args = train_ssm.parse_args(train_ssm.EXAMPLE, None, "--size ci --steps 7 --lr 3e-3".split())
    assert (args.size, args.steps, args.lr, args.dataset) == ("ci", 7, 3e-3, "pendulum")
    parse = lambda argv: train_ssm.parse_args(train_ssm.EXAMPLE, None, argv)  # noqa: E731
    assert_usage_error(capsys, parse, ["--seq-len", "1"], "--seq-len")
    assert_usage_error(capsys, parse, ["--lr", "0"], "--lr must be positive")
    assert_usage_error(capsys, parse, ["--config", "lr"], "FIELD=VALUE")
    with pytest.raises(SystemExit):
        parse(["--size", "huge"])
