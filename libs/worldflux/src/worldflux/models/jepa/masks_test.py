"""Multi-block masks: sizes, ratios, and the no-overlap rule of context and targets."""

import math

import pytest
import torch

from worldflux.models.jepa.masks import MaskSet, MultiBlockMask, SpatioTemporalMask, block_shape


def test_ijepa_blocks_have_the_paper_scale_and_never_overlap_the_context() -> None:
    gen = torch.Generator().manual_seed(0)
    grid = (14, 14)  # ViT-B/16 on 224 x 224
    for _ in range(5):
        masks = MultiBlockMask()(8, grid, gen)
        assert masks.targets.shape[:2] == (8, 4)  # four target blocks per sample
        area = masks.targets.shape[2]
        assert 0.15 * 196 * 0.7 <= area <= 0.2 * 196 * 1.3  # one block of 15-20% (rounded)
        for b in range(8):
            context = set(masks.context[b].tolist())
            for block in masks.targets[b]:
                rows, cols = block // 14, block % 14
                # a block is a filled rectangle
                h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
                assert h * w == len(block) == area
                assert context.isdisjoint(block.tolist())
        assert masks.context.shape[1] >= 1


def test_ijepa_masks_on_a_three_feature_vector_keep_a_context_token() -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        masks = MultiBlockMask()(4, (3,), gen)
        assert masks.context.shape[1] >= 1
        for b in range(4):
            assert set(masks.context[b].tolist()).isdisjoint(masks.targets[b].flatten().tolist())
        assert 0.0 < masks.ratio < 1.0


def test_block_shape_follows_the_official_rule() -> None:
    assert block_shape((14, 14), 0.2, 1.0) == (6, 6)  # keep = 39 -> sqrt ~ 6.2
    h, w = block_shape((14, 14), 0.15, 1.5)
    assert (h, w) == (round(math.sqrt(29 * 1.5)), round(math.sqrt(29 / 1.5)))
    assert block_shape((14, 14), 1.0, 1.0) == (13, 13)  # kept below the grid
    assert block_shape((8,), 0.2, 1.0) == (1,)


def test_vjepa_masks_span_time_and_split_the_grid_into_context_and_targets() -> None:
    gen = torch.Generator().manual_seed(0)
    grid = (4, 8, 8)
    sets = SpatioTemporalMask()(6, grid, gen)
    assert len(sets) == 2  # short-range (8 x 15%) and long-range (2 x 70%) mask sets
    short, long = sets
    assert 0.0 < short.ratio < long.ratio < 1.0
    for masks in sets:
        assert masks.targets.shape[1] == 1
        for b in range(6):
            t = set(masks.targets[b, 0].tolist())
            c = set(masks.context[b].tolist())
            assert t.isdisjoint(c)
            # temporal scale 1.0: a block covers the same positions at every time step (the
            # batch-minimum cut trims only the highest indices, i.e. the last step)
            steps = [{i % 64 for i in t if i // 64 == k} for k in range(4)]
            assert steps[0] == steps[1] == steps[2] and steps[3] <= steps[0]


@pytest.mark.parametrize("grid", [(2, 3), (1, 2)])
def test_vjepa_masks_on_tiny_grids_keep_a_context_token(grid: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(2)
    for masks in SpatioTemporalMask((MaskSet(8, 0.15), MaskSet(2, 0.7)))(3, grid, gen):
        assert masks.context.shape[1] >= 1 and masks.targets.shape[2] >= 1
