"""Smoke test of examples/physics_energy_drift.py: a few steps, a short horizon, the figure."""

import math

import physics_energy_drift


def test_runs_and_writes_the_figure(tmp_path) -> None:
    out = tmp_path / "drift.png"
    curves = physics_energy_drift.main(["--steps", "3", "--horizon", "10", "--output", str(out)])
    assert set(curves) == {"hamiltonian", "mlp"}
    assert all(len(c) == 10 and all(math.isfinite(v) for v in c) for c in curves.values())
    assert out.stat().st_size > 0
