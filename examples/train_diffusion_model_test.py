"""The diffusion example's --test run, the command the quality-gates doc runs, and its
arguments."""

from pathlib import Path

import pytest
import torch
import train_diffusion_model
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_diffusion_model.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.final_eval["denoise_error"] < result.initial_eval["denoise_error"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "imagined 5 steps" in out and "saved model reloads identically: True" in out


def test_the_documented_command_on_synthetic_data(capsys) -> None:
    argv = "--steps 5 --batch-size 4 --obs-dim 4 --action-dim 2 --size ci --no-progress"
    result = train_diffusion_model.main([*argv.split(), "--eval-batches", "1", "--threads", "1"])
    assert result.steps == 5
    assert "linear-4x2 obs [4] act continuous 2" in capsys.readouterr().out


def test_arguments(capsys) -> None:
    args = train_diffusion_model.parse_args(
        "--size base --steps 7 --obs-dim 4 --action-dim 2".split()
    )
    assert (args.size, args.steps, args.obs_dim, args.action_dim) == ("base", 7, 4, 2)
    assert_usage_error(capsys, train_diffusion_model.parse_args, ["--obs-dim", "4"], "go together")
    assert_usage_error(capsys, train_diffusion_model.parse_args, ["--seq-len", "1"], "--seq-len")
    with pytest.raises(SystemExit):
        train_diffusion_model.parse_args(["--size", "huge"])
