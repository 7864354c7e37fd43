"""Planner-boundary gate at run time: the running planner service loads no model family.

The build enforces the static boundary: services/planner's BUILD file denies every dependency on
worldflux.models (Pants dependency rules, checked by `pants lint`, see
build-support/check-boundaries.sh). This test covers what static inference cannot see: imports
by name at run time (`importlib.import_module`, entry points) while the service builds its
planner and servicer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def test_running_planner_service_loads_no_model_family() -> None:
    script = textwrap.dedent("""
        import sys
        import wf_planner.main as main
        from worldflux.rpc.remote import RemoteDynamics
        from wf_planner.servicer import PlannerServicer

        args = main.build_parser().parse_args(["--dynamics", "127.0.0.1:9"])
        servicer = PlannerServicer(main.build_planner(args), RemoteDynamics("127.0.0.1:9"))
        servicer.service()
        print(sorted(m for m in sys.modules if m.startswith("worldflux.models")))
        """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=CHILD_ENV
    )
    assert out.stdout.strip() == "[]", out.stdout
