import numpy as np
import pytest

from worldflux.core.errors import ContractError
from worldflux.datasets.episodes import Episodes, concat_episodes, episode_rows


def rows(steps: int, terminated: bool, start: float = 0.0) -> dict[str, np.ndarray]:
    obs = start + np.arange(steps + 1, dtype=np.float32)[:, None].repeat(2, 1)
    actions = np.full((steps, 1), 0.5, np.float32)
    rewards = np.arange(1, steps + 1, dtype=np.float32)
    return episode_rows(obs, actions, rewards, terminated)


def test_terminated_episode_marks_last_transition_and_pads_final_row():
    ep = rows(3, terminated=True)
    assert ep["obs"].shape == (4, 2)
    assert ep["continues"].tolist() == [1, 1, 0, 0]
    assert ep["is_first"].tolist() == [True, False, False, False]
    assert ep["is_last"].tolist() == [False, False, False, True]
    assert ep["rewards"].tolist() == [1, 2, 3, 0]  # final row: padding
    assert ep["actions"][:, 0].tolist() == [0.5, 0.5, 0.5, 0.0]


def test_truncated_episode_keeps_continues_one():
    ep = rows(3, terminated=False)
    assert ep["continues"].tolist() == [1, 1, 1, 1]


def test_episode_rows_rejects_mismatched_lengths():
    with pytest.raises(ContractError, match="L\\+1 observations"):
        episode_rows(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros(3), False)


def test_concat_records_boundaries():
    episodes = concat_episodes([rows(3, True), rows(5, False, 10.0), rows(1, True)])
    assert episodes.num_episodes == 3
    assert episodes.starts.tolist() == [0, 4, 10]
    assert episodes.lengths.tolist() == [4, 6, 2]
    assert episodes.terminated.tolist() == [True, False, True]


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda a: a.update(rewards=a["rewards"][:-1]), "rows"),
        (lambda a: a["is_first"].__setitem__(2, True), "boundaries"),
        (lambda a: a["obs"].__setitem__((1, 0), np.nan), "NaN"),
        (lambda a: a.update(is_first=a["is_first"].astype(np.int8)), "bool"),
        (lambda a: a.update(rewards=a["rewards"].astype(np.float64)), "float32"),
    ],
)
def test_malformed_episodes_are_rejected(breakage, message):
    arrays = concat_episodes([rows(3, True), rows(4, False)]).arrays()
    arrays = {k: v.copy() for k, v in arrays.items()}
    breakage(arrays)
    with pytest.raises(ContractError, match=message):
        Episodes(**arrays)


def test_single_row_episode_is_rejected():
    arrays = concat_episodes([rows(3, True), rows(1, False)]).arrays()
    arrays["is_first"][-1] = True
    arrays["is_last"][-2] = True
    with pytest.raises(ContractError, match="at least one transition"):
        Episodes(**arrays)
