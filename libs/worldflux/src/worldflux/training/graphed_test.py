"""TrainerConfig(cuda_graph=True) without a GPU: the same static-buffer step, checked as a
recording would be, equal to the eager step, and rolled back when a step goes non-finite."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import worldflux.models.catalog  # noqa: F401
from worldflux.core import ContractError, create_world_model
from worldflux.core.capture import check_recordable, simulated
from worldflux.core.errors import NonFiniteLossError
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory):
    return load_dataset("pendulum", "train", cache_dir=tmp_path_factory.mktemp("cache"))


def _trainer(data, graph: bool, model: str = "tdmpc2:ci", **config: Any) -> Trainer:
    torch.manual_seed(0)
    net = create_world_model(model, **data.spec.model_kwargs())
    settings: dict[str, Any] = {"steps": 3, "batch_size": 16, "seq_len": 4, "eval_batches": 0}
    settings.update(config)
    cfg = TrainerConfig(progress=False, tensorboard=False, cuda_graph=graph, **settings)
    return Trainer(net, cfg, data)


def test_graph_steps_equal_eager_steps(pendulum) -> None:
    runs = []
    for graph in (False, True):  # one after the other: both draw from the global RNG
        trainer = _trainer(pendulum, graph)
        runs.append(([trainer.train_step() for _ in range(3)], trainer.model.state_dict()))
    (eager_metrics, eager_state), (graph_metrics, graph_state) = runs
    assert graph_metrics == eager_metrics
    assert all(torch.equal(eager_state[k], graph_state[k]) for k in eager_state)


def test_the_tdmpc2_step_is_recordable(pendulum) -> None:
    """Everything but the optimizer's own step: CPU Adam reads its step count on the host,
    the capturable Adam a GPU trainer builds keeps it on the device."""
    trainer = _trainer(pendulum, True)
    assert trainer.graphed is not None
    trainer.graphed.batch = pendulum.sample(16, 4, torch.Generator().manual_seed(0))
    trainer.optimizer.step = lambda *args, **kwargs: None  # type: ignore[method-assign]
    metrics = check_recordable(trainer.graphed._body)
    assert {"total", "grad_norm", "grad_norm_policy", "q_scale"} <= set(metrics)
    assert all(isinstance(v, torch.Tensor) for v in metrics.values())


class _Poisoned:
    """The bundled data with observations of 1e38 from the `after`-th sample on: finite, so
    no check refuses them, but the encoder's normalisation overflows to NaN."""

    def __init__(self, data, after: int) -> None:
        self.data, self.after, self.calls = data, after, 0
        self.spec = data.spec

    def __len__(self) -> int:
        return len(self.data)

    def sample(self, batch_size, seq_len, generator=None):
        batch = self.data.sample(batch_size, seq_len, generator)
        self.calls += 1
        if self.calls > self.after:
            batch.obs[:] = 1e38
        return batch


def test_a_non_finite_step_is_rolled_back(pendulum) -> None:
    """Inside a recording nothing is checked before the update; the replayed step's metrics
    are, and a NaN among them puts back weights, buffers and optimizer moments."""
    data = _Poisoned(pendulum, after=3)  # the Trainer's data probe takes one sample
    trainer = _trainer(data, True)
    trainer.train_step()
    trainer.train_step()
    assert trainer.graphed is not None
    before = [t.clone() for t in trainer.graphed._state_tensors()]
    with simulated(), pytest.raises(NonFiniteLossError):
        trainer.train_step()
    after = trainer.graphed._state_tensors()
    assert len(after) == len(before)
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert trainer.step == 2


def test_non_finite_data_is_refused_before_it_reaches_the_graph(pendulum) -> None:
    """A NaN reward inside a recording would index out of range (two-hot of NaN) on the GPU:
    the batch is checked on the host before it is copied in, the model left untouched."""
    trainer = _trainer(pendulum, True)
    trainer.train_step()
    nan = pendulum.sample(16, 4, torch.Generator().manual_seed(1))
    nan.rewards[0, 0] = float("nan")
    assert trainer.graphed is not None
    before = [t.clone() for t in trainer.graphed._state_tensors()]
    with simulated(), pytest.raises(ContractError, match="rewards"):
        trainer.graphed.step(nan, 2)
    assert all(
        torch.equal(a, b) for a, b in zip(trainer.graphed._state_tensors(), before, strict=True)
    )


def test_a_different_batch_shape_is_refused(pendulum) -> None:
    trainer = _trainer(pendulum, True)
    trainer.train_step()
    trainer.config.batch_size = 8
    with pytest.raises(ContractError, match="recorded for batch.obs"):
        trainer.train_step()


def test_steps_a_graph_would_freeze_wrongly_are_refused(pendulum) -> None:
    with pytest.raises(ContractError, match="graph_capturable"):
        _trainer(pendulum, True, model="dreamerv3:ci")
    with pytest.raises(ContractError, match="learning rate must be constant"):
        _trainer(pendulum, True, schedule="cosine")
    _trainer(pendulum, False, model="dreamerv3:ci")  # eager training is unaffected
