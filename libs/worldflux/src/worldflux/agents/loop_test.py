"""The online loop's mechanics on Pendulum-v1 with tdmpc2:ci and a cheap MPPI: the buffer
fills with whole episodes, updates follow the UTD ratio exactly, evaluation records returns,
and a run killed after a checkpoint resumes at the same env step and takes the same actions
as the run that was never interrupted."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families, for create_world_model)
from worldflux.agents import OnlineConfig, OnlineLoop
from worldflux.agents.actor import ActorAgent
from worldflux.core import CheckpointError, ContractError

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs

EPISODE = 30


def _config(**changes) -> OnlineConfig:
    settings: dict[str, Any] = dict(
        env_id="Pendulum-v1",
        model="tdmpc2:ci",
        planner="mppi",
        planner_settings=dict(num_samples=24, num_elites=6, num_pi_trajs=4, iterations=2),
        num_envs=2,
        total_env_steps=140,
        seed_steps=60,
        utd_ratio=0.5,
        batch_size=8,
        seq_len=4,
        eval_episodes=1,
        max_episode_steps=EPISODE,
        seed=3,
    )
    settings.update(changes)
    return OnlineConfig(**settings)


def _run_recording(loop: OnlineLoop, until: int | None = None) -> list[tuple[int, int, np.ndarray]]:
    """(env steps, updates, actions taken) after every vector step."""
    taken = []
    original = loop.next_actions

    def record() -> np.ndarray:
        actions = original()
        taken.append(actions.copy())
        return actions

    loop.next_actions = record  # type: ignore[method-assign]
    target = loop.config.total_env_steps if until is None else until
    steps = []
    while loop.env_steps < target:
        loop.step()
        steps.append((loop.env_steps, loop.updates, taken[-1]))
    return steps


def _assert_repeats(
    resumed: OnlineLoop,
    expected: list[tuple[int, int, np.ndarray]],
    weights: dict[str, torch.Tensor],
    after: int,
) -> list[tuple[int, int, np.ndarray]]:
    """Run `resumed` to the end and assert it repeats the uninterrupted run past env step
    `after`: the same env steps, update counts and actions, and identical final weights.
    Returns that tail of the uninterrupted run."""
    steps = _run_recording(resumed)
    tail = [s for s in expected if s[0] > after]
    assert [(s, u) for s, u, _ in steps] == [(s, u) for s, u, _ in tail]
    for (_, _, got), (_, _, want) in zip(steps, tail, strict=True):
        np.testing.assert_array_equal(got, want)
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, weights[name], rtol=0, atol=0)
    return tail


def test_buffer_fills_updates_follow_the_ratio_and_evaluation_records_returns() -> None:
    cfg = _config()
    loop = OnlineLoop(cfg)
    try:
        steps = _run_recording(loop)
        for env_steps, updates, _ in steps:
            # Every optimizer step owed is taken at once: the buffer holds whole episodes of
            # both envs by the end of seeding (2 x 30 steps = 60 env steps).
            assert updates == int(cfg.utd_ratio * max(0, env_steps - cfg.seed_steps))
        assert loop.updates == 40 and loop.trainer.step == len(loop.train_metrics) == 40
        # 140 env steps over 2 envs = 70 each: 2 whole episodes of 30 steps (31 rows each)
        # per env in the buffer, the third still pending.
        assert len(loop.episodes) == 4 and [e.length for e in loop.episodes] == [EPISODE] * 4
        assert len(loop.replay) == 4 * (EPISODE + 1) and loop.replay.is_first.sum() == 4
        assert [len(p) for p in loop._pending] == [10, 10]
        assert all(np.isfinite(m["total"]) for m in loop.train_metrics)
        result = loop.run()  # at the target already: only the final evaluation
        (evaluation,) = result["eval"]
        assert evaluation["env_step"] == 140 and len(evaluation["returns"]) == 1
        assert (
            evaluation["returns"][0] < 0 and evaluation["mean_return"] == evaluation["returns"][0]
        )
        # Evaluation episodes are reproducible and leave training untouched.
        assert loop.evaluate()["returns"] == evaluation["returns"]
    finally:
        loop.close()


def test_a_killed_run_resumes_and_repeats_the_uninterrupted_actions(tmp_path: Path) -> None:
    # Uninterrupted reference run.
    reference = OnlineLoop(_config())
    try:
        expected = _run_recording(reference)
        expected_weights = {k: v.clone() for k, v in reference.model.state_dict().items()}
    finally:
        reference.close()
    # A run that checkpoints at 100 env steps (mid-episode, planning with a warm start, after
    # 20 updates) and is then dropped, as a killed process would be.
    out = str(tmp_path / "run")
    first = OnlineLoop(_config(output_dir=out, checkpoint_every=100))
    try:
        _run_recording(first, until=110)  # went on past the checkpoint before "dying"
    finally:
        first.close()
    resumed = OnlineLoop(_config(output_dir=out, checkpoint_every=100))
    try:
        assert resumed.resumed and resumed.env_steps == 100 and resumed.updates == 20
        _assert_repeats(resumed, expected, expected_weights, after=100)
    finally:
        resumed.close()
    # Another run's settings cannot continue this checkpoint.
    with pytest.raises(CheckpointError, match="seed"):
        OnlineLoop(_config(output_dir=out, seed=4))


def test_unsupported_env_spaces_and_bad_settings_fail_up_front() -> None:
    with pytest.raises(ContractError, match="unsupported observation space Tuple"):
        OnlineLoop(_config(env_id="Blackjack-v1"))
    with pytest.raises(ContractError, match="utd_ratio"):
        _config(utd_ratio=0)
    with pytest.raises(ContractError, match="num_envs"):
        _config(num_envs=0)


def test_an_env_that_cannot_be_restored_resumes_with_fresh_episodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worldflux.agents import envs

    snapshot = envs.snapshot
    monkeypatch.setattr(envs, "snapshot", lambda env: {**snapshot(env), "exact": False})
    out = str(tmp_path / "run")
    cfg = _config(output_dir=out, total_env_steps=100, checkpoint_every=80, eval_episodes=0)
    first = OnlineLoop(cfg)
    try:
        _run_recording(first, until=90)
        assert [len(p) for p in first._pending] == [15, 15]
    finally:
        first.close()
    resumed = OnlineLoop(cfg)
    try:
        # The counters and the buffer come back; the interrupted episodes (10 steps each at
        # the checkpoint) are dropped and new ones start.
        assert resumed.resumed and resumed.env_steps == 80 and resumed.updates == 10
        assert len(resumed.replay) == 2 * (EPISODE + 1) and resumed.agent.state is None
        assert [len(p) for p in resumed._pending] == [0, 0]
        resumed.run()
        assert resumed.env_steps == 100 and resumed.updates == 20
        assert [len(p) for p in resumed._pending] == [10, 10]
    finally:
        resumed.close()


def _actor_config(**changes) -> OnlineConfig:
    settings: dict[str, Any] = dict(
        env_id="CartPole-v1",
        model="dreamerv3:ci",
        planner="actor",
        planner_settings={},
        batch_size=4,
        seq_len=6,
    )
    settings.update(changes)
    return _config(**settings)


def test_the_actor_path_resumes_with_its_latents_and_repeats_the_actions(tmp_path: Path) -> None:
    # DreamerV3 acting by its actor: a recurrent posterior per env and a sampling generator,
    # both of which must come back from the checkpoint for the actions to repeat.
    reference = OnlineLoop(_actor_config())
    try:
        expected = _run_recording(reference)
        expected_weights = {k: v.clone() for k, v in reference.model.state_dict().items()}
        assert reference.agent.state is not None and reference.updates > 0
        evaluation = reference.evaluate()
        assert reference.evaluate()["returns"] == evaluation["returns"]
    finally:
        reference.close()
    out = str(tmp_path / "run")
    first = OnlineLoop(_actor_config(output_dir=out, checkpoint_every=100))
    try:
        _run_recording(first, until=110)
    finally:
        first.close()
    resumed = OnlineLoop(_actor_config(output_dir=out, checkpoint_every=100))
    try:
        assert resumed.resumed and resumed.env_steps == 100
        assert resumed.agent.state is not None  # the latents of the running episodes
        tail = _assert_repeats(resumed, expected, expected_weights, after=100)
    finally:
        resumed.close()
    # Without the latents and the generator the actions would differ: a loop whose agent
    # forgot them (fresh encodes, another exploration stream) does not repeat the tail.
    forgetful = OnlineLoop(_actor_config(output_dir=out, checkpoint_every=100))
    try:
        assert isinstance(forgetful.agent, ActorAgent)
        forgetful.agent.state = None
        forgetful.agent.explore.manual_seed(12345)
        after = _run_recording(forgetful)
        assert any(
            not np.array_equal(got, want)
            for (_, _, got), (_, _, want) in zip(after, tail, strict=True)
        )
    finally:
        forgetful.close()
    # A planner run cannot continue an actor run's checkpoint.
    with pytest.raises(CheckpointError, match="planner"):
        OnlineLoop(_actor_config(output_dir=out, planner="auto"))


def test_recorded_updates_train_as_eager_ones() -> None:
    """`cuda_graph=True` runs the static-buffer step (eagerly on a CPU): the same actions,
    update counts and weights as the eager loop, from replay batches of a growing buffer."""
    runs = []
    for graph in (False, True):
        loop = OnlineLoop(_config(total_env_steps=100, cuda_graph=graph))
        try:
            assert (loop.trainer.graphed is not None) == graph
            runs.append((_run_recording(loop), loop.model.state_dict()))
        finally:
            loop.close()
    (eager_steps, eager_weights), (graph_steps, graph_weights) = runs
    assert [(s, u) for s, u, _ in graph_steps] == [(s, u) for s, u, _ in eager_steps]
    for (_, _, got), (_, _, want) in zip(graph_steps, eager_steps, strict=True):
        np.testing.assert_array_equal(got, want)
    assert all(torch.equal(graph_weights[k], eager_weights[k]) for k in eager_weights)
