"""Two CPU processes under torchrun (gloo over loopback) end with identical weights."""

import json
import os
import subprocess
import sys

import plugin_family.toy_family  # noqa: F401  (registers "toy" here; the ranks import it too)
import torch
from safetensors.torch import load_file

from worldflux.datasets import load_dataset


def test_two_process_ddp_keeps_replicas_identical(tmp_path):
    cache = tmp_path / "cache"
    load_dataset("pendulum", "heldout", cache_dir=cache)  # generate once, not per rank
    out = tmp_path / "out"
    env = {
        **os.environ,
        # The ranks need this interpreter's import path (a Pants test runs from a PEX).
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "GLOO_SOCKET_IFNAME": "lo",  # loopback only
        "MASTER_ADDR": "127.0.0.1",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "worldflux.training.ddp_smoke",
        "--out",
        str(out),
        "--plugin",
        "plugin_family.toy_family",
        "--split",
        "heldout",
        "--cache",
        str(cache),
        "--steps",
        "6",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-8000:]

    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    # Each rank drew its own batches, so their losses differ...
    assert reports[0]["first_batch_sum"] != reports[1]["first_batch_sum"]
    assert reports[0]["losses"] != reports[1]["losses"]
    initial = [load_file(str(out / f"rank{r}.initial.safetensors")) for r in (0, 1)]
    final = [load_file(str(out / f"rank{r}.final.safetensors")) for r in (0, 1)]
    # ...the replicas started from different random weights (rank 0's were broadcast)...
    assert any(not torch.equal(initial[0][k], initial[1][k]) for k in initial[0])
    # ...and still hold bit-identical weights after training, which moved them.
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name
    assert any(not torch.equal(final[0][k], initial[0][k]) for k in final[0])
