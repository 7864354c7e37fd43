"""The Renderer3D example: the --test smoke run (trains, renders novel views through
ConditionPayload, reloads) and its arguments."""

from pathlib import Path

import torch
import train_renderer3d
from usage_testutil import assert_usage_error

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_renders_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_renderer3d.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.steps == train_renderer3d.TEST_SETTINGS["steps"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "novel views through ConditionPayload: model" in out
    assert "saved model reloads identically: True" in out


def test_arguments(capsys) -> None:
    args = train_renderer3d.parse_args("--size base --steps 7 --device cpu --output-dir o".split())
    assert (args.size, args.steps, args.device, args.output_dir) == ("base", 7, "cpu", "o")
    assert_usage_error(capsys, train_renderer3d.parse_args, ["--size", "xl"], "invalid choice")
    assert_usage_error(capsys, train_renderer3d.parse_args, ["--seq-len", "2"], "--seq-len")
