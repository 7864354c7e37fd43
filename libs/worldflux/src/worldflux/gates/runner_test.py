"""One seed run of the toy family (tests/plugin_family) on the bundled pendulum data."""

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel  # registers the "toy" family

from worldflux.core import PLANNER_HORIZON_KEY, ActionPayload, create_world_model
from worldflux.core.spec import ActionKind
from worldflux.gates.backend import LibraryBackend
from worldflux.gates.checks import (
    check_payload,
    contract_check,
    planner_check,
    save_load_parity,
)
from worldflux.gates.criteria import is_success
from worldflux.gates.evaluation import curve_steps
from worldflux.gates.fakes_testutil import DivergingBackend, LoopBackend
from worldflux.gates.jobs import Job
from worldflux.gates.runner import execute
from worldflux.gates.settings import GateSettings, MeasureSettings

SETTINGS = MeasureSettings(
    models=["toy:ci"],
    seeds=[0, 1],
    steps=60,
    batch_size=8,
    seq_len=8,
    eval_batches=2,
    curve_points=3,
    checks=["contract", "save_load_parity"],
)
JOB = Job("toy:ci", "pendulum", 0)


def test_a_seed_run_records_heldout_losses_timing_and_checks(tmp_path: Path) -> None:
    seen: list[int] = []
    record = execute(
        JOB,
        SETTINGS,
        GateSettings(),
        LoopBackend(),
        lambda _, step, __: seen.append(step),
        tmp_path,
    )
    assert record.status == "ok", record.error
    assert record.dataset == "pendulum" and record.gate_kind == "generic"
    assert seen == list(range(1, 61))
    assert record.steps_done == 60 and record.steps_per_second > 0
    assert record.train_seconds > 0 and record.eval_seconds > 0
    assert record.seconds >= record.train_seconds + record.eval_seconds
    assert record.peak_memory_bytes > 10 * 2**20 and record.peak_memory_kind == "rss"
    assert record.initial is not None and record.final is not None
    assert record.loss_drop is not None
    assert set(record.initial.components) == {"recon", "dynamics", "reward"}
    # The toy model learns pendulum states: the held-out loss falls.
    assert record.final.total < record.initial.total and record.loss_drop > 0.1
    assert record.finite
    # Prediction skill: both metrics the toy family's interface supports, on every held-out
    # window entry (batches x batch x horizon), against baselines fitted on the train split.
    assert set(record.skill) == {"obs", "reward"}
    obs, reward = record.skill["obs"], record.skill["reward"]
    assert obs.primary and reward.primary and obs.finite and reward.finite
    assert set(obs.baselines) == {"mean", "copy_last"}
    assert set(reward.baselines) == {"mean", "last_reward"}
    assert obs.shuffled_error is not None and obs.shuffled_error != obs.model_error
    assert record.success == is_success(record, GateSettings())
    assert [s for s, _ in record.curve] == [0, *curve_steps(60, 3), 60]
    assert record.curve[0][1] == record.initial.total and record.curve[-1][1] == record.final.total
    assert record.checks["contract"].passed, record.checks["contract"].detail
    parity = record.checks["save_load_parity"]
    assert parity.passed and parity.values["max_abs_diff"] == 0.0
    assert "planner" not in record.checks  # not asked for


def test_the_library_backend_trains_with_the_generic_trainer(tmp_path: Path) -> None:
    steps: list[int] = []
    record = execute(
        JOB, SETTINGS, GateSettings(), LibraryBackend(), lambda _, s, __: steps.append(s), tmp_path
    )
    again = execute(JOB, SETTINGS, GateSettings(), LibraryBackend(), None, tmp_path)
    assert record.status == "ok", record.error
    assert steps == list(range(1, 61)) and record.steps_done == 60
    assert 0 < record.train_seconds < record.seconds
    assert record.initial is not None and record.final is not None
    assert record.final.total < record.initial.total
    assert record.final == again.final  # deterministic mode on CPU: bit for bit


def test_runs_are_deterministic_on_cpu_and_seeds_differ(tmp_path: Path) -> None:
    a = execute(JOB, SETTINGS, GateSettings(), LoopBackend(), None, tmp_path)
    b = execute(JOB, SETTINGS, GateSettings(), LoopBackend(), None, tmp_path)
    c = execute(
        Job("toy:ci", "pendulum", 1), SETTINGS, GateSettings(), LoopBackend(), None, tmp_path
    )
    assert a.initial == b.initial and a.final == b.final and a.curve == b.curve
    assert a.initial != c.initial


def test_config_overrides_reach_the_model(tmp_path: Path) -> None:
    wide = MeasureSettings(
        **{**SETTINGS.to_dict(), "steps": 2, "overrides": {"toy": {"hidden_dim": 64}}}
    )
    a = execute(JOB, SETTINGS, GateSettings(), LoopBackend(), None, tmp_path)
    b = execute(JOB, wide, GateSettings(), LoopBackend(), None, tmp_path)
    assert b.status == "ok" and b.num_parameters > a.num_parameters


def test_a_diverging_run_is_recorded_not_raised(tmp_path: Path) -> None:
    record = execute(JOB, SETTINGS, GateSettings(), DivergingBackend(), None, tmp_path)
    assert record.status == "nonfinite" and not record.finite and not record.success
    assert "loss component 'total' is" in str(record.error) and record.final is None
    assert record.initial is not None and math.isfinite(record.initial.total)


def test_a_broken_dataset_is_an_error_record(tmp_path: Path) -> None:
    record = execute(
        Job("toy:ci", "no-such-data", 0), SETTINGS, GateSettings(), LoopBackend(), None, tmp_path
    )
    assert record.status == "error" and "no-such-data" in str(record.error)
    assert not record.success and record.seconds > 0


def heldout_batch():
    from worldflux.datasets import load_dataset

    return load_dataset("pendulum", "heldout").sample(4, 5, torch.Generator().manual_seed(0))


def test_save_load_parity_catches_a_model_that_does_not_round_trip(tmp_path: Path) -> None:
    model = create_world_model("toy:ci", obs_shape=(3,), action_dim=1)
    batch = heldout_batch()
    assert save_load_parity(model, batch, 1e-5, 1e-5, tmp_path).passed
    # A buffer that is not saved: after reload the outputs differ.
    model.register_buffer("bias", torch.ones(1), persistent=False)
    original_encode = model.encode

    def encode(obs, condition=None):
        state = original_encode(obs, condition)
        return state.map(lambda t: t + model.bias)

    model.encode = encode  # type: ignore[method-assign]
    model.bias.fill_(3.0)
    result = save_load_parity(model, batch, 1e-5, 1e-5, tmp_path)
    assert result.passed is False and "encode.z: max abs diff 3" in result.detail
    assert result.values["max_abs_diff"] >= 3.0


class LyingToy(ToyWorldModel):
    """Claims an 8-wide latent while producing the configured 16."""

    @property
    def spec(self):  # type: ignore[override]
        return dataclasses.replace(super().spec, latent={"z": (8,)})


def test_contract_check_reports_shape_lies() -> None:
    batch = heldout_batch()
    assert contract_check(ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1)), batch).passed
    result = contract_check(LyingToy(ToyConfig(obs_shape=(3,), action_dim=1)), batch)
    assert result.passed is False
    assert "encode.z has shape [4, 16], spec says [4, 8]" in result.detail
    assert "rollout.z has shape [8, 3, 16], spec says [8, 3, 8]" in result.detail


@pytest.mark.parametrize(
    "kind, dim, shape", [("continuous", 1, [3, 4, 1]), ("discrete", 2, [3, 4])]
)
def test_planner_boundary_on_a_real_model(kind: str, dim: int, shape: list[int]) -> None:
    model = create_world_model("toy:ci", obs_shape=(3,), action_dim=dim, action_kind=kind)
    result = planner_check(model, torch.randn(4, 3))
    assert result.passed, result.detail
    assert result.values == {"horizon": 3} and str(shape) in result.detail


class Unplannable(ToyWorldModel):
    @property
    def spec(self):  # type: ignore[override]
        return dataclasses.replace(super().spec, has_reward=False, goal_latent="")


def test_planner_boundary_does_not_apply_without_reward_or_goal() -> None:
    result = planner_check(Unplannable(ToyConfig(obs_shape=(3,), action_dim=1)), torch.randn(2, 3))
    assert result.passed is None and "not plannable" in result.detail


@pytest.mark.parametrize(
    "payload, expected",
    [
        (
            ActionPayload(
                "continuous", tensor=torch.zeros(3, 2, 1), extras={PLANNER_HORIZON_KEY: 3}
            ),
            True,
        ),
        (ActionPayload("continuous", tensor=torch.zeros(3, 2, 1)), "is None, expected 3"),
        (
            ActionPayload("continuous", tensor=torch.zeros(3, 1), extras={PLANNER_HORIZON_KEY: 3}),
            "shape [3, 1]",
        ),
        (
            ActionPayload(
                "discrete",
                tokens=torch.zeros(3, 2, dtype=torch.long),
                extras={PLANNER_HORIZON_KEY: 3},
            ),
            "kind discrete",
        ),
        ({"action": 1}, "returned dict"),
    ],
)
def test_check_payload(payload: object, expected: object) -> None:
    result = check_payload(payload, 3, 2, (1,), ActionKind.CONTINUOUS)
    if expected is True:
        assert result.passed and result.values == {"horizon": 3}
    else:
        assert result.passed is False and str(expected) in result.detail


def test_family_steps_and_the_schedule_reach_the_training_loop(tmp_path: Path) -> None:
    own = MeasureSettings(**{**SETTINGS.to_dict(), "steps": 20, "family_steps": {"toy": 6}})
    record = execute(JOB, own, GateSettings(), LibraryBackend(), None, tmp_path)
    assert record.steps == 6 and record.steps_done == 6 and record.curve[-1][0] == 6
    cosine = MeasureSettings(**{**own.to_dict(), "schedule": "cosine"})
    decayed = execute(JOB, cosine, GateSettings(), LibraryBackend(), None, tmp_path)
    assert decayed.initial == record.initial and decayed.final != record.final
