"""Multi-block mask generators: I-JEPA's context/target blocks and V-JEPA's spatio-temporal ones.

Both follow the official collators (facebookresearch/ijepa src/masks/multiblock.py,
facebookresearch/vjepa2 src/masks/multiseq_multiblock3d.py) on a token grid of any rank:

- `MultiBlockMask` (I-JEPA): one target block size per batch (scale and aspect ratio drawn
  once), `num_targets` blocks of that size placed per sample; one context block (scale
  `context_scale`, aspect 1) per sample, restricted to tokens outside every target block, so
  context and targets never overlap. Each target block is predicted on its own.
- `SpatioTemporalMask` (V-JEPA): per mask set, `num_blocks` blocks of one spatial size
  (spatial scale, aspect ratio) spanning `temporal_scale` of the time axis; the targets are
  their union and the context is everything else.

Token counts are equalised across the batch as in the official code (each sample's sorted
index list is cut to the batch minimum), so masks batch into index tensors. On grids too small
for the paper's settings (a 3-feature vector) the number of target blocks is reduced so that
at least one context token always remains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Masks:
    """Token indices into the flattened grid: context [B, Nc]; targets [B, S, Nt] for S target
    sets (I-JEPA: one per block, predicted separately; V-JEPA: one union per mask set)."""

    context: torch.Tensor
    targets: torch.Tensor
    num_tokens: int

    @property
    def ratio(self) -> float:
        """Share of the grid that is predicted (the union over target sets, batch mean)."""
        b = self.targets.shape[0]
        hit = torch.zeros(b, self.num_tokens, dtype=torch.bool, device=self.targets.device)
        hit.scatter_(1, self.targets.reshape(b, -1), True)
        return float(hit.float().mean())


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return low + float(torch.rand(1, generator=generator)) * (high - low)


def block_shape(space: tuple[int, ...], scale: float, aspect: float) -> tuple[int, ...]:
    """Block extent on a spatial grid of rank 1 or 2 covering about `scale` of it (official rule:
    h = round(sqrt(keep * aspect)), w = round(sqrt(keep / aspect)), each kept below the grid)."""
    keep = max(1, int(math.prod(space) * scale))
    if len(space) == 1:
        return (min(max(1, keep), max(space[0] - 1, 1)),)
    h = int(round(math.sqrt(keep * aspect)))
    w = int(round(math.sqrt(keep / aspect)))
    h = min(max(h, 1), max(space[0] - 1, 1))
    w = min(max(w, 1), max(space[1] - 1, 1))
    return (h, w)


def _place(
    grid: tuple[int, ...], shape: tuple[int, ...], generator: torch.Generator | None
) -> torch.Tensor:
    """A boolean grid with one block of `shape` at a random corner (official: corner in
    [0, size - extent), so a block smaller than the grid never touches its far edge)."""
    mask = torch.zeros(grid, dtype=torch.bool)
    index = []
    for size, extent in zip(grid, shape, strict=True):
        start = int(torch.randint(0, max(size - extent, 1), (1,), generator=generator))
        index.append(slice(start, start + extent))
    mask[tuple(index)] = True
    return mask.flatten()


def _stack_truncated(rows: list[torch.Tensor]) -> torch.Tensor:
    keep = min(len(r) for r in rows)
    return torch.stack([r[:keep] for r in rows])


@dataclass
class MultiBlockMask:
    """I-JEPA masks on a 1-D (feature groups) or 2-D (patches) grid. Paper defaults."""

    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    context_scale: tuple[float, float] = (0.85, 1.0)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)

    def __call__(
        self, batch: int, grid: tuple[int, ...], generator: torch.Generator | None = None
    ) -> Masks:
        n = math.prod(grid)
        if n < 2:
            raise ValueError(f"a grid of {n} token cannot be split into context and targets")
        # One target size and one context size per batch (the official collator's seed step).
        r = float(torch.rand(1, generator=generator))
        scale = self.target_scale[0] + r * (self.target_scale[1] - self.target_scale[0])
        aspect = self.aspect_ratio[0] + r * (self.aspect_ratio[1] - self.aspect_ratio[0])
        target_shape = block_shape(grid, scale, aspect)
        context_shape = block_shape(grid, _uniform(generator, *self.context_scale), 1.0)
        area = math.prod(target_shape)
        blocks = max(1, min(self.num_targets, (n - 1) // area))
        targets, contexts = [], []
        for _ in range(batch):
            placed = [_place(grid, target_shape, generator) for _ in range(blocks)]
            covered = torch.stack(placed).any(0)
            context = _place(grid, context_shape, generator) & ~covered
            if not context.any():  # the context block fell inside the targets: all the rest
                context = ~covered
            targets.append(torch.stack([p.nonzero().squeeze(1) for p in placed]))
            contexts.append(context.nonzero().squeeze(1))
        return Masks(_stack_truncated(contexts), torch.stack(targets), n)


@dataclass(frozen=True)
class MaskSet:
    """One V-JEPA mask configuration: `num_blocks` blocks of `spatial_scale` of each frame's
    grid spanning `temporal_scale` of the clip's time steps."""

    num_blocks: int
    spatial_scale: float
    temporal_scale: float = 1.0
    aspect_ratio: tuple[float, float] = (0.75, 1.5)


# The V-JEPA 2 pretraining masks: 8 short-range blocks of 15% and 2 long-range blocks of 70%.
VJEPA2_MASK_SETS = (MaskSet(8, 0.15), MaskSet(2, 0.7))


@dataclass
class SpatioTemporalMask:
    """V-JEPA multi-block masks on a (time, *space) grid: one target union per mask set."""

    sets: tuple[MaskSet, ...] = VJEPA2_MASK_SETS

    def __call__(
        self, batch: int, grid: tuple[int, ...], generator: torch.Generator | None = None
    ) -> list[Masks]:
        steps, space = grid[0], tuple(grid[1:])
        n = math.prod(grid)
        out = []
        for mask_set in self.sets:
            aspect = _uniform(generator, *mask_set.aspect_ratio)
            shape = block_shape(space, mask_set.spatial_scale, aspect)
            duration = min(steps, max(1, int(round(steps * mask_set.temporal_scale))))
            targets, contexts = [], []
            for _ in range(batch):
                covered = torch.zeros(n, dtype=torch.bool)
                for _ in range(mask_set.num_blocks):
                    block = _place(grid, (duration, *shape), generator)
                    if (covered | block).all():
                        continue  # keep at least one context token
                    covered |= block
                if not covered.any():
                    covered = _place(grid, (duration, *shape), generator)
                    if covered.all():
                        covered[-1] = False
                targets.append(covered.nonzero().squeeze(1))
                contexts.append((~covered).nonzero().squeeze(1))
            out.append(Masks(_stack_truncated(contexts), _stack_truncated(targets).unsqueeze(1), n))
        return out
