"""CUDA-graph capture: one fixed-shape tensor program recorded once and replayed per call.

A TD-MPC2 plan or update on a GPU is hundreds of small kernels; launched one by one from Python
the GPU idles between them (launch-bound). Recorded into a CUDA graph they replay with one
launch. A recorded program may not wait for the GPU (no `.item()`, `bool(tensor)`, no copy
from pageable host memory), so the few checks that read a tensor's value on the host ask
`capturing()` and leave the check to the caller, who validates the inputs before copying them
into the static buffers and the outputs after the replay.

`CapturedCall` is the one idiom for it, used by `worldflux.planners.graphed` and the Trainer's
`cuda_graph` option. On a CPU it calls the function eagerly on the same static buffers, so the
code path that fills buffers and reads outputs is the same one tests exercise without a GPU.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from worldflux.core.errors import ContractError

_simulating = False  # set by check_recordable: CPU code behaves as if it were being recorded


def capturing() -> bool:
    """True while a CUDA graph is being recorded on the current stream (or simulated)."""
    if _simulating:
        return True
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


class _HostTraffic(TorchDispatchMode):
    """Refuses the two things a recording cannot hold: reading a tensor's value on the host
    (`.item()`, `bool(t)`, `float(t)`) and making a tensor from host data (`torch.tensor`)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func is torch.ops.aten._local_scalar_dense.default:
            raise ContractError(
                "reads a tensor value on the host (.item(), bool(), float()), which a CUDA "
                "graph cannot record: guard it with worldflux.core.capture.capturing()"
            )
        if func is torch.ops.aten.lift_fresh.default:
            raise ContractError(
                "makes a tensor from host data (torch.tensor(...)), a host-to-device copy that "
                "a CUDA graph cannot record: build it once outside the recorded call"
            )
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def simulated() -> Iterator[None]:
    """Make `capturing()` true here, on any device: host-reading checks step aside as they do
    while a CUDA graph records (tests use it to reach the paths that check after a replay)."""
    global _simulating
    previous, _simulating = _simulating, True
    try:
        yield
    finally:
        _simulating = previous


def check_recordable(fn: Callable[[], Any]) -> Any:
    """Run `fn` once as warm-up, then once as a CUDA graph would record it, on any device.

    Raises a ContractError at the first host read or host-data tensor of the second call, so
    that code meant for `CapturedCall` is tested without a GPU (what this cannot see: copies
    of tensors that already live on the CPU to the GPU, `.to("cuda")`)."""
    fn()
    with simulated(), _HostTraffic():
        return fn()


def scalar(value: torch.Tensor) -> float | torch.Tensor:
    """A metric as a float, or (while capturing) the detached tensor to read after replay."""
    detached = value.detach()
    return detached if capturing() else float(detached)


def to_float(value: float | torch.Tensor) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


class CapturedCall:
    """`fn()` recorded into a CUDA graph on first call and replayed after (eager on CPU).

    `fn` reads only tensors it was given as static inputs (fill them with `copy_` before each
    call) and returns the outputs to read after it. `generators` are the non-default CUDA
    generators it draws from: registered with the graph so each replay draws fresh numbers.
    `warmup` eager calls on a side stream come first (cuBLAS and the caching allocator settle
    there, as the CUDA-graph recipe asks); `before_capture` runs between them (to allocate
    what only exists after a first call, such as optimizer moments). `warmup_s` reports
    warm-up plus recording.
    """

    def __init__(
        self,
        fn: Callable[[], Any],
        device: torch.device,
        generators: Sequence[torch.Generator] = (),
        warmup: int = 3,
        before_capture: Callable[[], None] | None = None,
    ) -> None:
        self.fn = fn
        self.before_capture = before_capture
        self.device = torch.device(device)
        self.generators = list(generators)
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: Any = None
        self.warmup_s = 0.0

    @property
    def graphed(self) -> bool:
        return self.device.type == "cuda"

    def record(self) -> None:
        """Warm up and record now (the first call does it otherwise)."""
        started = time.perf_counter()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.fn()
        torch.cuda.current_stream(self.device).wait_stream(side)
        if self.before_capture is not None:
            self.before_capture()
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            self.outputs = self.fn()
        torch.cuda.synchronize(self.device)
        self.graph = graph
        self.warmup_s = time.perf_counter() - started

    def __call__(self) -> Any:
        if not self.graphed:
            return self.fn()
        if self.graph is None:
            self.record()
        assert self.graph is not None
        self.graph.replay()
        return self.outputs
