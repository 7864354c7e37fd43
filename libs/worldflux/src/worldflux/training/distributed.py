"""Data parallelism under torchrun: each rank samples its own batches, gradients are averaged.

World models train through `model.loss(batch)`, not `forward`, so DistributedDataParallel's
forward hooks never fire; instead the Trainer all-reduces the gradients itself after each
backward pass (one flat buffer, one collective), which is what DDP does underneath. Buffers
(running statistics) are broadcast from rank 0 after each step, like DDP's broadcast_buffers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this process created the group and should destroy it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun describes in WORLD_SIZE / RANK (gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, owns)


def broadcast_module(module: torch.nn.Module, buffers_only: bool = False) -> None:
    """Make every rank hold rank 0's parameters (and buffers)."""
    tensors = list(module.buffers()) if buffers_only else list(module.state_dict().values())
    with torch.no_grad():
        for tensor in tensors:
            dist.broadcast(tensor, src=0)


def average_gradients(params: list[torch.nn.Parameter], world_size: int) -> None:
    """Mean of every rank's gradients, in one all-reduce of one flat buffer.

    A parameter that got no gradient on some rank counts as zero there; one that got none on
    any rank keeps grad None, so the optimizer skips it as it would in a single process.
    """
    if not params:
        return
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        + [torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)]
    )
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size
    offset = 0
    has_grad = flat[-len(params) :]
    for i, p in enumerate(params):
        n = p.numel()
        if float(has_grad[i]) > 0:
            grad = flat[offset : offset + n].view_as(p)
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)
        offset += n


def gather_tensor(tensor: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's copy of an equally shaped tensor (e.g. each rank's sampler state)."""
    if not ctx.enabled:
        return [tensor]
    parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(parts, tensor)
    return parts
