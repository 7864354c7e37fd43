"""The contract suite over every registered family (list_models()): a new family is covered by
registering it, with no edit here."""

from __future__ import annotations

import plugins.tdmpc2_variant  # noqa: F401  (an out-of-tree variant of a built-in family)
import pytest
from plugin_family.toy_family import ToyWorldModel

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.core import Rollout, families, list_models, register_family
from worldflux.core.registry import FAMILIES
from worldflux.gates.contract import CHECKS, failed, run_contract_suite

CI_MODELS = [model for model in list_models() if model.endswith(":ci")]


def test_every_family_has_a_ci_size() -> None:
    missing = [name for name, info in families().items() if "ci" not in info.sizes]
    assert not missing, f"families without a ci size (the size tests and gates run): {missing}"
    assert {"dreamerv3:ci", "tdmpc2:ci", "toy:ci", "tdmpc2-wide:ci"} <= set(CI_MODELS)


@pytest.mark.parametrize("model_id", CI_MODELS)
def test_family_passes_the_contract_suite(model_id: str) -> None:
    results = run_contract_suite(model_id)
    assert list(results) == list(CHECKS)
    assert not failed(results), failed(results)
    assert results["contract"].passed and results["served"].passed
    assert results["trainer_step"].passed and results["save_load_parity"].passed


class WrongShapeToy(ToyWorldModel):
    """Rollouts one step too short: what a family with an off-by-one horizon would return."""

    def rollout(self, state, actions, condition=None) -> Rollout:  # type: ignore[no-untyped-def]
        return super().rollout(state, actions[:, :-1], condition)


class NanToy(ToyWorldModel):
    """Predicts NaN rewards."""

    def rollout(self, state, actions, condition=None) -> Rollout:  # type: ignore[no-untyped-def]
        out = super().rollout(state, actions, condition)
        assert out.rewards is not None
        return Rollout(out.latents, rewards=out.rewards * float("nan"))


@pytest.mark.parametrize(
    ("model_class", "fails"),
    [(WrongShapeToy, {"contract", "planner"}), (NanToy, {"contract", "planner"})],
)
def test_a_broken_family_fails_the_suite(model_class: type, fails: set[str]) -> None:
    name = f"broken-{model_class.__name__.lower()}"
    register_family(
        name,
        model_class=model_class,
        config_class=FAMILIES.get("toy").config_class,
        sizes={"ci": {}},
        default_size="ci",
    )
    try:
        results = run_contract_suite(f"{name}:ci", dataset="pendulum")
    finally:
        FAMILIES.unregister(name)
    assert fails <= {check for check, r in results.items() if r.passed is False}, results
