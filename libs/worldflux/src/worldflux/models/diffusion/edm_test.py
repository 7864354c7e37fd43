"""EDM preconditioning, training noise levels and the Euler sampler (DIAMOND's settings)."""

import math

import torch

from worldflux.models.diffusion.edm import (
    conditioners,
    euler_sample,
    karras_sigmas,
    sample_sigma,
)

SD = 0.5


def test_preconditioning_matches_karras_formulas() -> None:
    sigma = torch.tensor([0.002, 0.5, 1.0, 20.0])
    cs = conditioners(sigma, SD)
    total = sigma**2 + SD**2
    assert torch.allclose(cs.c_skip, SD**2 / total)
    assert torch.allclose(cs.c_out, sigma * SD / total.sqrt())
    assert torch.allclose(cs.c_in, 1 / total.sqrt())
    assert torch.allclose(cs.c_noise, sigma.log() / 4)
    # At sigma = sigma_data the skip and the network share the work equally.
    assert math.isclose(float(cs.c_skip[1]), 0.5) and math.isclose(
        float(cs.c_out[1]), SD / 2**0.5, rel_tol=1e-6
    )


def test_preconditioning_gives_unit_variance_inputs_and_targets() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=g) * SD
    for level in (0.05, 1.0, 10.0):
        sigma = torch.full((1,), level)
        cs = conditioners(sigma, SD)
        noisy = x + level * torch.randn(x.shape, generator=g)
        assert math.isclose(float((cs.c_in * noisy).std()), 1.0, rel_tol=0.02)
        target = (x - cs.c_skip * noisy) / cs.c_out
        assert math.isclose(float(target.std()), 1.0, rel_tol=0.02)


def test_offset_noise_enters_through_sigma() -> None:
    sigma = torch.tensor([0.4])
    assert torch.allclose(
        conditioners(sigma, SD, 0.3).c_in, conditioners(torch.tensor([0.5]), SD).c_in
    )


def test_training_sigmas_are_log_normal_and_clipped() -> None:
    g = torch.Generator().manual_seed(0)
    s = sample_sigma(100_000, -0.4, 1.2, 2e-3, 20.0, torch.device("cpu"), g)
    assert float(s.min()) >= 2e-3 and float(s.max()) <= 20.0
    inside = s[(s > 2e-3) & (s < 20.0)].log()
    assert math.isclose(float(s.log().median()), -0.4, abs_tol=0.02)
    assert math.isclose(float(inside.std()), 1.2, rel_tol=0.05)


def test_karras_schedule_of_the_sampler() -> None:
    sigmas = karras_sigmas(3, 2e-3, 5.0, 7.0)
    assert sigmas.shape == (4,)
    assert math.isclose(float(sigmas[0]), 5.0, rel_tol=1e-6)
    assert math.isclose(float(sigmas[2]), 2e-3, rel_tol=1e-5)
    assert float(sigmas[3]) == 0.0
    mid = ((5.0 ** (1 / 7) + 2e-3 ** (1 / 7)) / 2) ** 7
    assert math.isclose(float(sigmas[1]), mid, rel_tol=1e-5)


def test_euler_reaches_the_denoised_point_and_is_deterministic_given_the_noise() -> None:
    clean = torch.tensor([[0.3, -0.2]])
    sigmas = karras_sigmas(3, 2e-3, 5.0, 7.0)
    out = euler_sample(lambda x, s: clean.expand_as(x), torch.randn(1, 2), sigmas)
    assert torch.allclose(out, clean, atol=1e-6)  # the last step lands on D(x, sigma_min)
    calls = []

    def record(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        calls.append(float(s[0]))
        return 0.5 * x

    noise = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    a = euler_sample(record, noise, sigmas)
    b = euler_sample(record, noise.clone(), sigmas)
    assert torch.equal(a, b)
    assert calls[:3] == [float(v) for v in sigmas[:3]]  # 3 steps: 3 denoiser calls
