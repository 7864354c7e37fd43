"""A family outside the library joins through an entry point, with no edit to core."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (Pants: the plugin module travels with this test)

# The child interpreter sees exactly the import path of this one (source roots included).
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def test_family_registers_through_entry_point_in_a_fresh_interpreter(tmp_path: Path) -> None:
    # An installed distribution is just a .dist-info folder on sys.path with entry_points.txt.
    dist = tmp_path / "wf_toy_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wf-toy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[worldflux.families]\ntoy = plugin_family.toy_family\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from worldflux.core import create_world_model, list_models
        assert "plugin_family.toy_family" not in sys.modules
        model = create_world_model("toy-wide", obs_shape=(5,), action_dim=2)
        print(type(model).__module__, model.model_id, model.config.hidden_dim)
        print("toy:ci" in list_models(), "toy:wide" in list_models())
        """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=CHILD_ENV
    ).stdout.split("\n")
    assert out[0] == "plugin_family.toy_family toy:wide 128"
    assert out[1] == "True True"


def test_without_the_entry_point_the_family_is_unknown() -> None:
    script = textwrap.dedent("""
        from worldflux.core import UnknownModelError, create_world_model
        try:
            create_world_model("toy:ci")
        except UnknownModelError as err:
            print("unknown:", err)
        """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=CHILD_ENV
    )
    assert out.stdout.startswith("unknown: unknown model 'toy:ci'")
