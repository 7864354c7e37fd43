import pytest
import torch

from worldflux.core import Batch, LatentState, LossOutput, Rollout
from worldflux.core.errors import ContractError, NonFiniteLossError


def test_latent_state_batch_and_candidates() -> None:
    state = LatentState({"h": torch.arange(2.0).reshape(2, 1), "z": torch.zeros(2, 3, 4)})
    assert state.batch_size == 2
    expanded = state.repeat_interleave(3)
    assert expanded["h"].squeeze(-1).tolist() == [0, 0, 0, 1, 1, 1]
    assert expanded["z"].shape == (6, 3, 4)
    with pytest.raises(ContractError, match="has no tensor 'q'"):
        state["q"]


def test_latent_state_rejects_ragged_and_empty() -> None:
    with pytest.raises(ContractError, match="share a leading batch dim"):
        LatentState({"a": torch.zeros(2, 1), "b": torch.zeros(3, 1)})
    with pytest.raises(ContractError, match="at least one tensor"):
        LatentState({})
    with pytest.raises(ContractError, match="'a' contains NaN"):
        LatentState({"a": torch.tensor([[float("nan")]])}).check_finite()


def _batch(**changes) -> Batch:
    b, t = 2, 5
    fields = dict(
        obs=torch.zeros(b, t, 3),
        actions=torch.zeros(b, t, 1),
        rewards=torch.zeros(b, t),
        continues=torch.ones(b, t),
        is_first=torch.zeros(b, t, dtype=torch.bool),
    )
    fields.update(changes)
    return Batch(**fields)


def test_batch_shapes() -> None:
    batch = _batch()
    assert (batch.batch_size, batch.seq_len) == (2, 5)
    with pytest.raises(ContractError, match=r"Batch.rewards has leading dims \[2, 4\]"):
        _batch(rewards=torch.zeros(2, 4))
    with pytest.raises(ContractError, match=r"Batch.continues must be \[B, T\]"):
        _batch(continues=torch.ones(2, 5, 1))
    with pytest.raises(ContractError, match=r"Batch.obs must be \[B, T, ...\]"):
        _batch(obs=torch.zeros(2, 5))


def test_loss_output_finite_check_names_component() -> None:
    out = LossOutput(torch.tensor(1.0), {"a": torch.tensor(0.5), "b": torch.tensor(float("nan"))})
    with pytest.raises(NonFiniteLossError, match="loss component 'b' is nan at step 7") as info:
        out.check_finite(step=7)
    assert info.value.component == "b" and info.value.step == 7
    assert LossOutput(torch.tensor(2.0), {"a": torch.tensor(1.0)}).scalars() == {
        "total": 2.0,
        "a": 1.0,
    }
    with pytest.raises(ContractError, match="must be a scalar"):
        LossOutput(torch.zeros(2))


def test_rollout_shapes() -> None:
    r = Rollout({"z": torch.zeros(4, 3, 8)}, rewards=torch.zeros(4, 3), values=torch.zeros(4))
    assert (r.num_candidates, r.horizon) == (4, 3)
    assert r.final_latent("z").shape == (4, 8)
    with pytest.raises(ContractError, match=r"Rollout.rewards must be \[4, 3\]"):
        Rollout({"z": torch.zeros(4, 3, 8)}, rewards=torch.zeros(4))
    with pytest.raises(ContractError, match=r"Rollout.values must be \[4\]"):
        Rollout({"z": torch.zeros(4, 3, 8)}, values=torch.zeros(4, 3))
    with pytest.raises(ContractError, match="share leading dims"):
        Rollout({"z": torch.zeros(4, 3, 8), "h": torch.zeros(4, 2, 8)})
