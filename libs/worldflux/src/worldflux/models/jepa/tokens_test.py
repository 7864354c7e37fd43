"""The tokenizer standardises image pixels (the official pipelines' ImageNet normalisation), so
patch content is not drowned by the fixed positions at the official std-0.02 init."""

import torch

from worldflux.models.jepa.encoder import Encoder
from worldflux.models.jepa.tokens import IMAGENET_MEAN, IMAGENET_STD, Tokenizer

torch.set_num_threads(1)


def test_an_image_of_the_mean_colour_embeds_as_zero_input() -> None:
    tok = Tokenizer((3, 16, 16), 32, 8, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1).expand(2, 1, 3, 16, 16)
    assert torch.allclose(tok(mean), tok.embed.bias.expand(2, 4, -1), atol=1e-6)
    one_std = mean + torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    summed = tok.embed.weight.sum(1) + tok.embed.bias  # every input at +1
    assert torch.allclose(tok(one_std)[0, 0], summed, atol=1e-5)
    # without the standardisation the mean colour would embed as W @ pixels, not zero
    raw = tok.embed(torch.tensor(IMAGENET_MEAN).repeat_interleave(64))
    assert not torch.allclose(raw, tok.embed.bias, atol=1e-3)


def test_patch_content_is_not_drowned_by_positions_at_init() -> None:
    torch.manual_seed(0)
    enc = Encoder((3, 48, 48), 1, 64, 1, 4, 8, 1)
    frames = torch.rand(16, 1, 3, 48, 48) * 0.75 + 0.1  # the push data's pixel range
    content = enc.tokenizer(frames).std(0).mean()
    positions = enc.pos.square().mean().sqrt()
    # raw [0, 1] pixels gave 0.06 against 0.71; standardised they give about a third of it
    assert content > 0.25 * positions, (float(content), float(positions))


def test_vector_tokens_are_not_standardised() -> None:
    tok = Tokenizer((4,), 8, 1, 2)
    x = torch.zeros(1, 1, 4)
    assert torch.allclose(tok(x), tok.embed.bias.expand(1, 2, -1))
    assert not hasattr(tok, "pixel_mean")
