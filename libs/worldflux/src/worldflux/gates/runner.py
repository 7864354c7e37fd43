"""One seed run: build the model for its dataset, evaluate held-out, train, evaluate, check.

Failures are results here, not crashes: a NaN loss or an exception inside a family becomes a run
record with status "nonfinite" or "error" and the reason, so the measurement records it and goes
on to the next seed, and `wf-gate check` names it.
"""

from __future__ import annotations

import resource
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from worldflux.core import NonFiniteLossError, WorldModel
from worldflux.core.registry import get_family
from worldflux.gates import checks, control, skill
from worldflux.gates.backend import TrainingBackend, TrainSpec, model_for_data
from worldflux.gates.criteria import is_success
from worldflux.gates.evaluation import curve_steps, evaluate, heldout_batches
from worldflux.gates.jobs import Job
from worldflux.gates.kinds import GENERIC, gate_kind
from worldflux.gates.records import Evaluation, RunRecord, loss_drop
from worldflux.gates.settings import ControlSettings, GateSettings, MeasureSettings

# (run_id, step, total_steps)
ProgressHook = Callable[[str, int, int], None]
DATASET_SEED = 0


class PeakMemory:
    """Peak memory of this run: CUDA allocator peak on GPU, resident-set high-water mark on CPU.

    A worker process runs many seeds; on Linux the RSS high-water mark is reset per run through
    /proc/self/clear_refs so a run is not charged for its predecessor's peak.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_allocated" if device.type == "cuda" else "rss"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.kind = "rss"  # ru_maxrss below: the process-wide peak, an upper bound

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def execute(
    job: Job,
    settings: MeasureSettings,
    gate_settings: GateSettings,
    backend: TrainingBackend,
    progress: ProgressHook | None = None,
    workdir: str | Path | None = None,
) -> RunRecord:
    started = time.perf_counter()
    family, _, size = job.model.partition(":")
    try:
        kind = gate_kind(get_family(family).model_class)
    except Exception:
        kind = GENERIC
    record = RunRecord(
        model=job.model,
        family=family,
        gate_kind=kind,
        dataset=job.dataset,
        seed=job.seed,
        rerun=job.rerun,
        steps=settings.steps_for(family),
        device=settings.device,
        batch_size=settings.batch_size,
        seq_len=settings.seq_len,
    )
    device = torch.device(settings.device)
    memory = PeakMemory(device)
    memory.reset()
    record.peak_memory_kind = memory.kind
    eval_seconds = 0.0

    def timed_eval(model: WorldModel, heldout: Any) -> Evaluation:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        result = evaluate(
            model, heldout, settings.eval_batches, settings.batch_size, settings.seq_len
        )
        eval_seconds += time.perf_counter() - t0
        return result

    try:
        train_data = backend.load_dataset(job.dataset, "train", DATASET_SEED)
        heldout = backend.load_dataset(job.dataset, "heldout", DATASET_SEED)
        torch.manual_seed(job.seed)  # model initialisation differs per seed
        overrides = settings.overrides.get(family) or {}
        model = model_for_data(
            f"{family}:{size}", train_data.spec, device=settings.device, **overrides
        )
        record.num_parameters = model.num_parameters()
        probe = next(heldout_batches(heldout, 1, settings.batch_size, settings.seq_len))
        if "contract" in settings.checks:
            record.checks["contract"] = checks.contract_check(model, probe)

        record.initial = timed_eval(model, heldout)
        record.curve.append((0, record.initial.total))
        marks = set(curve_steps(record.steps, settings.curve_points))

        def on_step(step: int) -> None:
            if step in marks:
                record.curve.append((step, timed_eval(model, heldout).total))
            if progress is not None:
                progress(job.run_id, step, record.steps)

        spec = TrainSpec(
            record.steps,
            settings.batch_size,
            settings.seq_len,
            job.seed,
            settings.device,
            settings.deterministic,
            settings.schedule,
        )
        eval_before_train = eval_seconds
        try:
            outcome = backend.train(model, train_data, spec, on_step)
        except NonFiniteLossError as err:
            record.status, record.error = "nonfinite", str(err)
            record.steps_done = err.step or 0
            record.finite = False
            return record
        record.steps_done = outcome.steps_done
        if outcome.train_seconds is not None:
            record.train_seconds = outcome.train_seconds
        else:  # curve evaluations ran inside the backend's clock: charge them to evaluation
            record.train_seconds = max(0.0, outcome.seconds - (eval_seconds - eval_before_train))
        record.final = timed_eval(model, heldout)
        record.curve.append((record.steps, record.final.total))
        record.loss_drop = loss_drop(record.initial.total, record.final.total)
        t0 = time.perf_counter()
        record.skill = skill.measure_skill(
            model,
            heldout,
            skill.Baselines.fit(
                train_data, settings.eval_batches, settings.batch_size, settings.seq_len
            ),
            skill.SkillSettings(
                settings.open_loop_steps,
                settings.eval_batches,
                settings.batch_size,
                settings.seq_len,
            ),
        )
        eval_seconds += time.perf_counter() - t0
        record.finite = (
            record.initial.finite
            and record.final.finite
            and all(m.finite for m in record.skill.values())
        )
        if not record.finite:
            record.status, record.error = "nonfinite", "held-out evaluation is not finite"
        if record.finite and not job.rerun:
            if "save_load_parity" in settings.checks:
                record.checks["save_load_parity"] = checks.save_load_parity(
                    model, probe, gate_settings.parity_atol, gate_settings.parity_rtol, workdir
                )
            if "planner" in settings.checks:
                record.checks["planner"] = checks.planner_check(model, probe.obs[:, 0])
        if settings.control is not None and not job.rerun:
            # Its own model, trained online from the same seed: the held-out model above
            # stays as measured.
            record.checks[control.CHECK] = control.control_check(
                job.model,
                job.seed,
                ControlSettings.from_dict(settings.control),
                settings.device,
                overrides,
            )
        record.success = is_success(record, gate_settings)
    except Exception as err:
        record.status = "error"
        where = traceback.extract_tb(err.__traceback__)[-1]
        record.error = f"{type(err).__name__}: {err} (at {where.filename}:{where.lineno})"
        record.finite = False
        record.success = False
    finally:
        record.seconds = time.perf_counter() - started
        record.eval_seconds = eval_seconds
        if record.train_seconds > 0 and record.steps_done:
            record.steps_per_second = record.steps_done / record.train_seconds
        record.peak_memory_bytes = memory.peak_bytes()
    return record
