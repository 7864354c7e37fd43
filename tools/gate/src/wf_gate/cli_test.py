import torch

from wf_gate.cli import main


def test_version_prints_library_and_torch(capsys) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("worldflux ")
    assert torch.__version__ in out
