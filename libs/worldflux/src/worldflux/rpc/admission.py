"""Admission control for model work: sized from the model, bounded in queue and time.

A request inside the shape limits could still cost gigabytes (65536 candidates x 32 steps x a
512-wide latent) and run for minutes after its caller gave up, holding the model. So, before any
work, `WorkEstimate` says what a Rollout or Propose will cost from the model's own widths (learnt
at start-up) and the request's candidates and horizon; the reply's size is checked against the
message limit before the model runs, and the working set against the memory budget. Large work
runs in chunks of candidates, and between chunks `ModelGate.hold` checks that the caller is still
there and its deadline not passed. The model is held one chunk at a time, never past a dead
deadline, and at most `max_waiting` calls queue for it: the next one is refused at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from worldflux.rpc.errors import RequestTooLargeError, ServerBusyError

MB = 1 << 20
# Activations and temporaries of one rollout step, as a multiple of the latent width: an MLP or
# GRU step holds a few hidden layers of about the latent's width at a time.
ACTIVATION_FACTOR = 8
FLOAT_BYTES = 4
# Waiting for the model, a call wakes this often to see whether its caller is still there.
POLL_S = 0.05


@dataclass(frozen=True)
class WorkEstimate:
    """What one request will cost, in bytes, before it runs."""

    reply_bytes: int
    work_bytes_per_candidate: int

    def chunk_candidates(self, budget_bytes: int, multiple: int = 1) -> int:
        """Candidates per chunk so that one chunk's working set fits `budget_bytes` (at least
        `multiple`, and a multiple of it)."""
        per = max(1, self.work_bytes_per_candidate)
        fit = max(1, budget_bytes // per)
        return max(multiple, fit // multiple * multiple)


def rollout_estimate(
    candidates: int,
    horizon: int,
    latent_widths: dict[str, int],
    returned_latents: list[str],
    action_width: int,
) -> WorkEstimate:
    """Rollout cost from the model's latent widths (elements per sample, by tensor name).

    The reply carries [N, H, width] for each returned latent (none when omitted), rewards and
    continues [N, H] and values [N]; the working set per candidate is the activations of each
    step plus every latent kept for the reply.
    """
    width = sum(latent_widths.values())
    kept = sum(latent_widths[name] for name in returned_latents)
    per_step = kept + 2  # returned latents, reward, continue
    reply = candidates * (horizon * per_step + 1) * FLOAT_BYTES
    work = horizon * (width * ACTIVATION_FACTOR + kept + action_width + 2) * FLOAT_BYTES
    return WorkEstimate(reply_bytes=reply, work_bytes_per_candidate=work)


def propose_estimate(
    samples: int, horizon: int, latent_width: int, action_width: int
) -> WorkEstimate:
    """Propose cost: the reply is [samples, H, action width]; each sample also steps the latent
    through the policy prior."""
    reply = samples * horizon * action_width * FLOAT_BYTES
    work = horizon * (latent_width * ACTIVATION_FACTOR + action_width) * FLOAT_BYTES
    return WorkEstimate(reply_bytes=reply, work_bytes_per_candidate=work)


def admit(
    what: str,
    estimate: WorkEstimate,
    candidates: int,
    max_reply_bytes: int,
    max_work_bytes: int,
    chunk_bytes: int | None,
) -> None:
    """Refuse (RESOURCE_EXHAUSTED, naming the limit) what would not fit, before any work.

    The working set is one chunk's activations (all candidates when `chunk_bytes` is None: the
    work runs whole) plus the whole reply (kept while chunks run, then serialized once more).
    """
    if estimate.reply_bytes > max_reply_bytes:
        raise RequestTooLargeError(
            f"{what}: the answer would be {estimate.reply_bytes / MB:.1f} MB, more than this "
            f"server's message limit {max_reply_bytes / MB:.1f} MB; ask for fewer candidates, "
            "a shorter horizon or fewer latents"
        )
    chunk = candidates
    if chunk_bytes is not None:
        chunk = min(candidates, estimate.chunk_candidates(chunk_bytes))
    working = chunk * estimate.work_bytes_per_candidate + 2 * estimate.reply_bytes
    if working > max_work_bytes:
        raise RequestTooLargeError(
            f"{what} would need about {working / MB:.1f} MB, more than this server's memory "
            f"limit per request {max_work_bytes / MB:.1f} MB"
        )


def ensure_active(context: grpc.ServicerContext) -> None:
    """Abort when the caller is gone or its deadline has passed: the rest is wasted work."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed; work stopped")
    if not context.is_active():
        context.abort(grpc.StatusCode.CANCELLED, "the caller cancelled; work stopped")


class ModelGate:
    """One model call at a time (optional), a bounded queue, and no wait past the deadline."""

    def __init__(self, serialize: bool = True, max_waiting: int = 4) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.serialize = serialize
        self.max_waiting = max_waiting
        self._model = threading.Lock()
        self._count = threading.Lock()
        self.waiting = 0

    @contextmanager
    def hold(self, context: grpc.ServicerContext) -> Iterator[None]:
        """The model, for one chunk of work; refused at once when the queue is full, given up
        (DEADLINE_EXCEEDED / CANCELLED) as soon as the caller's deadline passes or it leaves."""
        ensure_active(context)
        if not self.serialize:
            yield
            return
        if not self._model.acquire(blocking=False):
            with self._count:
                if self.waiting >= self.max_waiting:
                    raise ServerBusyError(
                        f"{self.waiting} calls already wait for the model, this server's "
                        f"queue limit is {self.max_waiting}: retry later or on another replica"
                    )
                self.waiting += 1
            try:
                while not self._model.acquire(timeout=self._wait_s(context)):
                    ensure_active(context)
            finally:
                with self._count:
                    self.waiting -= 1
        try:
            ensure_active(context)  # the deadline may have passed while it waited
            yield
        finally:
            self._model.release()

    @staticmethod
    def _wait_s(context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return POLL_S
        return max(0.0, min(POLL_S, remaining))
