import dataclasses
import json
from pathlib import Path

import numpy as np
import plugin_family.toy_family  # noqa: F401  (registers the "toy" family)
import pytest
import torch

from wf_gate import models
from wf_gate.cli import main
from worldflux.gates import GateSettings, MeasureSettings, Report, write_report
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.jobs import Shard
from worldflux.gates.records import CheckResult

SETTINGS = MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1, 2, 3, 4], steps=100)


def write(path: Path, finals: list[float], **kwargs) -> Path:
    report = Report(SETTINGS, **kwargs)
    for seed, final in enumerate(finals):
        report.add(make_record(seed=seed, final=final))
    report.add(make_record(seed=0, final=finals[0], rerun=True))
    return write_report(report, path)


def test_version_prints_library_and_torch(capsys) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("worldflux ")
    assert torch.__version__ in out


def test_check_passes_a_good_report(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.02, 0.98, 1.0, 1.01])
    assert main(["check", "--input", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all gates passed" in out and "(5/5 seeds succeeded" in out
    assert "[1.00, 1.00]" in out and "[0.478, 1.000]" in out  # bootstrap vs exact


def test_check_exits_1_and_says_which_gate_and_why(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.0, 1.0, 1.95, 1.97])
    assert main(["check", "--input", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL tdmpc2:ci: common: success rate 3/5 = 60% is below 80%" in out
    assert (
        "FAIL tdmpc2:ci: common: seed 4: held-out loss drop 1.5% is below the 10% threshold" in out
    )
    # Loosening a threshold re-judges the same runs.
    assert main(["check", "--input", str(path), "--min-loss-drop=0.01", "--max-seed-cv=1"]) == 0


def test_check_fails_an_incomplete_shard(tmp_path: Path, capsys) -> None:
    report = Report(SETTINGS, shard=Shard(0, 2))
    report.add(make_record(seed=0))
    path = write_report(report, tmp_path / "shard.json")
    assert main(["check", "--input", str(path)]) == 1
    assert "incomplete: no record for seed(s) 2, 4" in capsys.readouterr().out


def test_bad_input_is_exit_2_with_the_reason(tmp_path: Path, capsys) -> None:
    assert main(["check", "--input", str(tmp_path / "missing.json")]) == 2
    assert "report file does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, "runs": [')
    assert main(["check", "--input", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["estimate", "--input", str(broken), "--workers", "x"])


def test_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.0, 1.0, 1.0, 1.9])
    assert main(["report", "--input", str(path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "| tdmpc2:ci | pendulum | 5/5 | 80% (4/5) | " in text
    assert "[0.284, 0.995]" in text
    assert "tdmpc2:ci: family: 4/5 seeds meet" in text
    assert "![loss_curves](loss_curves.png)" in text
    for name in ("loss_curves", "success_rates"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()


def test_estimate_prints_each_scenario(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0] * 5)
    assert main(["estimate", "--input", str(path), "--scenarios", "5x5000,10x20000"]) == 0
    out = capsys.readouterr().out
    # make_record: 100 steps in 8 s -> 0.08 s/step; 5 x 5000 steps = 2000 s of training.
    assert "0.0800" in out and "33m20s" in out
    assert "5x5000: all models" in out and "10x20000: all models" in out
    assert main(["estimate", "--input", str(path), "--scenarios", "5y5"]) == 2


def test_merge_combines_shards(tmp_path: Path, capsys) -> None:
    paths = []
    for index in range(2):
        report = Report(SETTINGS, shard=Shard(index, 2))
        for job_id in report.planned_ids():
            seed = int(job_id.split("/seed")[1].split("/")[0])
            report.add(make_record(seed=seed, rerun=job_id.endswith("rerun")))
        paths.append(write_report(report, tmp_path / f"s{index}.json"))
    out = tmp_path / "merged.json"
    assert main(["merge", *map(str, paths), "--output", str(out)]) == 0
    assert "merged 2 report(s), 6 run(s)" in capsys.readouterr().out
    assert main(["check", "--input", str(out)]) == 0
    assert json.loads(out.read_text())["shard"] is None


def test_models_resolve_families_aliases_and_sizes() -> None:
    assert models.resolve_models(["toy"], "ci") == ["toy:ci"]
    assert models.resolve_models(["toy-wide"], "ci") == ["toy:ci"]  # alias names the family
    assert models.resolve_models(["toy:wide", "toy"], "ci") == ["toy:wide", "toy:ci"]
    with pytest.raises(KeyError, match="toy has no size 'huge'"):
        models.resolve_models(["toy"], "huge")
    with pytest.raises(KeyError, match="did you mean 'toy'"):
        models.resolve_models(["tyo"], "ci")
    assert models.datasets_for(["toy:ci"], {}) == {"toy": "pendulum"}
    assert models.datasets_for(["toy:ci"], models.parse_dataset_overrides(["toy=cartpole"])) == {
        "toy": "cartpole"
    }
    with pytest.raises(ValueError, match="FAMILY=DATASET"):
        models.parse_dataset_overrides(["toy"])
    assert models.parse_config_overrides(["toy-wide.hidden_dim=64", 'toy.size="x"']) == {
        "toy": {"hidden_dim": 64, "size": "x"}
    }
    with pytest.raises(ValueError, match="unknown toy config key 'hiden_dim'.*did you mean"):
        models.parse_config_overrides(["toy.hiden_dim=3"])
    with pytest.raises(ValueError, match="FAMILY.FIELD=VALUE"):
        models.parse_config_overrides(["toy=3"])
    assert models.parse_family_steps(["toy-wide=7"]) == {"toy": 7}
    for bad in ("toy", "toy=0", "toy=x"):
        with pytest.raises(ValueError, match="FAMILY=STEPS"):
            models.parse_family_steps([bad])
    assert models.resolve_device("cpu") == "cpu"
    assert models.resolve_device("auto") in ("cpu", "cuda")


def test_planner_failures_are_named(tmp_path: Path, capsys) -> None:
    report = Report(SETTINGS, GateSettings())
    for seed in range(5):
        record = make_record(seed=seed)
        if seed == 2:
            record.checks["planner"] = CheckResult(False, "ValueError: no objective")
        report.add(record)
    report.add(make_record(seed=0, rerun=True))
    path = write_report(report, tmp_path / "r.json")
    assert main(["check", "--input", str(path)]) == 1
    assert "FAIL tdmpc2:ci: planner: seed 2: ValueError: no objective" in capsys.readouterr().out


TINY = ["--steps=2", "--seeds=0", "--eval-batches=1", "--curve-points=1", "--checks=contract"]
TINY += ["--import=worldflux.gates.fakes_testutil", "--backend=test-loop", "--workers=0"]
TINY += ["--no-progress", "--no-rerun"]


def test_measure_writes_the_report_with_its_summary_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "a" / "seed_runs.json"
    assert main(["measure", "--models=toy", *TINY, f"--output={out}"]) == 0
    assert json.loads(out.read_text())["runs"][0]["run_id"] == "toy:ci/seed0"
    assert {"summary.md", "loss_curves.png", "loss_curves.svg"} <= {
        p.name for p in out.parent.iterdir()
    }
    quiet = tmp_path / "b" / "seed_runs.json"
    assert main(["measure", "--models=toy", *TINY, f"--output={quiet}", "--no-report"]) == 0
    assert [p.name for p in quiet.parent.iterdir()] == ["seed_runs.json"]


def test_demo_measures_reports_and_records_its_short_run_config(tmp_path: Path, capsys) -> None:
    args = [*TINY, f"--output-dir={tmp_path}"]
    code = main(["demo", "--models=dreamer,toy", *args])
    out = capsys.readouterr().out
    # Two training steps cannot give prediction skill: the demo fails and says where.
    assert code == 1, out
    assert "FAIL toy:ci: common: seed 0: obs skill" in out
    assert "FAIL dreamerv3:ci: common: seed 0: reward skill" in out
    assert out.count("quality gates") == 1  # the summary table once, not again by the check
    report = json.loads((tmp_path / "seed_runs.json").read_text())
    assert report["settings"]["overrides"] == {"dreamerv3": {"lr": 1e-3, "warmup": 0}}
    # The demo judges the seeds it ran (one here), and says it is no release verdict.
    assert report["gate_settings"]["min_seeds"] == 1
    assert (
        "Config overrides for dreamerv3: `lr=0.001`, `warmup=0`"
        in (tmp_path / "summary.md").read_text()
    )
    # Only for the families measured.
    assert main(["demo", "--models=toy", *args]) == 1
    assert json.loads((tmp_path / "seed_runs.json").read_text())["settings"]["overrides"] == {}


def test_fewer_seeds_than_the_policy_is_insufficient_evidence_exit_3(
    tmp_path: Path, capsys
) -> None:
    report = Report(MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1, 2, 3], steps=100))
    for seed in range(4):
        report.add(make_record(seed=seed))
    report.add(make_record(seed=0, rerun=True))
    path = write_report(report, tmp_path / "r.json")
    assert main(["check", "--input", str(path)]) == 3
    out = capsys.readouterr().out
    assert "NOT MEASURED tdmpc2:ci: evidence: insufficient evidence: 4 seed(s)" in out
    assert "verdict tdmpc2:ci: INSUFFICIENT EVIDENCE (4/4 seeds succeeded" in out
    assert "all gates passed" not in out
    # Just enough seeds, as a shorter policy: a verdict. A recorded --min-seeds never carries
    # over: a release check asks for the policy's 5 unless told otherwise.
    assert main(["check", "--input", str(path), "--min-seeds=4"]) == 0
    report.gate_settings = GateSettings(min_seeds=4)
    write_report(report, path)
    assert main(["check", "--input", str(path)]) == 3
    # A failing gate wins over missing evidence.
    report.runs["tdmpc2:ci/seed1"] = make_record(seed=1, final=1.95)
    write_report(report, path)
    assert main(["check", "--input", str(path)]) == 1


def test_check_prints_the_exact_lower_bound_and_can_gate_on_it(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0] * 5)
    assert main(["check", "--input", str(path)]) == 0
    assert "exact 95% lower bound of the success rate 0.478" in capsys.readouterr().out
    assert main(["check", "--input", str(path), "--min-ci-low=0.478"]) == 0
    assert main(["check", "--input", str(path), "--min-ci-low=0.48"]) == 1
    out = capsys.readouterr().out
    assert "exact 95% lower bound of the success rate 0.478 is below the required 0.480" in out


def test_every_threshold_is_an_option_and_recorded(tmp_path: Path) -> None:
    from wf_gate.cli import build_parser

    options = set(vars(build_parser().parse_args(["check"])))
    assert {f.name for f in dataclasses.fields(GateSettings)} <= options
    out = tmp_path / "seed_runs.json"
    assert (
        main(
            [
                "measure",
                "--models=toy",
                *TINY,
                f"--output={out}",
                "--no-report",
                "--min-skill=0.3",
                "--min-action-gain=0.2",
                "--no-require-identical-on-cpu",
            ]
        )
        == 0
    )
    recorded = json.loads(out.read_text())["gate_settings"]
    assert recorded["min_skill"] == 0.3 and recorded["min_action_gain"] == 0.2
    assert recorded["require_identical_on_cpu"] is False


def test_unlearnable_noise_fails_with_the_metric_and_its_skill(tmp_path: Path, capsys) -> None:
    out = tmp_path / "seed_runs.json"
    args = [
        "measure",
        "--models=toy",
        "--dataset=toy=noise",
        *TINY,
        f"--output={out}",
        "--steps=40",
    ]
    assert main([*args, "--no-report"]) == 0
    assert main(["check", "--input", str(out), "--min-seeds=1"]) == 1
    text = capsys.readouterr().out
    assert "FAIL toy:ci: common: seed 0: obs skill -" in text
    assert "FAIL toy:ci: common: seed 0: reward skill -" in text
    assert "FAIL toy:ci: action_dependence: seed 0: predictions barely depend" in text


def test_measure_on_the_users_own_npz_and_refuses_a_broken_one(tmp_path: Path, capsys) -> None:
    from worldflux.datasets import load_dataset

    episodes = load_dataset("pendulum", "heldout").episodes
    good = tmp_path / "mine.npz"
    np.savez(
        good,
        obs=episodes.obs,
        actions=episodes.actions,
        rewards=episodes.rewards,
        is_first=episodes.is_first,
    )
    out = tmp_path / "seed_runs.json"
    args = ["measure", "--models=toy", *TINY, f"--output={out}", "--no-report"]
    assert main([*args, f"--dataset=toy={good}"]) == 0
    data = json.loads(out.read_text())
    assert data["settings"]["datasets"] == {"toy": str(good)}
    assert data["runs"][0]["status"] == "ok", data["runs"][0]["error"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, obs=episodes.obs, actions=episodes.actions, is_first=episodes.is_first)
    assert main([*args, "--overwrite", f"--dataset=toy={bad}"]) == 2
    assert "missing array(s) rewards" in capsys.readouterr().err


def test_the_seed_docs_commands_work_as_written() -> None:
    from wf_gate.cli import _settings, build_parser

    args = build_parser().parse_args(
        "measure --models dreamer,tdmpc2 --seeds 0,1,2,3,4 --steps 5000 --device auto".split()
    )
    settings = _settings(args)
    assert settings.models == ["dreamerv3:ci", "tdmpc2:ci"]
    assert settings.seeds == [0, 1, 2, 3, 4] and settings.steps == 5000
    assert settings.device in ("cpu", "cuda") and settings.schedule == "constant"
    assert settings.overrides == {} and settings.family_steps == {}  # each family's own config
    args = build_parser().parse_args(
        [
            "estimate",
            "--input",
            "seed_runs.json",
            "--scenarios",
            "5x5000,7x10000,10x10000,7x20000,10x20000",
        ]
    )
    assert args.command == "estimate" and args.scenarios.count("x") == 5


def test_contract_command_passes_a_sound_family_and_fails_a_broken_one(capsys) -> None:
    from plugin_family.toy_family import ToyConfig, ToyWorldModel

    from worldflux.core import register_family
    from worldflux.core.registry import FAMILIES

    assert main(["contract", "--models", "toy"]) == 0
    out = capsys.readouterr().out
    for check in ("contract", "save_load_parity", "planner", "served", "trainer_step"):
        assert f"pass toy:ci: {check}:" in out

    class Shapeless(ToyWorldModel):
        def encode(self, obs, condition=None):  # type: ignore[no-untyped-def]
            state = super().encode(obs, condition)
            return type(state)({"z": state["z"][:, :-1]})

    register_family(
        "shapeless",
        model_class=Shapeless,
        config_class=ToyConfig,
        sizes={"ci": {}},
        default_size="ci",
    )
    try:
        assert main(["contract", "--models", "shapeless"]) == 1
    finally:
        FAMILIES.unregister("shapeless")
    assert "FAIL shapeless:ci: contract: RuntimeError" in capsys.readouterr().out


def test_reference_means_the_families_that_declare_the_reference_kind() -> None:
    assert models.resolve_models(["reference"], "ci") == ["dreamerv3:ci", "tdmpc2:ci"]
    assert "toy:ci" in models.resolve_models(["all"], "ci")
