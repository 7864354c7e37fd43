"""A training checkpoint survives a save that fails or is killed between its two renames.

The kill test runs a real training process and SIGKILLs it (from inside, at the exact moment
between the renames, so the test does not depend on timing); a fresh Trainer must then find the
previous checkpoint, resume from it, and finish exactly like a run that was never interrupted.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (registers "toy"; the child process imports it too)
import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.datasets import load_dataset
from worldflux.serialization import atomic as atomic_module
from worldflux.serialization import previous_path, recover_directory
from worldflux.training import Trainer, TrainerConfig, seed_everything
from worldflux.training.checkpoint import has_checkpoint, read_checkpoint

torch.set_num_threads(1)

# The child trains 4 steps (checkpoint at step 4), then is killed while saving step 8: after
# the checkpoint at step 4 was renamed aside and before the new one was renamed in.
CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    from plugin_family.toy_family import ToyConfig, ToyWorldModel
    from worldflux.datasets import load_dataset
    from worldflux.training import Trainer, TrainerConfig, seed_everything

    out, cache = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    seed_everything(0)
    model = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1))
    config = TrainerConfig(steps=8, batch_size=4, seq_len=4, eval_batches=0, progress=False,
                           threads=1, checkpoint_every=4, output_dir=out)
    trainer = Trainer(model, config, data)
    real_replace = os.replace

    def replace(src, dst):
        # The second rename of the save at step 8: the step-4 checkpoint is already aside.
        if str(src).endswith(".tmp") and os.path.basename(dst) == "checkpoint" \\
                and trainer.step == 8:
            print("killing between the renames", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    trainer.fit()
    print("not killed", flush=True)
    """)


def make_config(out: Path) -> TrainerConfig:
    return TrainerConfig(
        steps=8,
        batch_size=4,
        seq_len=4,
        eval_batches=0,
        progress=False,
        threads=1,
        checkpoint_every=4,
        output_dir=str(out),
    )


def toy(seed: int) -> ToyWorldModel:
    seed_everything(seed)
    return ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    load_dataset("pendulum", "heldout", cache_dir=path)  # generated once, read by the child
    return path


def test_sigkill_between_the_renames_resumes_from_the_previous_checkpoint(tmp_path, cache):
    out = tmp_path / "run"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),  # a Pants test runs from a PEX
        "OMP_NUM_THREADS": "1",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(cache)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-4000:]
    assert "killing between the renames" in child.stdout
    ckpt = out / "checkpoint"
    # The kill really landed in the window: nothing under the checkpoint's own name.
    assert not ckpt.exists()
    assert (previous_path(ckpt) / "trainer.json").is_file()

    assert has_checkpoint(ckpt)
    state, tensors = read_checkpoint(ckpt)
    assert state["step"] == 4

    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    resumed = Trainer(toy(seed=99), make_config(out), data)  # fresh weights: all from disk
    assert resumed.step == 4
    assert ckpt.is_dir() and not previous_path(ckpt).exists()  # recovered at start-up
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, tensors["model"][name]), name
    result = resumed.fit()

    straight = Trainer(toy(seed=0), make_config(tmp_path / "straight"), data).fit()
    assert [h["total"] for h in result.history] == [h["total"] for h in straight.history]
    assert read_checkpoint(ckpt)[0]["step"] == 8


def test_failed_second_rename_keeps_the_checkpoint_for_resume(tmp_path, cache, monkeypatch):
    out = tmp_path / "run"
    data = load_dataset("pendulum", "heldout", cache_dir=cache)
    first = Trainer(toy(seed=0), make_config(out), data)
    first.fit(until=4)
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    first.train_step()  # moves the weights on, so a resume from them would be caught

    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(src).endswith(".tmp"):
            raise OSError(5, "Input/output error (injected)")
        real(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", replace)
    with pytest.raises(OSError, match="injected"):
        first.save_checkpoint()
    monkeypatch.undo()

    resumed = Trainer(toy(seed=99), make_config(out), data)
    assert resumed.step == 4
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, saved[name]), name


# Saves checkpoints of about 4 MB in a loop (step N holds a tensor filled with N), printing
# "saved N" after each, until it is killed.
SAVER = textwrap.dedent("""
    import sys
    import torch
    from worldflux.training.checkpoint import has_checkpoint, read_checkpoint, write_checkpoint

    path = sys.argv[1]
    step = read_checkpoint(path)[0]["step"] if has_checkpoint(path) else 0
    while True:
        step += 1
        tensors = {"model": {"w": torch.full((1024, 1024), float(step))}}
        write_checkpoint(path, {"step": step}, tensors)
        print("saved", step, flush=True)
    """)


def test_sigkill_at_random_moments_always_leaves_the_last_saved_checkpoint(tmp_path):
    """Kills land wherever they land (writing, between the renames, removing the old copy):
    after each, the checkpoint that was last reported saved, or a later one, must read back whole
    (every file's sha256 checked) with consistent contents, and the next writer recovers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    path = tmp_path / "checkpoint"
    delays = random.Random(0)
    for _ in range(4):
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert saver.stdout is not None and saver.stderr is not None
        first = saver.stdout.readline()  # one save completed: the loop is running
        assert first.startswith("saved "), first + saver.stderr.read()
        time.sleep(delays.uniform(0.0, 0.3))
        saver.send_signal(signal.SIGKILL)
        rest, _ = saver.communicate(timeout=60)
        assert saver.returncode == -signal.SIGKILL
        reported = int((first + rest).split()[-1])  # the last "saved N" line
        assert has_checkpoint(path)
        state, tensors = read_checkpoint(path)
        assert state["step"] >= reported
        assert torch.equal(tensors["model"]["w"], torch.full((1024, 1024), float(state["step"])))
        recover_directory(path)  # what the next writer does first
        assert path.is_dir() and not previous_path(path).exists()
