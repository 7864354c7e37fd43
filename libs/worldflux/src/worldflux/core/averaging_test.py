import pytest
import torch
from torch import nn

from worldflux.core.averaging import update_average


def test_the_average_follows_the_ramp_then_the_decay_and_copies_buffers() -> None:
    online, averaged = nn.BatchNorm1d(1), nn.BatchNorm1d(1)
    online.weight.data.fill_(1.0)
    averaged.weight.data.fill_(0.0)
    online.running_mean.fill_(3.0)
    update_average(averaged, online, step=0, decay=0.99)  # ramp: decay 1/10
    assert averaged.weight.item() == pytest.approx(0.9)
    assert averaged.running_mean.item() == 3.0
    update_average(averaged, online, step=10_000, decay=0.99)  # the ramp is past 0.99
    assert averaged.weight.item() == pytest.approx(0.9 + 0.1 * 0.01)
    averaged.weight.data.fill_(0.0)
    update_average(averaged, online, step=0, decay=0.99, warmup=2.0)  # decay 1/2
    assert averaged.weight.item() == pytest.approx(0.5)
    assert not torch.equal(averaged.weight, online.weight)


def test_networks_of_another_shape_are_refused() -> None:
    with pytest.raises(ValueError):
        update_average(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 0, 0.9)
