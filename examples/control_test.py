"""The control example's --test run (what CI runs): a few dozen env steps on Pendulum-v1 that
write the returns plot, CSVs, TensorBoard events and an evaluation GIF, then resume."""

from pathlib import Path

import control
import pytest
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


def test_dreamerv3_acts_by_its_actor_with_dreamer_like_defaults() -> None:
    args = control.parse_args(["--env", "CartPole-v1", "--model", "dreamerv3:size1m"])
    config = control.online_config(args)
    # Train ratio 64 replayed steps per env step over batch 16 x length 16: UTD 0.25.
    assert (config.planner, config.batch_size, config.seq_len) == ("actor", 16, 16)
    assert config.utd_ratio == 64 / (16 * 16) and config.pixels == 0
    ratio = control.online_config(
        control.parse_args(["--model", "dreamerv3:ci", "--train-ratio", "512", "--pixels", "64"])
    )
    assert ratio.utd_ratio == 2.0 and ratio.pixels == 64
    planned = control.online_config(
        control.parse_args(["--env", "CartPole-v1", "--model", "dreamerv3:ci", "--planner", "auto"])
    )
    assert (planned.planner, planned.batch_size, planned.utd_ratio) == ("auto", 256, 1.0)
    tdmpc2 = control.online_config(control.parse_args(["--model", "tdmpc2:ci"]))
    assert tdmpc2.planner == "auto" and tdmpc2.utd_ratio == 1.0
    with pytest.raises(SystemExit):
        control.parse_args(["--utd", "1", "--train-ratio", "32"])
