"""ActorAgent (planner="actor") with dreamerv3:ci: shapes for discrete and continuous actions,
greedy acting is deterministic and exploration samples vary, episode starts are re-encoded, the
training RNG is left alone, state_dict reproduces the next actions, and families without an
actor are refused."""

from typing import Any

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families, for create_world_model)
from worldflux.agents import OnlineConfig, OnlineLoop
from worldflux.agents.actor import ActorAgent
from worldflux.agents.envs import make_vector_env
from worldflux.agents.spaces import EnvSpaces, env_spaces
from worldflux.core import ContractError, create_world_model

torch.set_num_threads(1)


def _setup(env_id: str, num_envs: int = 3, seed: int = 0) -> tuple[Any, EnvSpaces, Any, Any]:
    env = make_vector_env(env_id, num_envs)
    spaces = env_spaces(env.single_observation_space, env.single_action_space)
    torch.manual_seed(seed)
    model = create_world_model("dreamerv3:ci", **spaces.model_overrides())
    obs, _ = env.reset(seed=list(range(num_envs)))
    return env, spaces, model, obs


def test_discrete_actions_are_indices_and_exploration_varies_but_greedy_does_not() -> None:
    env, spaces, model, obs = _setup("CartPole-v1")
    agent = ActorAgent(model, seed=1)
    x = spaces.model_obs(obs)
    actions, state = agent.act(x)
    assert actions.shape == (3,) and actions.dtype == torch.int64
    assert set(actions.tolist()) <= {0, 1} and id(agent.state) == id(state)
    assert state.latent["deter"].shape == (3, model.config.deter)
    # The untrained actor is close to uniform: 64 samples on the same latent hit both actions,
    # while the mode is the same every time.
    latent = state.latent.map(lambda t: t[:1].expand(64, *t.shape[1:]))
    gen = torch.Generator().manual_seed(0)
    sampled = model.act(latent, generator=gen)
    assert set(sampled.tolist()) == {0, 1}
    greedy = model.act(latent, greedy=True)
    assert greedy.unique().numel() == 1
    assert torch.equal(greedy, model.act(latent, greedy=True))
    # The same generator seed draws the same samples.
    again = model.act(latent, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sampled, again)
    env.close()


def test_continuous_actions_stay_in_bounds_and_greedy_is_the_tanh_mean() -> None:
    env, spaces, model, obs = _setup("Pendulum-v1")
    agent = ActorAgent(model, seed=2)
    x = spaces.model_obs(obs)
    actions, state = agent.act(x)
    assert actions.shape == (3, 1) and actions.dtype == torch.float32
    assert bool((actions.abs() <= 2.0).all())
    greedy, _ = agent.act(x, greedy=True, state=state)
    assert greedy.shape == (3, 1) and bool((greedy.abs() <= 2.0).all())
    # On one latent the mode (tanh mean, rescaled) is the same every time; samples are not.
    mode = model.act(state.latent, greedy=True)
    torch.testing.assert_close(mode, model.act(state.latent, greedy=True), rtol=0, atol=0)
    sample = model.act(state.latent, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(sample, mode)
    env.close()


def test_the_agent_tracks_a_posterior_and_reencodes_rows_whose_episode_ended() -> None:
    env, spaces, model, obs = _setup("CartPole-v1")
    agent = ActorAgent(model, seed=3)
    actions, _ = agent.act(spaces.model_obs(obs))
    obs, *_ = env.step(spaces.env_actions(actions))
    agent.reset([1])  # env 1's next observation starts an episode
    x = spaces.model_obs(obs)
    _, state = agent.act(x)
    with torch.no_grad():
        encoded = model.encode(x)["deter"]  # deter of an encode does not depend on sampling
    # Row 1 was encoded afresh; rows 0 and 2 were observed with their previous latent and
    # action, which gives another deterministic state.
    torch.testing.assert_close(state.latent["deter"][1], encoded[1])
    assert not torch.allclose(state.latent["deter"][0], encoded[0])
    assert not bool(state.fresh.any())
    env.close()


def test_acting_leaves_the_global_rng_alone_and_state_dict_reproduces_actions() -> None:
    env, spaces, model, obs = _setup("CartPole-v1", num_envs=2)
    agent = ActorAgent(model, seed=4)
    x = spaces.model_obs(obs)
    agent.act(x)
    before = torch.get_rng_state()
    agent.act(x)
    agent.act(x, greedy=True)
    assert torch.equal(torch.get_rng_state(), before)
    meta, tensors = agent.state_dict()
    other = ActorAgent(model, seed=99)
    other.load_state_dict(meta, tensors)
    torch.manual_seed(123)  # a different global RNG changes nothing either
    for _ in range(5):
        # Evaluation-style greedy acting in between (its own state and generator) does not
        # shift the exploration stream of the training envs.
        agent.act(x, greedy=True)
        a, _ = agent.act(x)
        b, _ = other.act(x)
        assert torch.equal(a, b)
    assert agent.state is not None and other.state is not None
    torch.testing.assert_close(agent.state.latent["stoch"], other.state.latent["stoch"])
    # A fresh agent with another seed draws another exploration stream.
    fresh = ActorAgent(model, seed=5)
    draws = [fresh.act(x)[0] for _ in range(12)]
    mine = [agent.act(x)[0] for _ in range(12)]
    assert any(not torch.equal(p, q) for p, q in zip(draws, mine, strict=True))
    env.close()


def test_families_without_an_actor_are_refused_clearly() -> None:
    tdmpc2 = create_world_model("tdmpc2:ci", obs_shape=(3,), action_dim=1)
    assert not tdmpc2.has_actor() and create_world_model("dreamerv3:ci").has_actor()
    with pytest.raises(ContractError, match="tdmpc2 has none"):
        ActorAgent(tdmpc2)
    with pytest.raises(ContractError, match="has no learned policy to act"):
        tdmpc2.act(tdmpc2.encode(torch.zeros(1, 3)))
    with pytest.raises(ContractError, match="tdmpc2 has none"):
        OnlineLoop(OnlineConfig(env_id="Pendulum-v1", model="tdmpc2:ci", planner="actor"))
    with pytest.raises(ContractError, match="a Dynamics"):
        OnlineLoop(
            OnlineConfig(env_id="CartPole-v1", model="dreamerv3:ci", planner="actor"),
            dynamics=object(),
        )
