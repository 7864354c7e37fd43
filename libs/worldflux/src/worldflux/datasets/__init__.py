"""Bundled datasets that need no network: seeded, deterministic, cached on first use.

    from worldflux.datasets import load_dataset
    data = load_dataset("pendulum", split="train", seed=0)
    batch = data.sample(16, 64, torch.Generator().manual_seed(0))

See docs/content/datasets.md for each dataset's size, fields and generator.
"""

from worldflux.datasets.cache import CACHE_ENV, cache_dir
from worldflux.datasets.episodes import Episodes, episode_rows
from worldflux.datasets.registry import (
    DATASETS,
    DatasetInfo,
    dataset_info,
    list_datasets,
    load_dataset,
    register_dataset,
)
from worldflux.datasets.sequence import SequenceDataset
from worldflux.datasets.spec import SPLITS, DatasetSpec

__all__ = [
    "register_dataset",
    "DATASETS",
    "CACHE_ENV",
    "SPLITS",
    "DatasetInfo",
    "DatasetSpec",
    "Episodes",
    "SequenceDataset",
    "cache_dir",
    "dataset_info",
    "episode_rows",
    "list_datasets",
    "load_dataset",
]
