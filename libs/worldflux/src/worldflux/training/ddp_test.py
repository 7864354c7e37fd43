"""Two CPU processes under torchrun (gloo over loopback): what the data-parallel Trainer computes.

Identical replicas are not enough (a sum instead of a mean keeps them identical too), so the toy
run is replayed in this process: one model, starting from rank 0's weights, steps on the mean of
the gradients of both ranks' batches, and must match every step's all-reduced gradient and the
final weights bit for bit. DreamerV3 shows the buffer broadcast (its return-normalisation
buffers follow each rank's batches), a NaN on one rank must stop both, and a checkpoint written
by two processes must refuse to resume in one. Runs are tiny: the machine has 2 cores.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (registers "toy" here; the ranks import it too)
import pytest
import torch
from safetensors.torch import load_file

import worldflux.models.dreamerv3  # noqa: F401  (so that Pants ships the family to the ranks)
from worldflux.core.errors import CheckpointError
from worldflux.core.registry import create_world_model
from worldflux.core.state import Batch
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig
from worldflux.training.clip import clip_gradients

torch.set_num_threads(1)  # as the ranks: the same kernels, so the replay can be bit-exact

TOY_STEPS = 4


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    load_dataset("pendulum", "heldout", cache_dir=path)  # generate once, not per rank
    return path


def run_ddp(
    out: Path, cache: Path, *extra: str, timeout: float = 240, expect_failure: bool = False
) -> tuple[Path, str]:
    """torchrun with 2 ranks of ddp_smoke: (out, stderr). It must exit 0 (non-zero with
    expect_failure); the whole process group is killed on a timeout."""
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
        *extra,
    ]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a hung rank can be killed with torchrun
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun still running after {timeout}s (a rank hung):\n{stderr[-4000:]}")
    assert (proc.returncode != 0) == expect_failure, stdout[-4000:] + stderr[-8000:]
    return out, stderr


def reports(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def safetensors(out: Path, kind: str) -> list[dict[str, torch.Tensor]]:
    return [load_file(str(out / f"rank{r}.{kind}.safetensors")) for r in (0, 1)]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, cache) -> Path:
    out = tmp_path_factory.mktemp("toy")
    steps = ("--steps", str(TOY_STEPS))
    return run_ddp(out, cache, *steps, "--record", "--output-dir", str(out / "train"))[0]


def test_two_process_ddp_keeps_replicas_identical(toy_run):
    out = toy_run
    first, second = reports(out)
    assert [first["world_size"], second["world_size"]] == [2, 2]
    # Each rank drew its own batches, so their losses differ...
    assert first["first_batch_sum"] != second["first_batch_sum"]
    assert first["losses"] != second["losses"]
    initial, final = safetensors(out, "initial"), safetensors(out, "final")
    # ...the replicas started from different random weights (rank 0's were broadcast)...
    assert any(not torch.equal(initial[0][k], initial[1][k]) for k in initial[0])
    # ...and still hold bit-identical weights after training, which moved them.
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name
    assert any(not torch.equal(final[0][k], initial[0][k]) for k in final[0])


def recorded_batch(steps: dict[str, torch.Tensor], step: int) -> Batch:
    fields = ("obs", "actions", "rewards", "continues", "is_first")
    return Batch(**{name: steps[f"{step}.batch.{name}"] for name in fields})


def test_ddp_steps_on_the_mean_gradient_of_both_ranks_batches(toy_run, cache):
    """One process, rank 0's start, the mean of both ranks' gradients: the same run, bit for bit.

    Deleting the division by the world size doubles every all-reduced gradient and fails the
    gradient comparison at step 1 (the final weights alone would not show it: Adam is nearly
    scale-free).
    """
    out = toy_run
    recorded = safetensors(out, "steps")
    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    model = create_world_model("toy:ci", **data.spec.model_kwargs())
    model.load_state_dict(safetensors(out, "initial")[0])
    config = TrainerConfig(
        steps=TOY_STEPS, batch_size=8, seq_len=8, eval_batches=0, progress=False, threads=1
    )
    ref = Trainer(model, config, data)  # one process: its optimizer, schedule and clipping
    spec = ref.optimizer_spec
    ref.model.train()
    for step in range(1, TOY_STEPS + 1):
        for rank in (0, 1):
            for name, value in ref.model.state_dict().items():
                before = recorded[rank][f"{step}.before.{name}"]
                assert torch.equal(value, before), f"step {step}: rank {rank} {name}"
        local = []
        for rank in (0, 1):
            ref.optimizer.zero_grad(set_to_none=True)
            ref.model.loss(recorded_batch(recorded[rank], step)).total.backward()
            local.append([p.grad.detach().clone() for p in ref.params])
        assert any(not torch.equal(a, b) for a, b in zip(*local, strict=True))  # batches differ
        for i, (param, g0, g1) in enumerate(zip(ref.params, *local, strict=True)):
            param.grad = (g0 + g1) / 2
            for rank in (0, 1):
                got = recorded[rank][f"{step}.grad.{i}"]
                ratio = float(got.norm() / param.grad.norm()) if param.grad.norm() > 0 else 1.0
                assert torch.equal(got, param.grad), (
                    f"step {step}, parameter {i}: rank {rank} stepped on {ratio:.3f} x the mean "
                    f"gradient of both ranks' batches"
                )
        clip_gradients(ref.params, spec.clip, spec.clip_value)
        ref.optimizer.step()
        ref.scheduler.step()
        ref.model.after_optimizer_step(step)
    final = safetensors(out, "final")[0]
    for name, value in ref.model.state_dict().items():
        assert torch.equal(value, final[name]), name


def test_a_checkpoint_of_two_processes_does_not_resume_in_one(toy_run, cache):
    out = toy_run
    written = json.loads((out / "train" / "checkpoint" / "trainer.json").read_text())
    assert written["world_size"] == 2 and written["step"] == TOY_STEPS
    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    model = create_world_model("toy:ci", **data.spec.model_kwargs())
    config = TrainerConfig(
        steps=8, batch_size=8, seq_len=8, eval_batches=0, progress=False, output_dir=out / "train"
    )
    with pytest.raises(CheckpointError, match=r"written by 2 process\(es\), this run has 1"):
        Trainer(model, config, data)


def test_a_checkpoint_of_one_process_does_not_resume_in_two(tmp_path, cache):
    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    model = create_world_model("toy:ci", **data.spec.model_kwargs())
    train = tmp_path / "train"
    config = TrainerConfig(
        steps=2, batch_size=8, seq_len=8, eval_batches=0, progress=False, output_dir=train
    )
    Trainer(model, config, data).fit()
    _, stderr = run_ddp(
        tmp_path / "out", cache, "--steps", "4", "--output-dir", str(train), expect_failure=True
    )
    assert "written by 1 process(es), this run has 2" in stderr, stderr[-4000:]
    assert json.loads((train / "checkpoint" / "trainer.json").read_text())["step"] == 2


def test_real_family_buffers_are_broadcast_from_rank_0(tmp_path, cache):
    """DreamerV3's return-normalisation buffers follow each rank's batches: only the broadcast
    after every step keeps the replicas equal (deleting it leaves retnorm.lo/hi different)."""
    # The ranks import the family by name: under Pants there are no entry points to find it.
    family = ("--plugin", "worldflux.models.dreamerv3", "--model", "dreamerv3:ci")
    out, _ = run_ddp(tmp_path, cache, *family, "--steps", "3", "--record")
    recorded = safetensors(out, "steps")
    buffers = [k for k in recorded[0] if ".buffers." in k]
    assert buffers, "no buffer was broadcast"
    differed = sorted(
        k.split(".buffers.", 1)[1]
        for k in buffers
        if not torch.equal(recorded[0][k], recorded[1][k])
    )
    # The check has power: before the broadcast the ranks' running statistics disagreed.
    assert "retnorm.lo" in differed and "retnorm.hi" in differed, differed
    final = safetensors(out, "final")
    assert final[0].keys() == final[1].keys()
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name


def test_nan_on_one_rank_stops_every_rank_at_that_step(tmp_path, cache):
    out, _ = run_ddp(tmp_path, cache, "--steps", "6", "--nan-rank", "1", "--nan-step", "3")
    first, second = reports(out)
    assert second["error"] == "NonFiniteLossError", second
    assert second["message"] == "loss component 'total' is nan at step 3"
    assert first["error"] == "NonFiniteLossError", first
    assert first["message"] == "loss component 'total (on another rank)' is nan at step 3"
    # Both stopped before updating at step 3, so they still agree.
    assert first["stopped_at"] == second["stopped_at"] == 2
    final = safetensors(out, "final")
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name
