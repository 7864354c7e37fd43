"""The JEPA example: the quality-gates doc's CI command, the --test runs and argument checks."""

from pathlib import Path

import torch
import train_jepa
from usage_testutil import assert_usage_error

torch.set_num_threads(1)


def test_ci_command_trains_on_vectors_and_the_loss_falls(tmp_path: Path) -> None:
    result = train_jepa.main(
        [
            *"--steps 5 --batch-size 4 --obs-dim 8 --threads 1 --no-progress".split(),
            *["--output-dir", str(tmp_path / "run")],
        ]
    )
    assert result.steps == 5
    assert result.final_eval["representation_loss"] < result.initial_eval["representation_loss"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_a_run_past_the_checkpoint_interval_needs_no_output_dir() -> None:
    # --checkpoint-every defaults to 1000, and the Trainer cannot checkpoint without a
    # directory: without --output-dir the example turns periodic checkpoints off
    argv = "--steps 3 --batch-size 4 --obs-dim 8 --threads 1 --no-progress --checkpoint-every 2"
    assert train_jepa.parse_args(argv.split()).checkpoint_every == 0
    assert train_jepa.parse_args([*argv.split(), "--output-dir", "x"]).checkpoint_every == 2
    assert train_jepa.main(argv.split()).steps == 3  # step 2 would checkpoint


def test_vjepa2_smoke_run_on_video() -> None:
    result = train_jepa.main(["--test", "--family", "vjepa2"])
    assert result.steps == train_jepa.TEST_SETTINGS["steps"]
    assert 0.0 < result.final_eval["mask_ratio"] < 1.0


def test_arguments(capsys) -> None:
    args = train_jepa.parse_args("--size base --steps 7 --device cpu --output-dir out".split())
    assert (args.size, args.steps, args.device, args.output_dir) == ("base", 7, "cpu", "out")
    assert_usage_error(capsys, train_jepa.parse_args, ["--size", "tiny"], "jepa has no size 'tiny'")
    assert_usage_error(capsys, train_jepa.parse_args, ["--obs-dim", "2"], "--obs-dim must be")
