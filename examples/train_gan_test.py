"""The GAN example's --test run (both optimizers, stability measures printed) and a config
override."""

from pathlib import Path

import torch
import train_gan

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_trains_imagines_plans_and_reloads(tmp_path: Path, capsys) -> None:
    result = train_gan.main(["--test", "--output-dir", str(tmp_path / "run")])
    assert result.final_eval["next_obs"] < result.initial_eval["next_obs"]
    assert {"d_accuracy", "d_margin", "spread_ratio"} <= set(result.final_eval)
    out = capsys.readouterr().out
    assert "held-out d_accuracy" in out and "saved model reloads identically: True" in out


def test_config_overrides_reach_the_model() -> None:
    args = train_gan.parse_args(train_gan.EXAMPLE, None, ["--config", "disc_lr=0.004"])
    assert args.config_overrides == {"disc_lr": 0.004}
