"""wf-gate's --control options: parsed into the report's settings, bad input a clear error
(exit 2), and `check` naming a failed control gate (exit 1) or passing it (exit 0)."""

import dataclasses
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (registers the "toy" family)
import pytest

from wf_gate.cli import _settings, build_parser, main
from worldflux.gates import MeasureSettings, Report, write_report
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.records import CheckResult
from worldflux.gates.settings import ControlSettings


def parsed(*argv: str) -> MeasureSettings:
    return _settings(build_parser().parse_args(["measure", "--models", "toy:ci", *argv]))


def test_control_options_become_the_settings() -> None:
    settings = parsed(
        "--control",
        "Pendulum-v1:-250",
        "--control-env-steps",
        "2000",
        "--control-seed-steps",
        "500",
        "--control-set",
        "max_episode_steps=100",
        "--control-set",
        'planner_settings={"num_samples": 64}',
    )
    assert settings.control is not None
    control = ControlSettings.from_dict(settings.control)
    assert (control.env_id, control.threshold, control.env_steps, control.seed_steps) == (
        "Pendulum-v1",
        -250.0,
        2000,
        500,
    )
    assert control.max_episode_steps == 100 and control.planner_settings == {"num_samples": 64}
    assert parsed().control is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--control", "Pendulum-v1"], "use ENV:THRESHOLD"),
        (["--control-env-steps", "10"], "need --control ENV:THRESHOLD"),
        (["--control", "Pendulum-v1:0", "--control-set", "threshold=5"], "reserved"),
        (["--control", "Pendulum-v1:0", "--control-set", "stepz=5"], "unknown"),
        (["--control", "Pendulum-v1:0", "--control-seed-steps", "9000"], "exceeds env_steps"),
    ],
)
def test_bad_control_options_exit_2_with_the_reason(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = main(["measure", "--models", "toy:ci", "--output", str(out), *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()  # nothing was measured


def report(tmp_path: Path, means: list[float], threshold: float) -> Path:
    control = ControlSettings("Pendulum-v1", threshold).to_dict()
    settings = MeasureSettings(
        models=["tdmpc2:ci"], seeds=list(range(len(means))), steps=100, control=control
    )
    rep = Report(settings)
    for seed, mean in enumerate(means):
        record = make_record(seed=seed, final=1.0)
        record.checks["control"] = CheckResult(
            mean > threshold, "online run", {"mean_return": mean, "returns": [mean]}
        )
        rep.add(record)
    rep.add(dataclasses.replace(make_record(seed=0, final=1.0), rerun=True))
    return write_report(rep, tmp_path / "r.json")


def test_check_names_a_failed_control_gate(tmp_path: Path, capsys) -> None:
    path = report(tmp_path, [-900.0, -1100.0, -950.0, -1000.0, -980.0], threshold=-250.0)
    assert main(["check", "--input", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL tdmpc2:ci: control: 0/5 seeds above return -250 on Pendulum-v1" in out
    assert "seed 1: mean return -1100.00 <= -250" in out


def test_check_passes_a_reached_control_target(tmp_path: Path, capsys) -> None:
    path = report(tmp_path, [-180.0, -200.0, -150.0, -210.0, -170.0], threshold=-250.0)
    assert main(["check", "--input", str(path)]) == 0
    assert "all gates passed" in capsys.readouterr().out
