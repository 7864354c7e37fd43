"""Smoke test of examples/physics_energy_drift.py: a few steps, a short horizon, the figure."""

import math

import physics_energy_drift
import pytest

from worldflux.core import ContractError


def test_runs_and_writes_the_figure(tmp_path) -> None:
    out = tmp_path / "drift.png"
    curves = physics_energy_drift.main(["--steps", "3", "--horizon", "10", "--output", str(out)])
    assert set(curves) == {"hamiltonian", "mlp"}
    assert all(len(c) == 10 and all(math.isfinite(v) for v in c) for c in curves.values())
    assert out.stat().st_size > 0


def test_config_overrides_parse_and_bad_ones_fail(capsys) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parsed = physics_energy_drift.parse_overrides(parser, ["hidden=128", "energy=pendulum"])
    assert parsed == {"hidden": 128, "energy": "pendulum"}
    for bad in (["hidden"], ["=3"], ["dynamics=mlp"]):
        with pytest.raises(SystemExit):
            physics_energy_drift.parse_overrides(parser, bad)
    assert "FIELD=VALUE" in capsys.readouterr().err
    with pytest.raises(ContractError, match="no_such_field"):
        physics_energy_drift.main(["--steps", "1", "--config", "no_such_field=1"])
