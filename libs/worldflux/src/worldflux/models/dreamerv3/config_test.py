import pytest

from worldflux.core import ContractError, create_world_model, list_models
from worldflux.core.registry import build_config, resolve_model_id
from worldflux.models.dreamerv3 import (
    PAPER_PARAMS,
    SIZES,
    DreamerV3Config,
    DreamerV3WorldModel,
    count_parameters,
)

ATARI = {"obs_shape": (3, 64, 64), "action_dim": 18, "action_kind": "discrete"}
# The paper's parameter counts (Hafner et al., DreamerV3, model-size table; 64x64x3 images, 18
# discrete actions), written out here as well as in the library: a test that read them from the
# library alone would follow any edit to that table and could not catch it.
PAPER = {
    "size1m": 0.75e6,
    "size12m": 11.4e6,
    "size25m": 25.4e6,
    "size50m": 44.9e6,
    "size100m": 100.8e6,
    "size200m": 178.8e6,
    "size400m": 401.6e6,
}


def test_library_table_is_the_papers() -> None:
    assert PAPER_PARAMS == PAPER


def atari_config(size: str) -> DreamerV3Config:
    return DreamerV3Config(**{**SIZES[size], **ATARI, "size": size})


@pytest.mark.parametrize("size", sorted(PAPER))
def test_parameter_count_matches_paper_table(size: str) -> None:
    total, breakdown = count_parameters(atari_config(size))
    # The brief allows 15%; the official layer sizes land within 0.6% of the published table.
    assert abs(total - PAPER[size]) / PAPER[size] < 0.01, (size, total, breakdown)
    assert sum(breakdown.values()) == total
    assert breakdown["slow_critic"] == breakdown["critic"]


@pytest.mark.parametrize("size", ["ci", "size1m", "size12m"])
def test_instantiated_count_equals_meta_count(size: str) -> None:
    model = DreamerV3WorldModel(atari_config(size))
    assert model.num_parameters() == count_parameters(atari_config(size))[0]
    trainable = sum(p.numel() for g in model.parameter_groups() for p in g["params"])
    assert trainable == model.num_parameters() - model.parameter_breakdown()["slow_critic"]


def test_size_presets_follow_official_ratios() -> None:
    for name in PAPER_PARAMS:
        s = SIZES[name]
        assert s["deter"] == 8 * s["hidden"]
        assert s["classes"] == s["hidden"] // 16 == s["depth"]
        assert s["units"] == s["hidden"] and s["stoch"] == 32
    c = DreamerV3Config()
    assert (c.blocks, c.unimix, c.free_nats, c.bins, c.kernel) == (8, 0.01, 1.0, 255, 5)
    assert c.mults == (2, 3, 4, 4)
    assert (c.scale_dyn, c.scale_rep, c.scale_repval) == (1.0, 0.1, 0.3)
    assert (c.imag_horizon, c.slow_rate, c.lr, c.opt_eps, c.agc, c.warmup) == (
        15,
        0.02,
        4e-5,
        1e-20,
        0.3,
        1000,
    )


def test_registry_ids_and_alias() -> None:
    ids = list_models()
    for size in ["ci", *PAPER_PARAMS]:
        assert f"dreamerv3:{size}" in ids
    family, size = resolve_model_id("dreamer")
    assert family.name == "dreamerv3" and size == "size12m"
    model = create_world_model("dreamerv3:ci", obs_shape=(3,), action_dim=1)
    assert model.model_id == "dreamerv3:ci" and isinstance(model, DreamerV3WorldModel)


def test_optimizer_spec_is_the_2024_config() -> None:
    model = create_world_model("dreamerv3:ci", obs_shape=(3,), action_dim=1)
    spec = model.optimizer_spec()
    assert (spec.name, spec.lr, spec.eps, spec.clip, spec.clip_value, spec.warmup_steps) == (
        "laprop",
        4e-5,
        1e-20,
        "agc",
        0.3,
        1000,
    )
    assert spec.betas == (0.9, 0.999)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deter": 60}, "divisible by blocks"),
        ({"obs_shape": (3, 50, 50)}, "multiples of 16"),
        ({"obs_shape": (3, 512, 512)}, "3..16 pixel bottleneck"),
        ({"unimix": 1.5}, "unimix must be in"),
        ({"classes": 0}, "classes must be >= 1"),
    ],
)
def test_bad_configs_fail_clearly(overrides: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        DreamerV3Config(**{**SIZES["ci"], **overrides})


def test_config_json_round_trip() -> None:
    c = atari_config("size1m")
    assert DreamerV3Config.from_dict(c.to_dict()) == c
    assert isinstance(DreamerV3Config.from_dict(c.to_dict()).mults, tuple)
    assert c.min_resolution == (4, 4)


def test_a_config_without_a_size_is_the_registry_default_size() -> None:
    """DreamerV3Config() is the paper's default model (size12m), as `dreamerv3` alone is."""
    family, size = resolve_model_id("dreamerv3")
    cfg, default = DreamerV3Config(), build_config(f"dreamerv3:{size}")
    assert cfg.size == family.default_size == "size12m"
    for name in SIZES["size12m"]:
        assert getattr(cfg, name) == getattr(default, name), name
    ci = build_config("dreamerv3:ci")
    assert isinstance(ci, DreamerV3Config) and ci.deter == 64  # ci keeps its own widths
