"""Named sizes against the paper's parameter counts, the discount heuristic, config errors."""

import pytest
import torch

from worldflux.core import ContractError, create_world_model, list_models
from worldflux.core.registry import build_config, resolve_model_id
from worldflux.datasets import load_dataset
from worldflux.models.tdmpc2 import (
    PAPER_PARAMS_SINGLE_TASK,
    SIZES,
    TDMPC2,
    TDMPC2Config,
    discount_for_episode_length,
)

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs

# The paper's single-task parameter counts (Hansen et al., TD-MPC2, model-size table; obs 24,
# act 6), written out here as well as in the library: a test that read them from the library
# alone would follow any edit to that table and could not catch it.
PAPER = {"1m": 1.21e6, "5m": 4.96e6, "19m": 18.06e6, "48m": 47.21e6, "317m": 312.6e6}


def test_library_table_is_the_papers() -> None:
    assert PAPER_PARAMS_SINGLE_TASK == PAPER


def _count(size: str) -> int:
    # The paper's single-task setting: 24-D states, 6-D actions. Meta device: shapes only.
    with torch.device("meta"):
        model = create_world_model(f"tdmpc2:{size}", obs_shape=(24,), action_dim=6)
    return model.num_parameters()


@pytest.mark.parametrize("size", sorted(PAPER))
def test_parameter_count_matches_the_paper(size: str) -> None:
    paper = PAPER[size]
    count = _count(size)
    # The brief allows 15%; a faithful build lands within rounding of the published figure.
    assert abs(count - paper) / paper < 0.01, (size, count, paper)


def test_five_m_breakdown_per_module() -> None:
    # Hand count from the official layer sizes (obs 24, act 6, latent 512, mlp 512, 5 Qs).
    with torch.device("meta"):
        model = create_world_model("tdmpc2:5m", obs_shape=(24,), action_dim=6)
    count = {
        name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()
    }
    normed = lambda i, o: i * o + o + 2 * o  # noqa: E731  Linear + LayerNorm
    assert count["encoder"] == normed(24, 256) + normed(256, 512)
    assert count["dynamics"] == normed(518, 512) + normed(512, 512) * 2
    assert count["reward_head"] == normed(518, 512) + normed(512, 512) + 512 * 101 + 101
    assert count["pi_head"] == normed(512, 512) * 2 + 512 * 12 + 12
    assert count["q"] == 5 * count["reward_head"]
    # Target Qs and the running scale are buffers: saved, never counted or optimised.
    assert model.num_parameters() == sum(count.values())
    assert sum(b.numel() for n, b in model.named_buffers() if "target_" in n) == count["q"]


def test_ci_size_is_small_and_real() -> None:
    model = create_world_model("tdmpc2:ci", obs_shape=(3,), action_dim=1)
    assert isinstance(model, TDMPC2)
    assert 10_000 < model.num_parameters() < 200_000
    assert model.q.num_members == 2 and model.config.num_bins == 101


def test_every_size_is_listed_and_the_alias_is_5m() -> None:
    ids = list_models()
    for size in SIZES:
        assert f"tdmpc2:{size}" in ids
    family, size = resolve_model_id("tdmpc2")
    assert (family.name, size) == ("tdmpc2", "5m")
    cfg = SIZES["317m"]
    assert (cfg["latent_dim"], cfg["num_enc_layers"], cfg["num_q"]) == (1376, 5, 8)


def test_official_hyperparameters_are_the_defaults() -> None:
    cfg = TDMPC2Config()
    assert (cfg.consistency_coef, cfg.reward_coef, cfg.value_coef, cfg.rho) == (20, 0.1, 0.1, 0.5)
    assert (cfg.lr, cfg.enc_lr_scale, cfg.grad_clip_norm, cfg.tau) == (3e-4, 0.3, 20, 0.01)
    assert (cfg.num_bins, cfg.vmin, cfg.vmax, cfg.simnorm_dim) == (101, -10, 10, 8)
    assert (cfg.log_std_min, cfg.log_std_max, cfg.entropy_coef, cfg.dropout) == (
        -10,
        2,
        1e-4,
        0.01,
    )


def test_a_config_without_a_size_is_the_registry_default_size() -> None:
    """TDMPC2Config() is the paper's default model (5m), as `tdmpc2` alone is."""
    family, size = resolve_model_id("tdmpc2")
    cfg, default = TDMPC2Config(), build_config(f"tdmpc2:{size}")
    assert cfg.size == family.default_size == "5m"
    for name in SIZES["5m"]:
        assert getattr(cfg, name) == getattr(default, name), name
    ci = build_config("tdmpc2:ci")
    # The ci size still says its own widths.
    assert isinstance(ci, TDMPC2Config) and (ci.latent_dim, ci.num_q) == (32, 2)


def test_discount_follows_the_dataset_episode_length() -> None:
    """Pendulum's 200-step episodes give the official rule's 0.975, not the fixed 0.99."""
    spec = load_dataset("pendulum", split="train", seed=0).spec
    assert spec.num_steps // spec.num_episodes - 1 == 200
    assert TDMPC2Config.dataset_defaults(spec) == {"discount": pytest.approx(0.975)}
    assert TDMPC2Config.dataset_defaults(object()) == {}  # nothing known: the default stays


@pytest.mark.parametrize(
    ("length", "expected"), [(200, 0.975), (500, 0.99), (1000, 0.995), (10, 0.95)]
)
def test_discount_heuristic(length: int, expected: float) -> None:
    assert discount_for_episode_length(length) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"action_kind": "discrete", "action_dim": 3}, "continuous actions"),
        ({"latent_dim": 30}, "multiple of simnorm_dim"),
        ({"num_q": 1}, "num_q"),
        ({"obs_shape": (3, 64, 32)}, "square images"),
        ({"obs_shape": (2, 3, 4, 5)}, "state vectors"),
        ({"dropout": 1.5}, "dropout"),
        ({"vmin": 1.0, "vmax": -1.0}, "vmin < vmax"),
    ],
)
def test_bad_configs_are_clear_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        TDMPC2Config(**overrides)


def test_unknown_override_suggests_the_field() -> None:
    with pytest.raises(ContractError, match="latent_dim"):
        create_world_model("tdmpc2:ci", latent_dims=64)


def test_images_build_for_every_size_on_meta() -> None:
    for size in ("ci", "1m", "5m"):
        with torch.device("meta"):
            model = create_world_model(f"tdmpc2:{size}", obs_shape=(3, 64, 64), action_dim=1)
        assert isinstance(model, TDMPC2)
        out = model.encode_obs(torch.zeros(2, 3, 64, 64, device="meta"))
        assert out.shape == (2, model.config.latent_dim)
