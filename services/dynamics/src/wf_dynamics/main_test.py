from pathlib import Path

import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from wf_dynamics.main import build_parser, load_model


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(list(argv))


def test_model_flags_reach_the_config() -> None:
    args = parse(
        "--model",
        "toy:ci",
        "--plugin",
        "plugin_family.toy_family",
        "--obs-shape",
        "3,8,8",
        "--action-dim",
        "4",
        "--action-kind",
        "discrete",
        "--set",
        "hidden_dim=8",
    )
    model = load_model(args)
    assert isinstance(model, ToyWorldModel)
    assert model.config.obs_shape == (3, 8, 8)
    assert model.config.hidden_dim == 8
    assert model.spec.action.num_actions == 4
    assert model.spec.observation.modality == "image"


def test_same_seed_same_weights_so_replicas_are_interchangeable() -> None:
    argv = ["--model", "toy:ci", "--plugin", "plugin_family.toy_family", "--obs-shape", "3"]
    first, second = load_model(parse(*argv)), load_model(parse(*argv))
    other = load_model(parse(*argv, "--seed", "1"))
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name])
    assert any(not torch.equal(t, other.state_dict()[n]) for n, t in first.state_dict().items())


def test_checkpoint_is_served_bit_exactly(tmp_path: Path) -> None:
    torch.manual_seed(5)
    saved = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=2))
    saved.save_pretrained(tmp_path / "ckpt")
    loaded = load_model(parse("--checkpoint", str(tmp_path / "ckpt")))
    assert loaded.fingerprint() == saved.fingerprint()
    obs = torch.randn(4, 3)
    assert torch.equal(loaded.encode(obs)["z"], saved.encode(obs)["z"])


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="checkpoint directory .*missing does not exist"):
        load_model(parse("--checkpoint", str(tmp_path / "missing")))


def test_model_or_checkpoint_is_required_and_shapes_are_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse("--port", "1")
    assert "one of the arguments --model --checkpoint is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--model", "toy:ci", "--obs-shape", "3,a")
    assert "use e.g. 24 or 3,64,64" in capsys.readouterr().err


def test_defaults_bind_loopback() -> None:
    args = parse("--model", "toy:ci")
    assert args.host == "127.0.0.1"
    assert args.token is None and args.tls_cert is None
