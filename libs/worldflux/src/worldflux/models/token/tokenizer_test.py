"""The VQ tokenizer: straight-through gradient, commitment loss, dead-code re-initialisation,
usage metrics, and token observations passed through as they are."""

import math

import pytest
import torch

from worldflux.models.token.config import TokenConfig
from worldflux.models.token.tokenizer import Tokenizer, VectorQuantizer, usage_metrics


def quantizer(vocab: int = 8, dim: int = 4) -> VectorQuantizer:
    torch.manual_seed(0)
    return VectorQuantizer(vocab, dim, beta=1.0, threshold=0.03, decay=0.5)


def test_straight_through_passes_the_decoder_gradient_to_the_encoder_unchanged() -> None:
    vq = quantizer()
    z = torch.randn(5, 3, 4, requires_grad=True)
    out = vq(z)
    # Forward value: the codebook vectors of the nearest codes.
    assert torch.allclose(out.z_st.detach(), vq.codebook(out.tokens).detach(), atol=1e-6)
    weights = torch.randn(5, 3, 4)
    (out.z_st * weights).sum().backward()
    # d(loss)/dz is d(loss)/dq: the gradient skips the argmin.
    assert torch.allclose(z.grad, weights)
    assert vq.codebook.weight.grad is None  # the straight-through path does not touch the codebook


def test_commitment_loss_trains_codebook_and_encoder_with_beta() -> None:
    vq = quantizer()
    z = torch.randn(6, 4, requires_grad=True)
    out = vq(z)
    q = vq.codebook(out.tokens).detach()
    expected = 2 * (z.detach() - q).pow(2).mean()  # codebook term + beta (1) * commitment term
    assert torch.allclose(out.commitment, expected)
    out.commitment.backward()
    assert torch.allclose(z.grad, 2 * (z - q).detach() / z.numel())
    assert vq.codebook.weight.grad is not None and vq.codebook.weight.grad.abs().sum() > 0


def test_dead_codes_move_onto_encoder_outputs_and_live_codes_stay() -> None:
    vq = quantizer()
    before = vq.codebook.weight.detach().clone()
    for _ in range(20):  # only codes 0 and 1 are ever used: the EMA kills the rest
        vq.track_usage(torch.tensor([0, 1, 0, 1]))
    dead = vq.dead_codes()
    assert dead.tolist() == [False, False] + [True] * 6
    candidates = torch.randn(10, 4) + 100.0
    assert vq.reinit_dead(candidates, torch.Generator().manual_seed(0)) == 6
    after = vq.codebook.weight.detach()
    assert torch.equal(after[:2], before[:2])
    for row in after[2:]:
        assert any(torch.equal(row, c) for c in candidates)
    assert not vq.dead_codes().any()  # revived codes start at uniform usage
    # The revived codes now win for inputs near the candidates.
    assert bool((vq.nearest(candidates) >= 2).all())
    assert vq.reinit_dead(candidates) == 0


def test_usage_metrics() -> None:
    m = usage_metrics(torch.tensor([0, 0, 1, 1]), 8)
    assert m["codebook_usage"] == 2 / 8
    assert math.isclose(m["codebook_perplexity"], 2.0, rel_tol=1e-6)


@pytest.mark.parametrize("shape", [(3,), (3, 64, 64)])
def test_tokenizer_round_trip_shapes(shape: tuple[int, ...]) -> None:
    config = TokenConfig(
        obs_shape=shape,
        action_dim=1,
        size="ci",
        vocab_size=16,
        embed_dim=8,
        tokens_per_obs=4,
        enc_channels=4,
        width=16,
        num_heads=2,
        num_layers=1,
    )
    tok = Tokenizer(config)
    obs = torch.rand(2, 5, *shape)
    ids = tok.tokenize(obs)
    k = 16 if len(shape) == 3 else 4
    assert ids.shape == (2, 5, k) and ids.dtype == torch.int64
    assert tok.detokenize(ids).shape == obs.shape


def test_token_observations_are_their_own_tokens() -> None:
    config = TokenConfig(
        obs_shape=(2,),
        action_dim=5,
        action_kind="discrete",
        obs_modality="tokens",
        obs_vocab_size=96,
        size="ci",
    )
    tok = Tokenizer(config)
    obs = torch.tensor([[3.0, 70.0]])
    assert tok.tokenize(obs).tolist() == [[3, 70]]
    assert torch.equal(tok.detokenize(tok.tokenize(obs)), obs)
    assert tok.quantizer is None
