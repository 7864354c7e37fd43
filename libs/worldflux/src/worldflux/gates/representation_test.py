"""The representation metric cannot be fooled: joint-embedding families trained on data with
nothing to learn (i.i.d. noise) show no held-out skill, although their training objective falls
(a target encoder attends over the whole input, so context alone predicts much of a target
feature: the `context` baseline takes that away)."""

from pathlib import Path

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.gates.backend import LibraryBackend
from worldflux.gates.criteria import action_dependence, is_success, skill_problems
from worldflux.gates.jobs import Job
from worldflux.gates.runner import execute
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.skill import METRICS

torch.set_num_threads(1)
GATES = GateSettings()


@pytest.mark.parametrize("family", ["jepa", "vjepa2", "vjepa2-ac"])
def test_noise_shows_no_representation_skill(family: str, tmp_path: Path) -> None:
    assert "representation" in METRICS
    settings = MeasureSettings(
        models=[f"{family}:ci"],
        seeds=[0],
        steps=60,
        batch_size=16,
        seq_len=12,
        eval_batches=2,
        curve_points=0,
        datasets={family: "noise"},
        checks=["planner"],
    )
    record = execute(
        Job(f"{family}:ci", "noise", 0), settings, GATES, LibraryBackend(), None, tmp_path
    )
    assert record.status == "ok", record.error
    assert record.loss_drop is not None and record.loss_drop > 0.0  # the objective fell
    metric = record.skill["representation"]
    assert metric.primary and metric.skill < GATES.min_skill, metric
    assert not is_success(record, GATES)
    assert any("representation skill" in p for p in skill_problems(record, GATES))
    planner = record.checks["planner"]
    if family == "vjepa2-ac":  # plans towards a goal
        assert planner.passed is True, planner
        assert action_dependence(record, GATES)[0] is False  # nothing to learn from actions
    else:  # takes no actions: no planner applies, and neither does the action gate
        assert planner.passed is None and "none actions" in planner.detail, planner
        assert action_dependence(record, GATES) == (None, "seed 0: the model takes no actions")


class _Stub:
    """predict_targets with a prediction off by 0.5, copy-last off by 1 and, when asked, a
    further baseline off by 0.1."""

    def __init__(self, extra: bool) -> None:
        self.extra = extra

    def predict_targets(self, obs, actions, context_end):
        target = obs[:, context_end + 1].reshape(-1, 4)
        out = {"predicted": target + 0.5, "target": target, "context": target + 1.0}
        if self.extra:
            out["position_mean"] = target + 0.1
        return out


@pytest.mark.parametrize("extra", [False, True])
def test_a_models_further_baselines_are_scored(extra: bool) -> None:
    from worldflux.core import Batch
    from worldflux.gates.representation import representation_metric
    from worldflux.gates.skill import Baselines, Predictions, Window

    obs = torch.rand(3, 5, 4)
    batch = Batch(
        obs,
        torch.zeros(3, 5, 1),
        torch.zeros(3, 5),
        torch.ones(3, 5),
        torch.zeros(3, 5, dtype=torch.bool),
    )
    pred = Predictions(model=_Stub(extra), actions=torch.zeros(3, 2, 1))  # type: ignore[arg-type]
    errors = representation_metric(Window(batch, 2), pred, Baselines(obs.mean((0, 1)), 0.0))
    assert errors is not None
    assert errors["model"][0] < errors["context"][0]
    if extra:  # the further baseline is scored and is the best one: the model shows no skill
        assert errors["position_mean"][0] < errors["model"][0]
    else:
        assert set(errors) == {"model", "mean", "context"}
