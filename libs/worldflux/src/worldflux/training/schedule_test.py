import itertools
import math

import pytest
import torch

from worldflux.training.schedule import WarmupSchedule, build_schedule


def test_linear_warmup_then_constant():
    f = WarmupSchedule(warmup_steps=4, total_steps=10)
    assert [f(k) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_decays_to_the_floor():
    f = WarmupSchedule(warmup_steps=2, total_steps=12, kind="cosine", min_ratio=0.1)
    assert f(1) == 1.0
    assert f(2) == pytest.approx(1.0)
    assert f(7) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(12) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    values = [f(k) for k in range(2, 13)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_schedule_scales_each_group_from_its_own_base_lr():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.3}])
    sched = build_schedule(opt, warmup_steps=2, total_steps=4)
    seen = []
    for _ in range(3):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert seen == [[0.5, 0.15], [1.0, 0.3], [1.0, 0.3]]
