"""The control example's --test run (what CI runs): a few dozen env steps on Pendulum-v1 that
write the returns plot, CSVs, TensorBoard events and an evaluation GIF, then resume."""

from pathlib import Path

import control
import torch
from PIL import Image  # pants: no-infer-dep (Pillow comes with matplotlib)

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_smoke_run_writes_plot_logs_gif_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = control.main(["--test", "--output-dir", str(out)])
    settings = control.TEST_SETTINGS
    assert result["env_steps"] == settings["env_steps"]
    assert result["updates"] == settings["env_steps"] - settings["seed_steps"]  # UTD 1
    # 48 steps of 12-step episodes: 4 episodes, each logged with its return.
    lines = (out / "episodes.csv").read_text().splitlines()
    assert lines[0] == "env_step,return,length" and len(lines) == 1 + 4
    assert [int(line.split(",")[0]) for line in lines[1:]] == [12, 24, 36, 48]
    evals = (out / "eval.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in evals[1:]] == [24, 48]
    assert Image.open(out / "returns.png").size[0] > 100
    gif = Image.open(out / "eval.gif")
    assert getattr(gif, "n_frames", 1) == settings["max_episode_steps"] // 2  # every second frame
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    # The same command again finds the finished run and adds nothing to it.
    again = control.main(["--test", "--output-dir", str(out), "--no-gif"])
    assert again["env_steps"] == result["env_steps"] and again["updates"] == result["updates"]
    assert (out / "episodes.csv").read_text().splitlines() == lines


def test_defaults_follow_the_issue_command() -> None:
    args = control.parse_args(["--env", "CartPole-v1", "--model", "dreamerv3:size1m"])
    config = control.online_config(args)
    assert (config.env_id, config.model, config.total_env_steps) == (
        "CartPole-v1",
        "dreamerv3:size1m",
        15_000,
    )
    assert config.seq_len == 16 and config.eval_every == 1500
    tdmpc2 = control.online_config(control.parse_args(["--env", "Pendulum-v1"]))
    assert tdmpc2.seq_len == 4 and tdmpc2.model_overrides["discount"] == 0.975
