import pytest
import torch

from worldflux.core import PLANNER_HORIZON_KEY, ActionKind, ActionPayload, ConditionPayload
from worldflux.core.errors import ContractError


def test_continuous_payload_with_horizon() -> None:
    payload = ActionPayload(
        ActionKind.CONTINUOUS, tensor=torch.zeros(3, 2, 4), extras={PLANNER_HORIZON_KEY: 3}
    )
    assert payload.primary_name == "tensor"
    assert payload.horizon == 3
    assert payload.primary is payload.tensor


def test_kind_given_as_string_is_parsed() -> None:
    assert (
        ActionPayload("discrete", tokens=torch.zeros(2, dtype=torch.int64)).kind
        is ActionKind.DISCRETE
    )


def test_none_kind_carries_nothing() -> None:
    assert ActionPayload(ActionKind.NONE).primary is None
    with pytest.raises(ContractError, match=r"kind=none\) carries no action, but tensor was set"):
        ActionPayload(ActionKind.NONE, tensor=torch.zeros(1))


def test_mixed_primaries_rejected_with_fix() -> None:
    with pytest.raises(ContractError, match=r"several primaries \(tensor, tokens\).*uses `tensor`"):
        ActionPayload(
            ActionKind.CONTINUOUS, tensor=torch.zeros(1), tokens=torch.zeros(1, dtype=torch.int64)
        )


def test_kind_primary_mismatch_says_where_to_move_it() -> None:
    with pytest.raises(
        ContractError, match=r"kind=discrete\) carries its action in `tokens`, but `tensor`"
    ):
        ActionPayload(ActionKind.DISCRETE, tensor=torch.zeros(1))


def test_missing_primary() -> None:
    with pytest.raises(ContractError, match=r"kind=text\) needs `text=`"):
        ActionPayload(ActionKind.TEXT)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "continuous", "tensor": torch.zeros(2, dtype=torch.int64)}, "floating-point"),
        ({"kind": "token", "tokens": torch.zeros(2)}, "int64 or int32"),
        ({"kind": "continuous", "tensor": torch.tensor([0.0, float("nan")])}, "NaN"),
        ({"kind": "latent", "latent": torch.tensor([float("inf")])}, "NaN or infinite"),
        ({"kind": "text", "text": ["ok", 3]}, "list of str"),
        ({"kind": "teleport"}, "unknown action kind 'teleport'"),
    ],
)
def test_bad_primary_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        ActionPayload(**kwargs)


@pytest.mark.parametrize(
    "key",
    ["planner.horizon", "wf.Planner.horizon", "wf.planner", "wf.planner.horizon.x", "x.planner.h"],
)
def test_extras_keys_must_be_namespaced(key: str) -> None:
    with pytest.raises(ContractError, match=r"must look like 'wf.<domain>.<name>'"):
        ActionPayload(ActionKind.NONE, extras={key: 1})


def test_extras_values_and_horizon_type() -> None:
    ok = ActionPayload(ActionKind.NONE, extras={"wf.robot.arm_id": "left", "wf.robot.gain": 0.5})
    assert ok.extras["wf.robot.gain"] == 0.5
    with pytest.raises(ContractError, match="use a bool, int, float, str or torch.Tensor"):
        ActionPayload(ActionKind.NONE, extras={"wf.robot.cfg": {"a": 1}})
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ContractError, match="must be an int >= 1"):
            ActionPayload(ActionKind.NONE, extras={PLANNER_HORIZON_KEY: bad})


def test_validate_catches_mutation_after_construction() -> None:
    payload = ActionPayload(ActionKind.CONTINUOUS, tensor=torch.zeros(2))
    payload.tokens = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ContractError, match="several primaries"):
        payload.validate()


def test_condition_payload() -> None:
    cond = ConditionPayload(goal=torch.zeros(1, 3), text=["reach"], extras={"wf.task.id": 4})
    assert not cond.is_empty
    assert ConditionPayload().is_empty
    with pytest.raises(ContractError, match="goal contains NaN"):
        ConditionPayload(goal=torch.tensor([float("nan")]))
    with pytest.raises(ContractError, match="camera_pose must be a floating-point tensor"):
        ConditionPayload(camera_pose=torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ContractError, match="extras key"):
        ConditionPayload(extras={"goal": 1})


@pytest.mark.parametrize(
    ("kind", "field", "dtype"),
    [
        (ActionKind.CONTINUOUS, "tensor", torch.float32),
        (ActionKind.DISCRETE, "tokens", torch.int64),
        (ActionKind.TOKEN, "tokens", torch.int64),
        (ActionKind.LATENT, "latent", torch.float32),
    ],
)
def test_of_puts_actions_in_the_primary_field_of_their_kind(
    kind: ActionKind, field: str, dtype: torch.dtype
) -> None:
    payload = ActionPayload.of(kind, torch.ones(2, 3, dtype=torch.int64), {PLANNER_HORIZON_KEY: 1})
    assert payload.primary_name == field and getattr(payload, field).dtype == dtype
    assert payload.extras == {PLANNER_HORIZON_KEY: 1}


def test_of_refuses_a_kind_without_actions() -> None:
    with pytest.raises(ContractError, match="none actions carry no tensor"):
        ActionPayload.of(ActionKind.NONE, torch.zeros(1))
