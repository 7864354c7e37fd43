import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core import ContractError


def make(**kw) -> ToyWorldModel:
    return ToyWorldModel(ToyConfig(**{"obs_shape": (4,), "action_dim": 2, **kw}))


def test_check_obs_messages() -> None:
    model = make()
    with pytest.raises(ContractError, match=r"obs must have shape \[B, 4\], got \[2, 5\]"):
        model.encode(torch.zeros(2, 5))
    with pytest.raises(ContractError, match="obs contains NaN"):
        model.encode(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))
    assert model.encode(torch.zeros(2, 4, dtype=torch.float64).float())["z"].shape == (2, 16)


def test_check_actions_continuous_and_discrete() -> None:
    model = make()
    state = model.encode(torch.zeros(2, 4))
    with pytest.raises(
        ContractError, match=r"continuous actions must have shape \[2 dims, 2\], got \[6, 3, 3\]"
    ):
        model.rollout(state, torch.zeros(6, 3, 3))
    with pytest.raises(ContractError, match="actions contain NaN"):
        model.rollout(state, torch.full((6, 3, 2), float("nan")))
    with pytest.raises(ContractError, match="cannot be split evenly over 2 states"):
        model.rollout(state, torch.zeros(5, 3, 2))
    discrete = make(action_kind="discrete", action_dim=3)
    s = discrete.encode(torch.zeros(1, 4))
    rewards = discrete.rollout(s, torch.tensor([[0, 2, 1]])).rewards
    assert rewards is not None and rewards.shape == (1, 3)
    with pytest.raises(ContractError, match=r"indices must be in \[0, 3\)"):
        discrete.rollout(s, torch.tensor([[0, 3, 1]]))
    with pytest.raises(ContractError, match="must be integer indices"):
        discrete.rollout(s, torch.zeros(1, 3, 3))


def test_candidates_grouped_per_state() -> None:
    torch.manual_seed(0)  # independent of the tests before it
    model = make()
    obs = torch.randn(2, 4)
    state = model.encode(obs)
    actions = torch.randn(1, 3, 2).expand(6, 3, 2)
    rollout = model.rollout(state, actions)
    z = rollout.latents["z"]
    assert torch.allclose(z[0], z[2]) and torch.allclose(z[3], z[5])
    assert not torch.allclose(z[0], z[3])


def test_fingerprint_tracks_contract_not_weights() -> None:
    a, b = make(), make()
    assert a.fingerprint() == b.fingerprint()  # different random weights, same contract
    assert make(latent_dim=8).fingerprint() != a.fingerprint()
    assert a.io_contract()["spec"]["latent"] == {"z": [16]}


def test_decode_and_base_defaults() -> None:
    model = make()
    state = model.encode(torch.zeros(3, 4))
    assert model.decode(state).shape == (3, 4)
    assert model.propose(state, 3, 4) is None
    assert model.observe(state, torch.zeros(3, 2), torch.ones(3, 4))["z"].shape == (3, 16)
    assert (
        sum(p.numel() for g in model.parameter_groups() for p in g["params"])
        == model.num_parameters()
    )


def test_wrong_config_class_rejected() -> None:
    from worldflux.core import WorldModelConfig

    with pytest.raises(ContractError, match="needs a ToyConfig"):
        ToyWorldModel(WorldModelConfig())  # type: ignore[arg-type]
