"""In-repo Pants plugin.

- `visibility` linter: `pants lint` reports violations of the `__dependencies_rules__` in BUILD
  files. Pants 2.17 checks dependency (visibility) rules only while it resolves a target's
  dependencies, which `lint` never does (ruff, black and hadolint read sources only): a planted
  violation failed `check` and `test` but passed `lint ::`.
- `install_requires_ranges` on python_distribution: a version range (torch>=2.1) in the wheel
  where the resolve pins the local CPU build.
"""

from wf_pants import dist_requirements, visibility_lint


def rules():
    return [*visibility_lint.rules(), *dist_requirements.rules()]
