from pathlib import Path

import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core import (
    ContractError,
    UnknownModelError,
    create_world_model,
    get_family,
    list_models,
    register_family,
)


def test_create_by_id_alias_and_default_size() -> None:
    model = create_world_model("toy:wide", obs_shape=(4,), action_dim=2)
    assert isinstance(model, ToyWorldModel)
    assert model.model_id == "toy:wide" and model.config.hidden_dim == 128
    assert create_world_model("toy-wide").config.size == "wide"
    assert create_world_model("toy").config.size == "ci"


def test_overrides_reach_the_config_and_device() -> None:
    model = create_world_model("toy:ci", obs_shape=(7,), action_dim=3, latent_dim=5, device="cpu")
    assert isinstance(model.config, ToyConfig) and model.config.latent_dim == 5
    assert model.encode(torch.zeros(2, 7))["z"].shape == (2, 5)


def test_unknown_ids_suggest_the_closest() -> None:
    with pytest.raises(
        UnknownModelError, match=r"unknown model 'tyo:ci' \(did you mean 'toy:ci'\?\)"
    ):
        create_world_model("tyo:ci")
    with pytest.raises(
        UnknownModelError, match=r"toy has no size 'wdie' \(did you mean 'wide'\?\)"
    ):
        create_world_model("toy:wdie")
    with pytest.raises(UnknownModelError, match="unknown model family 'toi'"):
        get_family("toi")


def test_unknown_override_key_suggests_field() -> None:
    with pytest.raises(
        ContractError, match=r"unknown override for toy key 'hiden_dim' .*did you mean 'hidden_dim'"
    ):
        create_world_model("toy:ci", hiden_dim=3)


def test_bad_override_value_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="need dim > 0"):
        create_world_model("toy:ci", action_dim=0)
    with pytest.raises(ContractError, match="action_kind 'token'"):
        create_world_model("toy:ci", action_kind="token")


def test_list_models() -> None:
    ids = list_models()
    assert {"toy:ci", "toy:wide"} <= set(ids)
    assert "toy-wide" in list_models(include_aliases=True) and "toy-wide" not in ids


def test_register_rejects_conflicts_and_bad_sizes() -> None:
    class Other(ToyWorldModel):
        pass

    with pytest.raises(ContractError, match="already registered"):
        register_family(
            "toy", model_class=Other, config_class=ToyConfig, sizes={"ci": {}}, default_size="ci"
        )
    with pytest.raises(ContractError, match="default size 'xl'"):
        register_family(
            "toy2", model_class=Other, config_class=ToyConfig, sizes={"ci": {}}, default_size="xl"
        )
    with pytest.raises(ContractError, match="unknown toy3:big size key 'widht'"):
        register_family(
            "toy3",
            model_class=Other,
            config_class=ToyConfig,
            sizes={"big": {"widht": 2}},
            default_size="big",
        )


def test_config_json_round_trip_restores_tuples() -> None:
    config = ToyConfig(obs_shape=(3, 8, 8), action_dim=4, action_kind="discrete")
    again = ToyConfig.from_dict(config.to_dict())
    assert again == config and isinstance(again.obs_shape, tuple)
    assert config.observation_spec().modality == "image"
    with pytest.raises(ContractError, match="did you mean 'latent_dim'"):
        ToyConfig.from_dict({**config.to_dict(), "latnt_dim": 3})


def test_create_from_checkpoint_directory(tmp_path: Path) -> None:
    model = create_world_model("toy:ci", obs_shape=(4,), action_dim=2)
    model.save_pretrained(tmp_path / "ckpt")
    again = create_world_model(str(tmp_path / "ckpt"))
    obs = torch.randn(3, 4)
    assert torch.equal(model.encode(obs)["z"], again.encode(obs)["z"])
    with pytest.raises(ContractError, match="no config overrides"):
        create_world_model(tmp_path / "ckpt", latent_dim=3)
