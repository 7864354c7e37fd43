import pytest

from worldflux.core import ActionKind, ActionSpec, ModelSpec, ObservationSpec
from worldflux.core.errors import ContractError


def test_continuous_bounds_broadcast_and_round_trip() -> None:
    spec = ActionSpec.continuous(3, -2.0, 2.0)
    assert spec.low == (-2.0, -2.0, -2.0) and spec.step_shape == (3,) and spec.embed_dim == 3
    assert ActionSpec.from_dict(spec.to_dict()) == spec


def test_discrete_spec() -> None:
    spec = ActionSpec.discrete(4)
    assert spec.is_indexed and spec.step_shape == () and spec.embed_dim == 4
    assert ActionSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "continuous", "dim": 0}, "need dim > 0"),
        ({"kind": "continuous", "dim": 2, "low": (0.0, 0.0, 0.0)}, "low has 3 entries, dim is 2"),
        ({"kind": "continuous", "dim": 1, "low": (1.0,), "high": (0.0,)}, "low < high"),
        ({"kind": "discrete", "num_actions": 0}, "num_actions >= 1"),
        ({"kind": "jump"}, "unknown action kind"),
    ],
)
def test_bad_action_specs(kwargs: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        ActionSpec(**kwargs)


def test_observation_spec_checks() -> None:
    assert ObservationSpec((3, 64, 64), modality="image").shape == (3, 64, 64)
    with pytest.raises(ContractError, match="non-empty and positive"):
        ObservationSpec((0, 4))
    with pytest.raises(ContractError, match="dtype 'float8'"):
        ObservationSpec((4,), dtype="float8")
    with pytest.raises(ContractError, match="modality 'smell'"):
        ObservationSpec((4,), modality="smell")


def test_model_spec_round_trip_and_checks() -> None:
    spec = ModelSpec(
        "toy:ci",
        "toy",
        ObservationSpec((4,)),
        ActionSpec.continuous(2),
        latent={"z": (8,)},
        has_value=True,
        goal_latent="z",
    )
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.action.kind is ActionKind.CONTINUOUS
    with pytest.raises(ContractError, match="goal_latent 'h'"):
        ModelSpec(
            "t", "t", ObservationSpec((4,)), ActionSpec.discrete(2), {"z": (8,)}, goal_latent="h"
        )
    with pytest.raises(ContractError, match="discount"):
        ModelSpec("t", "t", ObservationSpec((4,)), ActionSpec.discrete(2), discount=1.5)


def test_actions_rescale_to_the_unit_box_and_back() -> None:
    import torch

    spec = ActionSpec(ActionKind.CONTINUOUS, dim=2, low=(-2.0, 0.0), high=(2.0, 1.0))
    actions = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, 0.5]])
    unit = spec.to_unit(actions)
    assert torch.allclose(unit, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
    assert torch.allclose(spec.from_unit(unit), actions)
    free = ActionSpec(ActionKind.CONTINUOUS, dim=2)  # unbounded: nothing to rescale
    assert torch.equal(free.to_unit(actions), actions)
