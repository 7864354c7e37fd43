"""Metrics of generative families (token CE against unigram/bigram, denoising error per sigma):
what they measure on models whose answer is known, and that a family judged by them fails on
data with nothing to learn."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.core import Batch, LatentState
from worldflux.gates import generative
from worldflux.gates.backend import LibraryBackend
from worldflux.gates.criteria import is_success, skill_problems
from worldflux.gates.jobs import Job
from worldflux.gates.runner import execute
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.skill import Baselines, Predictions, Window


class Cycle:
    """Token data where each position counts up by one per step (mod V): the bigram is exact."""

    def __init__(self, vocab: int = 6, k: int = 2) -> None:
        self.vocab, self.k = vocab, k

    def sample(self, batch_size: int, seq_len: int, generator: torch.Generator) -> Batch:
        start = torch.randint(self.vocab, (batch_size, 1, self.k), generator=generator)
        obs = (start + torch.arange(seq_len)[None, :, None]) % self.vocab
        zeros = torch.zeros(batch_size, seq_len)
        return Batch(obs.float(), zeros.long(), zeros, zeros + 1, zeros.bool())


class TokenOracle:
    """next_token_logits from a fixed rule: `exact` knows the cycle, otherwise uniform."""

    def __init__(self, vocab: int, exact: bool) -> None:
        self.vocab, self.exact = vocab, exact

    def tokenize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.long()

    def next_token_logits(self, state: LatentState, actions: torch.Tensor, future: torch.Tensor):
        targets = future.long()
        logits = torch.zeros(*targets.shape, self.vocab)
        if self.exact:
            logits.scatter_(-1, targets[..., None], 30.0)
        return logits, targets


def token_errors(exact: bool) -> dict[str, tuple[float, int]]:
    data = Cycle()
    baselines = Baselines.fit(data, 2, 8, 6)
    batch = data.sample(4, 6, torch.Generator().manual_seed(1))
    window = Window(batch, 3)
    state = LatentState({"z": torch.zeros(4, 1)})
    pred = Predictions(
        model=cast(Any, TokenOracle(6, exact)), state=state, actions=batch.actions[:, 2:5]
    )
    errors = generative.token_ce_metric(window, pred, baselines)
    assert errors is not None
    return errors


def test_token_ce_baselines_are_fitted_in_the_models_vocabulary() -> None:
    exact, uniform = token_errors(True), token_errors(False)
    ce = {name: s / n for name, (s, n) in exact.items()}
    assert exact["model"][1] == 4 * 3 * 2  # windows x future steps x tokens
    assert ce["model"] < 1e-6
    assert math.isclose(uniform["model"][0] / uniform["model"][1], math.log(6), rel_tol=1e-6)
    # The cycle's next token is a function of the last one: the bigram nearly knows it, the
    # unigram (uniform over 6 values here) does not.
    assert ce["bigram"] < 0.5 < math.log(6) * 0.9 < ce["unigram"]


def test_no_token_capability_no_token_metric() -> None:
    batch = Cycle().sample(2, 6, torch.Generator().manual_seed(0))
    pred = Predictions(model=cast(Any, object()), state=None, actions=batch.actions)
    assert (
        generative.token_ce_metric(Window(batch, 3), pred, Baselines.fit(Cycle(), 1, 2, 6)) is None
    )


class Denoiser:
    """denoise_next that returns the clean target (an oracle) or the noisy input."""

    def __init__(self, target: torch.Tensor | None) -> None:
        self.target = target

    def denoise_next(self, state, action, noisy, sigma):  # type: ignore[no-untyped-def]
        return noisy if self.target is None else self.target


def test_denoise_metric_per_sigma_and_its_shrinkage_baseline() -> None:
    data = Cycle(vocab=50, k=3)
    baselines = Baselines.fit(data, 2, 8, 6)
    batch = data.sample(4, 6, torch.Generator().manual_seed(1))
    window = Window(batch, 3)
    target = batch.obs[:, window.context_end + 1]
    state = LatentState({"z": torch.zeros(4, 1)})
    for sigma in generative.DENOISE_SIGMAS:
        measure = generative.METRIC_FNS[f"denoise_sigma{sigma:g}"]
        oracle = measure(
            window,
            Predictions(model=cast(Any, Denoiser(target)), state=state, actions=batch.actions),
            baselines,
        )
        identity = measure(
            window,
            Predictions(model=cast(Any, Denoiser(None)), state=state, actions=batch.actions),
            baselines,
        )
        assert oracle is not None and identity is not None
        assert oracle["model"][0] == 0.0
        mse = identity["model"][0] / identity["model"][1]
        assert math.isclose(mse, sigma**2, rel_tol=0.6)  # the noise itself
        # Shrinking towards the mean beats returning the noisy input at every level.
        assert identity["shrink"][0] < identity["model"][0]


# family: (its unlearnable dataset, training steps); dit takes images, so pixel noise
NOISE = {"diffusion": ("noise", 150), "token": ("noise", 150), "dit": ("scene3d-noise", 150)}


@pytest.mark.parametrize("family", sorted(NOISE))
def test_a_generative_family_fails_on_noise(family: str, tmp_path: Path) -> None:
    dataset, steps = NOISE[family]
    settings = MeasureSettings(
        models=[f"{family}:ci"],
        seeds=[0],
        steps=steps,
        batch_size=16,
        seq_len=16,
        eval_batches=2,
        curve_points=0,
        datasets={family: dataset},
        checks=[],
        overrides={family: {"lr": 1e-3}},
    )
    record = execute(
        Job(f"{family}:ci", dataset, 0), settings, GateSettings(), LibraryBackend(), None, tmp_path
    )
    assert record.status == "ok", record.error
    assert not is_success(record, GateSettings())
    problems = skill_problems(record, GateSettings())
    for name, metric in record.skill.items():
        if metric.primary:
            assert metric.skill < GateSettings().min_skill, (name, metric)
            assert any(p.startswith(f"seed 0: {name} skill ") for p in problems), problems
