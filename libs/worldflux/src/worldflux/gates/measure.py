"""A measurement: the planned seed runs, spread over worker processes, recorded as they finish.

Each finished run is written to the report at once (atomically), so a measurement killed at any
moment keeps every run it finished, and `append=True` picks up exactly the runs still missing.
Workers are started with the spawn method (a fresh interpreter: no forked torch thread pools or
CUDA contexts) and each limits torch to its share of the CPU cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import multiprocessing
import os
import queue
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from worldflux.core.registry import get_family
from worldflux.gates.backend import load_backend
from worldflux.gates.jobs import Job, Shard, plan, shard_jobs
from worldflux.gates.records import RunRecord
from worldflux.gates.report import Report, read_report, write_report
from worldflux.gates.runner import execute
from worldflux.gates.schema import ReportError
from worldflux.gates.settings import GateSettings, MeasureSettings

STEP_UPDATE_SECONDS = 0.25


class MeasureError(RuntimeError):
    """The measurement could not go on; the report on disk keeps every finished run."""


class Events(Protocol):
    """What a progress display hears about (called from the measuring process only)."""

    def planned(self, total: int, done: int, jobs: Sequence[Job], steps: int) -> None: ...

    def started(self, run_id: str) -> None: ...

    def step(self, run_id: str, step: int, total: int) -> None: ...

    def finished(self, record: RunRecord, recorded: int) -> None: ...


class NoEvents:
    def planned(self, total: int, done: int, jobs: Sequence[Job], steps: int) -> None:
        pass

    def started(self, run_id: str) -> None:
        pass

    def step(self, run_id: str, step: int, total: int) -> None:
        pass

    def finished(self, record: RunRecord, recorded: int) -> None:
        pass


@dataclass
class WorkerSetup:
    """Everything a fresh worker interpreter needs before it can run a job."""

    settings: MeasureSettings
    gate_settings: GateSettings
    backend: str | None = None
    imports: list[str] = field(default_factory=list)
    threads: int = 1
    workdir: str | None = None


# -- worker side ------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(setup: WorkerSetup, events: Any) -> None:
    torch.set_num_threads(max(1, setup.threads))
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)
    import_families(setup.imports)
    _worker.update(setup=setup, events=events, backend=load_backend(setup.backend))


def _progress_sender(events: Any) -> Any:
    last = [0.0]

    def send(run_id: str, step: int, total: int) -> None:
        now = time.monotonic()
        if step == total or now - last[0] >= STEP_UPDATE_SECONDS:
            last[0] = now
            events.put(("step", run_id, step, total))

    return send


def _run_job(job: Job) -> dict[str, Any]:
    setup: WorkerSetup = _worker["setup"]
    events = _worker["events"]
    if events is not None:
        events.put(("started", job.run_id, 0, 0))
    record = execute(
        job,
        setup.settings,
        setup.gate_settings,
        _worker["backend"],
        _progress_sender(events) if events is not None else None,
        setup.workdir,
    )
    return record.to_dict()  # plain data crosses the process boundary


def family_modules(models: Sequence[str], imports: Sequence[str]) -> list[str]:
    """`imports` plus the module defining each measured family, so that a spawned worker
    knows every family this process knows (one registered by a notebook or a test included).
    An unknown family fails here, before any worker starts."""
    modules = list(imports)
    for model in models:
        module = get_family(model.partition(":")[0]).model_class.__module__
        if module not in modules and module != "__main__":
            modules.append(module)
    return modules


def import_families(modules: Sequence[str]) -> None:
    """Import extra family modules (each registers itself). The built-in catalogue and
    installed plugins need nothing here: the registry discovers them on first lookup."""
    for name in modules:
        importlib.import_module(name)


# -- measuring process ------------------------------------------------------------------------


def prepare_report(
    settings: MeasureSettings,
    gate_settings: GateSettings,
    output: Path,
    append: bool,
    shard: Shard | None,
    overwrite: bool = False,
) -> Report:
    """A fresh report, or the existing one extended by these settings when appending."""
    if output.exists() and append:
        existing = read_report(output)
        if existing.shard != shard:
            raise MeasureError(
                f"{output} holds shard {existing.shard or 'none'}, not {shard or 'none'}: "
                "append to the report of the same shard"
            )
        try:
            merged_settings = existing.settings.union(settings)
        except ValueError as err:
            raise MeasureError(f"cannot append to {output}: {err}") from None
        return Report(merged_settings, gate_settings, shard, existing.runs, existing.created)
    if output.exists() and not overwrite:
        raise MeasureError(
            f"{output} exists: pass --append to resume it, or --overwrite to start over"
        )
    return Report(settings, gate_settings, shard)


def measure(
    settings: MeasureSettings,
    gate_settings: GateSettings,
    output: str | Path,
    *,
    append: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    shard: Shard | None = None,
    backend: str | None = None,
    imports: Sequence[str] = (),
    threads_per_worker: int | None = None,
    events: Events | None = None,
) -> Report:
    """Run every planned job missing from the report and return the report.

    workers >= 1 runs jobs in that many spawned processes; workers == 0 runs them in this
    process (for debugging: no isolation, but tracebacks and breakpoints work).
    """
    output = Path(output)
    events = events or NoEvents()
    report = prepare_report(settings, gate_settings, output, append, shard, overwrite)
    jobs = [
        job for job in shard_jobs(plan(report.settings), shard) if job.run_id not in report.runs
    ]
    events.planned(len(report.planned_ids()), len(report.runs), jobs, report.settings.steps)
    write_report(report, output)
    if not jobs:
        return report
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // max(1, workers))
    with tempfile.TemporaryDirectory(prefix="wf-gate-") as workdir:
        setup = WorkerSetup(
            report.settings,
            gate_settings,
            backend,
            family_modules(report.settings.models, imports),
            threads,
            workdir,
        )
        if workers == 0:
            previous = torch.get_num_threads()
            if threads_per_worker:
                torch.set_num_threads(threads_per_worker)
            try:
                _measure_here(report, output, jobs, setup, events)
            finally:
                torch.set_num_threads(previous)
        else:
            _measure_in_workers(report, output, jobs, setup, events, workers)
    return report


def _record(report: Report, output: Path, data: dict[str, Any], events: Events) -> None:
    record = RunRecord.from_dict(data)
    report.add(record)
    write_report(report, output)
    events.finished(record, len(report.runs))


def _measure_here(
    report: Report, output: Path, jobs: list[Job], setup: WorkerSetup, events: Events
) -> None:
    import_families(setup.imports)
    backend = load_backend(setup.backend)
    for job in jobs:
        events.started(job.run_id)
        record = execute(
            job, setup.settings, setup.gate_settings, backend, events.step, setup.workdir
        )
        _record(report, output, record.to_dict(), events)


def _measure_in_workers(
    report: Report,
    output: Path,
    jobs: list[Job],
    setup: WorkerSetup,
    events: Events,
    workers: int,
) -> None:
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    stop = threading.Event()

    def relay() -> None:
        while not stop.is_set():
            try:
                kind, run_id, step, total = messages.get(timeout=0.1)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            if kind == "started":
                events.started(run_id)
            else:
                events.step(run_id, step, total)

    relay_thread = threading.Thread(target=relay, name="wf-gate-progress", daemon=True)
    relay_thread.start()
    pool = cf.ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(setup, messages),
    )
    try:
        pending = {pool.submit(_run_job, job): job for job in jobs}
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    data = future.result()
                except cf.process.BrokenProcessPool:
                    lost = sorted([job.run_id] + [j.run_id for j in pending.values()])
                    raise MeasureError(
                        f"a worker process died (killed, or out of memory) with "
                        f"{len(lost)} run(s) not finished: {', '.join(lost)}; the report keeps "
                        f"{len(report.runs)} finished run(s): rerun with --append to finish"
                    ) from None
                _record(report, output, data, events)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        stop.set()
        relay_thread.join(timeout=2)
    pool.shutdown(wait=True)
    messages.close()


__all__ = ["MeasureError", "ReportError", "measure", "prepare_report"]
