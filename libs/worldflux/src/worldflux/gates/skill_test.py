"""Prediction skill on a world whose dynamics are known exactly: an oracle scores skill 1, a model
that ignores the actions scores no better than copy-last and shows no action dependence, and
the baselines are the training split's."""

import math

import pytest
import torch

from worldflux.core import Batch, LatentState, LossOutput, ModelSpec, Rollout, WorldModel
from worldflux.core.config import WorldModelConfig
from worldflux.gates.criteria import action_dependence, is_success, skill_problems
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.records import MetricSkill
from worldflux.gates.settings import GateSettings
from worldflux.gates.skill import (
    Baselines,
    SkillSettings,
    measure_skill,
    primary_metrics,
    register_metric,
    shuffled,
)


class IntegratorWorld:
    """x_{t+1} = x_t + a_t, reward r_t = -|x_t + a_t|^2, episodes of 40 steps (with the final
    padding row of the episode layout). Train and held-out splits differ by generator seed."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def sample(self, batch_size: int, seq_len: int, generator: torch.Generator) -> Batch:
        x0 = torch.randn(batch_size, 2, generator=generator) + self.offset
        actions = torch.rand(batch_size, seq_len, 2, generator=generator) * 2 - 1
        obs = [x0]
        for t in range(seq_len - 1):
            obs.append(obs[-1] + actions[:, t])
        states = torch.stack(obs, 1)
        rewards = -(states + actions).square().sum(-1)
        is_last = torch.zeros(batch_size, seq_len, dtype=torch.bool)
        is_last[0, -1] = True  # one window ends its episode: its last row holds o_L only
        return Batch(
            states,
            actions,
            rewards,
            torch.ones(batch_size, seq_len),
            torch.zeros(batch_size, seq_len, dtype=torch.bool),
            {"is_last": is_last},
        )


class IntegratorModel(WorldModel):
    """Knows the world exactly (blind=False) or assumes actions do nothing (blind=True)."""

    family = "integrator-test"

    def __init__(self, blind: bool = False) -> None:
        super().__init__(WorldModelConfig(obs_shape=(2,), action_dim=2))
        self.blind = blind
        self.unused = torch.nn.Linear(1, 1)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id="integrator-test:ci",
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"x": (2,)},
            has_reward=True,
        )

    def encode(self, obs, condition=None) -> LatentState:
        return LatentState({"x": obs.float()})

    def rollout(self, state, actions, condition=None) -> Rollout:
        x = self.expand_state(state, actions.shape[0])["x"]
        xs, rewards = [], []
        for t in range(actions.shape[1]):
            step = torch.zeros_like(actions[:, t]) if self.blind else actions[:, t]
            rewards.append(-(x + step).square().sum(-1))
            x = x + step
            xs.append(x)
        return Rollout({"x": torch.stack(xs, 1)}, rewards=torch.stack(rewards, 1))

    def decode(self, state: LatentState) -> torch.Tensor:
        return state["x"]

    def loss(self, batch: Batch) -> LossOutput:
        return LossOutput(torch.zeros(()))


SETTINGS = SkillSettings(horizon=5, batches=4, batch_size=8, seq_len=8)


def measure(model: WorldModel, train_offset: float = 0.0) -> dict[str, MetricSkill]:
    baselines = Baselines.fit(IntegratorWorld(train_offset), 4, 8, 8)
    return measure_skill(model, IntegratorWorld(), baselines, SETTINGS)


def test_an_oracle_has_full_skill_and_its_predictions_depend_on_the_actions() -> None:
    skill = measure(IntegratorModel())
    assert set(skill) == {"obs", "reward"} and all(m.primary for m in skill.values())
    for metric in skill.values():
        assert metric.model_error == pytest.approx(0.0, abs=1e-10)
        assert metric.skill == pytest.approx(1.0)
        assert metric.shuffled_error is not None and metric.shuffled_error > 0.1
        assert metric.action_gain == math.inf
    # 4 batches x 8 windows x 5 steps x 2 obs dims (an episode's final row holds a real
    # observation, and no action of it is used); rewards leave out the first imagined step (a
    # function of what the model has just seen, learnable without any dynamics).
    assert skill["obs"].count == 4 * 8 * 5 * 2
    assert skill["reward"].count == 4 * 8 * 4


def test_a_model_blind_to_actions_is_copy_last_no_skill_and_no_action_dependence() -> None:
    skill = measure(IntegratorModel(blind=True))
    obs = skill["obs"]
    assert obs.model_error == pytest.approx(obs.baselines["copy_last"])
    assert obs.best_baseline[0] == "copy_last" and obs.skill == pytest.approx(0.0, abs=1e-9)
    assert obs.action_gain == pytest.approx(0.0)
    record = make_record(skill=skill)
    settings = GateSettings()
    assert not is_success(record, settings)
    problems = " | ".join(skill_problems(record, settings))
    assert "seed 0: obs skill 0.0% is below 10%" in problems and "copy_last" in problems
    verdict, why = action_dependence(record, settings)
    assert verdict is False and "predictions barely depend on the actions" in why


def test_baselines_come_from_the_training_split() -> None:
    near, far = measure(IntegratorModel(), 0.0), measure(IntegratorModel(), 5.0)
    assert far["obs"].baselines["mean"] > near["obs"].baselines["mean"] + 10
    assert far["obs"].baselines["copy_last"] == near["obs"].baselines["copy_last"]


def test_shuffled_actions_never_keep_their_own_window() -> None:
    actions = torch.arange(10.0)[:, None]
    for seed in range(20):
        moved = shuffled(actions, torch.Generator().manual_seed(seed))
        assert sorted(moved[:, 0].tolist()) == actions[:, 0].tolist()
        assert bool((moved != actions).all())


def test_gate_metrics_choose_the_primary_metrics_and_unknown_names_are_refused() -> None:
    class RewardOnly(IntegratorModel):
        gate_metrics = ("reward",)

    class Typo(IntegratorModel):
        gate_metrics = ("rewrd",)

    assert primary_metrics(IntegratorModel()) == ("obs", "reward")
    skill = measure(RewardOnly())
    assert skill["reward"].primary and not skill["obs"].primary
    with pytest.raises(ValueError, match="unknown metric.*rewrd"):
        primary_metrics(Typo())
    with pytest.raises(ValueError, match="already registered"):
        register_metric("obs", lambda window, pred, baselines: None)


def test_a_run_without_a_primary_metric_is_no_evidence_and_fails() -> None:
    record = make_record(skill={})
    assert not is_success(record, GateSettings())
    assert "no prediction metric was measured" in skill_problems(record, GateSettings())[0]
    assert action_dependence(record, GateSettings())[0] is False


def test_a_non_finite_secondary_metric_fails_the_run() -> None:
    skill = measure(IntegratorModel())
    skill["obs"] = MetricSkill(math.nan, {"mean": 1.0}, 1.0, primary=False)
    record = make_record(skill=skill)
    assert not is_success(record, GateSettings())
    assert "obs prediction error is not finite" in skill_problems(record, GateSettings())[0]


@pytest.mark.parametrize(
    ("model", "best", "threshold", "passes"),
    [(0.5, 1.0, 0.5, True), (0.5001, 1.0, 0.5, False), (0.75, 1.0, 0.25, True)],
)
def test_the_skill_threshold_is_inclusive_and_just_over_it_fails(
    model: float, best: float, threshold: float, passes: bool
) -> None:
    from worldflux.gates.fakes_testutil import metric

    record = make_record(skill={"reward": metric(model, best)})
    assert is_success(record, GateSettings(min_skill=threshold)) is passes
