"""The TD-MPC2 example's --test run (what CI runs) and its argument checks."""

from pathlib import Path

import torch
import train_tdmpc2
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_tdmpc2.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.steps == train_tdmpc2.TEST_SETTINGS["steps"]
    assert result.final_eval["total"] < result.initial_eval["total"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    # The run exists now: a second start must ask for --resume instead of overwriting it.
    run = str(tmp_path / "run")
    assert_usage_error(
        capsys, train_tdmpc2.main, ["--test", "--output-dir", run], f"{run} already holds a run"
    )
    resumed = train_tdmpc2.main(["--test", "--output-dir", str(tmp_path / "run"), "--resume"])
    assert resumed.steps == result.steps and resumed.initial_eval == result.initial_eval


def test_resume_needs_an_output_dir(capsys) -> None:
    assert_usage_error(capsys, train_tdmpc2.parse_args, ["--resume"], "--resume needs --output-dir")


def test_full_run_arguments_are_parsed() -> None:
    args = train_tdmpc2.parse_args(
        "--size 19m --steps 5 --batch-size 16 --seq-len 6 --lr 1e-3 --device cpu".split()
    )
    assert (args.size, args.steps, args.batch_size, args.seq_len, args.lr) == (
        "19m",
        5,
        16,
        6,
        1e-3,
    )
