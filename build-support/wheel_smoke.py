"""Uses the worldflux wheel as a user would: run by build-support/wheel-smoke.sh with a clean
venv's python, from a folder outside the repository, so that only the installed copy can load.

Checks the wheel's metadata (version, torch as a range, the `worldflux.families` entry points),
its package data (gate schema, generated protobuf modules), then creates `tdmpc2:ci` through the
top-level API, trains it one step on a bundled dataset, saves and reloads it, and plans one action.
Usage: python wheel_smoke.py REPO_ROOT
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import sys
import tempfile
from pathlib import Path


def main(repo: Path) -> None:
    import worldflux

    origin = Path(worldflux.__file__).resolve()
    if repo.resolve() in origin.parents or "site-packages" not in origin.parts:
        raise SystemExit(f"worldflux loaded from {origin}, not from the installed wheel")
    if "torch" in sys.modules:
        raise SystemExit("import worldflux imported torch")
    version = importlib.metadata.version("worldflux")
    assert version == worldflux.__version__, (version, worldflux.__version__)
    requires = importlib.metadata.requires("worldflux") or []
    # Requires-Dist as setuptools writes it: "torch (>=2.1)".
    plain = [r.replace(" ", "").replace("(", "").replace(")", "") for r in requires]
    torch_reqs = [r for r in plain if r.startswith("torch") and not r[5:6].isalnum()]
    assert torch_reqs == ["torch>=2.1"], torch_reqs
    families = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="worldflux.families")
    }
    assert {"dreamerv3", "tdmpc2"} <= set(families), families
    assert all(module.startswith("worldflux.models.") for module in families.values()), families
    schema_file = importlib.resources.files("worldflux.gates") / "schema/seed_runs.schema.json"
    schema = json.loads(schema_file.read_text())
    from worldflux.v1 import dynamics_pb2_grpc, planner_pb2  # noqa: F401

    import torch

    from worldflux import (
        InProcessDynamics,
        Trainer,
        TrainerConfig,
        create_world_model,
        list_models,
        load_dataset,
        make_planner,
    )

    assert {"dreamerv3:ci", "tdmpc2:ci"} <= set(list_models()), list_models()
    # Every built-in family (registered by the catalogue) is declared as an entry point too.
    from worldflux.core import families as registered

    assert set(registered()) == set(families), (sorted(registered()), sorted(families))
    data = load_dataset("pendulum", split="train")
    model = create_world_model("tdmpc2:ci", **data.spec.model_kwargs())
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(
            steps=1,
            batch_size=4,
            seq_len=4,
            eval_batches=1,
            output_dir=tmp,
            progress=False,
            tensorboard=False,
        )
        result = Trainer(model, config, train_data=data).fit()
        model.save_pretrained(Path(tmp) / "model")
        reloaded = create_world_model(str(Path(tmp) / "model"))
        obs = data.sample(1, 1, torch.Generator().manual_seed(0)).obs[:, 0]
        plan = make_planner("mppi", seed=0).plan(InProcessDynamics(reloaded), obs)
    action = plan.action.tensor
    assert action is not None and bool(torch.isfinite(action).all()), plan.action
    print(
        f"wheel smoke: worldflux {version} from {origin.parent}, "
        f"schema {schema.get('title', '?')!r}, "
        f"tdmpc2:ci trained {result.steps} step(s), reloaded, planned action "
        f"{[round(x, 4) for x in action[0, 0].tolist()]}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
