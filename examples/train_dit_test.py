"""The DiT example's --test run on the bundled pendulum pixels."""

from pathlib import Path

import torch
import train_dit

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_dit.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.final_eval["denoise_error"] < result.initial_eval["denoise_error"]
    out = capsys.readouterr().out
    assert "pendulum-pixels obs [3, 64, 64]" in out or "pendulum-pixels obs" in out
    assert "imagined 5 steps" in out and "saved model reloads identically: True" in out
