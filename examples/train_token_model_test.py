"""The token example's --test run, the command the quality-gates doc runs, and its arguments."""

from pathlib import Path

import pytest
import torch
import train_token_model
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_token_model.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.steps == train_token_model.TEST_SETTINGS["steps"]
    assert result.final_eval["token_ce"] < result.initial_eval["token_ce"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "imagined 5 steps" in out and "saved model reloads identically: True" in out


def test_the_documented_command_with_a_small_codebook(capsys) -> None:
    argv = "--steps 5 --batch-size 4 --seq-len 8 --vocab-size 32 --size ci --no-progress"
    result = train_token_model.main([*argv.split(), "--eval-batches", "1", "--threads", "1"])
    assert result.steps == 5
    assert "-> 4 tokens of 32" in capsys.readouterr().out


def test_token_datasets_bring_their_vocabulary(capsys) -> None:
    with pytest.raises(SystemExit, match="holds tokens"):
        train_token_model.main("--dataset tokens --vocab-size 32 --steps 1".split())


def test_arguments(capsys) -> None:
    args = train_token_model.parse_args("--size base --steps 7 --device cpu --lr 1e-3".split())
    assert (args.size, args.steps, args.lr, args.vocab_size) == ("base", 7, 1e-3, None)
    assert_usage_error(capsys, train_token_model.parse_args, ["--seq-len", "1"], "--seq-len")
    assert_usage_error(capsys, train_token_model.parse_args, ["--resume"], "--resume needs")
