"""The DreamerV3 example's --test run (what CI runs) and its argument checks."""

from pathlib import Path

import torch
import train_dreamer
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_and_reloads(tmp_path: Path, capsys) -> None:
    run = str(tmp_path / "run")
    result = train_dreamer.main(["--test", "--output-dir", run])
    assert result.steps == train_dreamer.TEST_SETTINGS["steps"]
    assert result.final_eval["rec"] < result.initial_eval["rec"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    # The run exists now: a second start must ask for --resume instead of overwriting it.
    assert_usage_error(
        capsys, train_dreamer.main, ["--test", "--output-dir", run], f"{run} already holds a run"
    )
    resumed = train_dreamer.main(["--test", "--output-dir", run, "--resume"])
    assert resumed.steps == result.steps and resumed.initial_eval == result.initial_eval


def test_bad_arguments_are_refused(capsys) -> None:
    assert_usage_error(
        capsys, train_dreamer.parse_args, ["--resume"], "--resume needs --output-dir"
    )
    assert_usage_error(
        capsys, train_dreamer.parse_args, ["--seq-len", "1"], "--seq-len must be at least 2"
    )
    assert_usage_error(
        capsys,
        train_dreamer.parse_args,
        ["--size", "size13m"],
        "argument --size: invalid choice: 'size13m'",
    )


def test_full_run_arguments_are_parsed() -> None:
    args = train_dreamer.parse_args(
        "--size size25m --steps 5 --batch-size 8 --seq-len 32 --lr 1e-4 --device cpu".split()
    )
    assert (args.size, args.steps, args.batch_size, args.seq_len, args.lr, args.device) == (
        "size25m",
        5,
        8,
        32,
        1e-4,
        "cpu",
    )
    assert args.warmup is None  # the model's own default (the official 1000) applies
