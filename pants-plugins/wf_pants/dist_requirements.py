"""`install_requires` ranges for a python_distribution, instead of the resolve's pins.

The lockfile pins `torch==2.13.0+cpu` (the local CPU wheel) so that tests never pull the CUDA
build; a wheel with that pin could not be installed next to a user's own CUDA torch. Pants 2.17
derives install_requires from the requirement targets and bans the key in `python_artifact()`:
a distribution drops the pinned requirement with a transitive exclude
(`!!3rdparty/python:reqs#torch`) and names the range here (`install_requires_ranges=["torch>=2.1"]`).
"""

from __future__ import annotations

from pants.backend.python.target_types import PythonDistribution
from pants.backend.python.util_rules.package_dists import SetupKwargs, SetupKwargsRequest
from pants.engine.rules import collect_rules, rule
from pants.engine.target import StringSequenceField, Target
from pants.engine.unions import UnionRule


class InstallRequiresRangesField(StringSequenceField):
    alias = "install_requires_ranges"
    help = (
        "Requirements added to the distribution's install_requires as written (e.g. `torch>=2.1`); "
        "exclude the resolve's pinned requirement with `!!<address>` in `dependencies`."
    )


class RangesSetupKwargsRequest(SetupKwargsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return bool(target.get(InstallRequiresRangesField).value)


@rule
async def setup_kwargs_with_ranges(request: RangesSetupKwargsRequest) -> SetupKwargs:
    kwargs = request.explicit_kwargs
    ranges = request.target[InstallRequiresRangesField].value or ()
    kwargs["install_requires"] = [*kwargs.get("install_requires", []), *ranges]
    return SetupKwargs(kwargs, address=request.target.address, _allow_banned_keys=True)


def rules():
    return [
        *collect_rules(),
        UnionRule(SetupKwargsRequest, RangesSetupKwargsRequest),
        PythonDistribution.register_plugin_field(InstallRequiresRangesField),
    ]
