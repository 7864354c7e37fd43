"""In-repo Pants plugin: `pants lint` reports violations of the `__dependencies_rules__` in BUILD files.

Pants 2.17 checks dependency (visibility) rules only while it resolves a target's dependencies,
which `lint` never does (ruff, black and hadolint read sources only): a planted violation failed
`check` and `test` but passed `lint ::`. This linter resolves each target's dependencies and turns
the rule error into a lint failure that names the target, the dependency and the rule.
"""

from wf_pants import visibility_lint


def rules():
    return visibility_lint.rules()
