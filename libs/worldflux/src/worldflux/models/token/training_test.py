"""A short Trainer run per observation kind: the held-out next-token cross-entropy (the token
gate's trend metric) falls well below what the data's own token frequencies give, and on vectors
the codebook stays in use."""

import math

import torch

import worldflux.models.catalog  # noqa: F401
from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.token import TokenConfig
from worldflux.training import Trainer, TrainerConfig


def unigram_entropy(data) -> float:
    """Mean per-position entropy (nats) of the training tokens: the unigram baseline's CE."""
    obs = data.sample(256, 8, torch.Generator().manual_seed(0)).obs.long().flatten(0, 1)
    total = 0.0
    for k in range(obs.shape[1]):
        p = torch.bincount(obs[:, k]).float()
        p = p[p > 0] / p.sum()
        total += float(-(p * p.log()).sum())
    return total / obs.shape[1]


def test_token_ce_falls_below_the_unigram_entropy_on_the_tokens_dataset() -> None:
    train = load_dataset("tokens", "train")
    heldout = load_dataset("tokens", "heldout")
    torch.manual_seed(0)
    model = create_world_model(
        "token:ci", **train.spec.model_kwargs(), **TokenConfig.dataset_defaults(train.spec), lr=1e-3
    )
    config = TrainerConfig(steps=150, batch_size=16, seq_len=16, eval_batches=2, progress=False,
                           tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
    before, after = result.initial_eval["token_ce"], result.final_eval["token_ce"]
    assert math.isclose(before, math.log(96), rel_tol=0.05)  # untrained: uniform over the vocab
    assert after < 0.8 * unigram_entropy(train), (before, after)
    assert result.final_eval["perplexity"] < result.initial_eval["perplexity"] / 10


def test_vector_observations_train_the_tokenizer_and_keep_the_codebook_in_use() -> None:
    train = load_dataset("pendulum", "train")
    torch.manual_seed(0)
    model = create_world_model(
        "token:ci", **train.spec.model_kwargs(), lr=1e-3, reinit_every=10, usage_decay=0.9
    )
    config = TrainerConfig(steps=60, batch_size=8, seq_len=8, eval_batches=2, progress=False,
                           tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(
        model, config, train_data=train, eval_data=load_dataset("pendulum", "heldout")
    ).fit()
    assert result.final_eval["recon"] < result.initial_eval["recon"]
    # Dead codes were moved onto encoder outputs: more of the codebook is in use than at first
    # (IRIS's small uniform initialisation leaves most codes unreachable).
    assert result.final_eval["codebook_usage"] > result.initial_eval["codebook_usage"]
    assert all(math.isfinite(v) for v in result.final_eval.values())
