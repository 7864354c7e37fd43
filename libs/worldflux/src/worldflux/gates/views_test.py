"""The novel-view metric and the novel_view gate kind: a renderer that draws the true views
scores zero error and full skill, one that copies the input view scores exactly the copy
baseline, frames of another scene are never scored; the kind demands skill over *both*
baselines and a falling novel-view error; renderer3d on the vector `noise` data fails with a
clear reason."""

from pathlib import Path

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.core import Batch, ConditionPayload, LatentState
from worldflux.gates.backend import LibraryBackend
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.jobs import Job
from worldflux.gates.kinds import GATE_KINDS
from worldflux.gates.records import MetricSkill
from worldflux.gates.runner import execute
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.skill import Baselines, Predictions, Window
from worldflux.gates.views import novel_view_metric

GATES = GateSettings()


class Oracle:
    """Renders the window's true frame for each pose it is asked (poses are frame indices), or
    the last observed view when `copy` is set."""

    def __init__(self, obs: torch.Tensor, context_end: int, copy: bool = False) -> None:
        self.obs, self.c, self.copy = obs, context_end, copy

    def camera_poses(self, actions: torch.Tensor) -> torch.Tensor:
        return actions[..., 0]

    def render(self, state: LatentState, condition: ConditionPayload) -> torch.Tensor:
        assert condition.camera_pose is not None
        index = condition.camera_pose.long()
        if self.copy:
            index = torch.full_like(index, self.c)
        return self.obs[torch.arange(len(index)), index]


def window(starts_new_episode_at: int | None = None) -> Window:
    b, t = 3, 6
    obs = torch.rand(b, t, 3, 8, 8)
    # action h of the future = the index of the frame it leads to, so Oracle knows the frame
    actions = torch.arange(1, t + 1, dtype=torch.float32).expand(b, t)[..., None].clone()
    is_first = torch.zeros(b, t, dtype=torch.bool)
    if starts_new_episode_at is not None:
        is_first[:, starts_new_episode_at] = True
    batch = Batch(obs, actions, torch.zeros(b, t), torch.ones(b, t), is_first, {})
    return Window(batch, horizon=3)


def measure(w: Window, copy: bool) -> dict[str, tuple[float, int]]:
    c = w.context_end
    model = Oracle(w.batch.obs, c, copy)
    baselines = Baselines(obs_mean=torch.full((3, 8, 8), 0.5), reward_mean=0.0)
    state = LatentState({"scene": torch.zeros(3, 1)})
    pred = Predictions(model=model, state=state, actions=w.future_actions)  # type: ignore[arg-type]
    errors = novel_view_metric(w, pred, baselines)
    assert errors is not None
    return errors


def test_true_views_score_zero_and_copies_score_the_copy_baseline() -> None:
    w = window()
    exact = measure(w, copy=False)
    assert exact["model"][0] == 0.0 and exact["model"][1] == 3 * 3 * 3 * 64
    copied = measure(w, copy=True)
    assert copied["model"] == copied["copy_input"]
    assert copied["mean"][0] > 0.0


def test_frames_of_another_scene_are_not_scored() -> None:
    w = window(starts_new_episode_at=4)  # c = 2: frame 3 is the same scene, 4 and 5 are not
    assert w.context_end == 2
    assert measure(w, copy=False)["model"][1] == 3 * 1 * 3 * 64


def test_models_without_the_capability_are_not_measured() -> None:
    w = window()
    baselines = Baselines(obs_mean=torch.zeros(3, 8, 8), reward_mean=0.0)
    state = LatentState({"scene": torch.zeros(3, 1)})
    pred = Predictions(model=object(), state=state, actions=w.future_actions)  # type: ignore[arg-type]
    assert novel_view_metric(w, pred, baselines) is None


def skill(model: float, mean: float, copy: float) -> dict[str, MetricSkill]:
    return {"novel_view": MetricSkill(model, {"mean": mean, "copy_input": copy}, 2 * model)}


def test_the_kind_needs_skill_over_both_baselines_and_a_falling_error() -> None:
    check = GATE_KINDS.get("novel_view").check
    falling: dict = {
        "metrics_before": {"novel_view_error": 0.02},
        "metrics_after": {"novel_view_error": 0.01},
    }
    good = make_record(gate_kind="novel_view", skill=skill(0.010, 0.020, 0.030), **falling)
    assert check(good, GATES) == []
    near_copy = make_record(gate_kind="novel_view", skill=skill(0.010, 0.020, 0.0105), **falling)
    reasons = check(near_copy, GATES)
    assert len(reasons) == 1 and "copy_input" in reasons[0], reasons
    rising = make_record(
        gate_kind="novel_view",
        skill=skill(0.010, 0.020, 0.030),
        metrics_before={"novel_view_error": 0.01},
        metrics_after={"novel_view_error": 0.02},
    )
    assert any("did not fall" in r for r in check(rising, GATES))
    unmeasured = make_record(gate_kind="novel_view", skill={}, **falling)
    assert any("no novel_view prediction metric" in r for r in check(unmeasured, GATES))


@pytest.mark.parametrize("dataset", ["noise"])
def test_renderer3d_on_vector_noise_fails_with_a_clear_reason(dataset: str, tmp_path: Path) -> None:
    settings = MeasureSettings(
        models=["renderer3d:ci"],
        seeds=[0],
        steps=1,
        batch_size=2,
        seq_len=4,
        eval_batches=1,
        curve_points=0,
        datasets={"renderer3d": dataset},
        checks=[],
    )
    job = Job("renderer3d:ci", dataset, 0)
    record = execute(job, settings, GATES, LibraryBackend(), None, tmp_path)
    assert record.status == "error"
    assert "renderer3d takes images [C, H, W]" in (record.error or ""), record.error
    assert GATE_KINDS.get("novel_view").check(record, GATES)
