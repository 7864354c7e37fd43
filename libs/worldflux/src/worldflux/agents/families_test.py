"""Any family with a reward head acts through the same loop and planner interface: every
registered family whose gate data is the bundled pendulum (vector observations [3], one
continuous action, a reward) runs a short online loop on Pendulum-v1, planning with MPPI over
its own rollouts. The list comes from list_models(), so a new family of that kind is covered by
registering, and the families that act by MPPI today are required (a family that silently
dropped out would otherwise pass)."""

import math
from typing import Any

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.agents import OnlineConfig, OnlineLoop
from worldflux.core import get_family, list_models

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs

REQUIRED = {"tdmpc2:ci", "diffusion:ci", "gan:ci", "physics:ci", "ssm:ci"}


def pendulum_families() -> list[str]:
    return [
        model_id
        for model_id in list_models()
        if model_id.endswith(":ci")
        and getattr(get_family(model_id.split(":")[0]).model_class, "gate_dataset", None)
        == "pendulum"
    ]


def test_the_families_that_act_by_planning_are_all_listed() -> None:
    assert set(pendulum_families()) >= REQUIRED


@pytest.mark.parametrize("model_id", pendulum_families())
def test_a_family_with_a_reward_head_learns_online_through_the_planner(model_id: str) -> None:
    config = OnlineConfig(
        env_id="Pendulum-v1",
        model=model_id,
        planner="mppi",
        planner_settings=dict(num_samples=16, num_elites=4, num_pi_trajs=2, iterations=1),
        total_env_steps=36,
        seed_steps=16,
        utd_ratio=0.25,
        batch_size=4,
        seq_len=4,
        eval_episodes=1,
        max_episode_steps=8,
        seed=1,
    )
    loop = OnlineLoop(config)
    plans = []
    planner = loop.agent.explore
    plan = planner.plan

    def counted(*args: Any, **kwargs: Any) -> Any:
        plans.append(args[1].shape)  # (dynamics, observations, ...)
        return plan(*args, **kwargs)

    planner.plan = counted  # type: ignore[method-assign]
    try:
        result = loop.run()
        # Every env step after the random seeding steps was planned by MPPI over this family.
        assert planner.name == "mppi" and plans == [torch.Size([1, 3])] * (36 - 16)
        assert loop.env_steps == 36 and loop.updates == 5  # floor(0.25 * (36 - 16))
        assert len(loop.replay) == 4 * 9  # four whole 8-step episodes (9 rows each)
        assert all(math.isfinite(m["total"]) for m in loop.train_metrics)
        (evaluation,) = result["eval"]
        assert len(evaluation["returns"]) == 1 and math.isfinite(evaluation["returns"][0])
        assert evaluation["returns"][0] <= 0.0  # Pendulum rewards are never positive
    finally:
        loop.close()
