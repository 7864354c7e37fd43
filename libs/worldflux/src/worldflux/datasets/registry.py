"""The bundled datasets by name, and load_dataset: generate once, then read from the cache.

A dataset is one `DatasetInfo` (its shapes and a `build(split, seed)` generator) registered with
`register_dataset`, or named by a `worldflux.datasets` entry point of another package.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worldflux.core.config import suggest
from worldflux.core.errors import ContractError
from worldflux.core.plugins import Registry
from worldflux.datasets import classic, pixels, push, scene3d, unlearnable, video
from worldflux.datasets.cache import cache_dir, load_episodes, save_episodes
from worldflux.datasets.episodes import Episodes
from worldflux.datasets.files import is_file_dataset, load_file_dataset
from worldflux.datasets.sequence import SequenceDataset
from worldflux.datasets.spec import SPLITS, DatasetSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's fixed shape, its generator and the version of that generator.

    Bump `version` whenever `build` would produce different data: cached files made by an
    older version then stop matching and are regenerated.
    """

    name: str
    description: str
    build: Callable[[str, int], Episodes]
    obs_shape: tuple[int, ...]
    action_dim: int
    action_kind: str
    modality: str
    obs_dtype: str = "float32"
    vocab_size: int = 0
    version: int = 1


DATASETS: Registry[DatasetInfo] = Registry(
    "dataset", "worldflux.datasets", builtins=("worldflux.datasets.registry",)
)
register_dataset = DATASETS.register

for _info in (
    DatasetInfo(
        "pendulum",
        "Pendulum-v1 states (cos, sin, velocity); noisy energy-pumping + PD controller",
        classic.pendulum,
        (3,),
        1,
        "continuous",
        "vector",
    ),
    DatasetInfo(
        "mountaincar",
        "MountainCarContinuous-v0 states (position, velocity); noisy energy-pumping policy",
        classic.mountaincar,
        (2,),
        1,
        "continuous",
        "vector",
    ),
    DatasetInfo(
        "cartpole",
        "CartPole-v1 states; noisy linear balancing rule, terminations and truncations",
        classic.cartpole,
        (4,),
        2,
        "discrete",
        "vector",
    ),
    DatasetInfo(
        "pendulum-pixels",
        "Pendulum-v1 rendered offscreen to 64x64 RGB, float32 [3, 64, 64] in [0, 1]",
        pixels.pendulum_pixels,
        (3, pixels.FRAME, pixels.FRAME),
        1,
        "continuous",
        "image",
    ),
    DatasetInfo(
        "video",
        "procedural bouncing-ball clips, frames [3, 64, 64], the action pushes the red ball",
        video.bouncing_balls,
        (3, video.FRAME, video.FRAME),
        2,
        "continuous",
        "video",
    ),
    DatasetInfo(
        "scene3d",
        "three spheres seen from known camera poses, frames [3, 32, 32]; the action sets the "
        "next frame's camera azimuth (pi * a); reward: the red sphere's coverage",
        scene3d.scenes,
        (3, scene3d.FRAME, scene3d.FRAME),
        1,
        "continuous",
        "image",
    ),
    DatasetInfo(
        "scene3d-noise",
        "nothing to learn: i.i.d. uniform pixels, actions and rewards with scene3d's shapes "
        "and episodes (a renderer3d gate run on it must fail)",
        scene3d.noise_scenes,
        (3, scene3d.FRAME, scene3d.FRAME),
        1,
        "continuous",
        "image",
    ),
    DatasetInfo(
        "push",
        "procedural clips filling the frame: a mosaic of coloured rectangles with a white "
        "square the 2-D action moves by up to 10 px a step, frames [3, 48, 48]",
        push.push_clips,
        (3, push.FRAME, push.FRAME),
        2,
        "continuous",
        "video",
        version=3,  # 2: a rectangle mosaic instead of a smooth field; 3: 384 training clips
    ),
    DatasetInfo(
        "push-natural",
        "the push world in front of a random colour field with the 1/f amplitude spectrum of "
        "natural images (a masked block is partly implied by its surroundings), frames "
        "[3, 48, 48]",
        push.push_natural_clips,
        (3, push.FRAME, push.FRAME),
        2,
        "continuous",
        "video",
    ),
    DatasetInfo(
        "tokens",
        "Pendulum-v1 quantised to 2 tokens per step (angle, velocity), 5 discrete torques",
        classic.tokens,
        (2,),
        len(classic.controllers.TORQUE_LEVELS),
        "discrete",
        "tokens",
        obs_dtype="int64",
        vocab_size=classic.VOCAB_SIZE,
    ),
    DatasetInfo(
        "noise",
        "nothing to learn: i.i.d. Gaussian observations and rewards, uniform actions, with "
        "pendulum's shapes and episodes (a gate run on it must fail)",
        unlearnable.noise,
        (3,),
        1,
        "continuous",
        "vector",
    ),
    DatasetInfo(
        "pendulum-shuffled",
        "nothing to learn about dynamics: pendulum transitions in a random order across the "
        "split (a gate run on it must fail)",
        unlearnable.pendulum_shuffled,
        (3,),
        1,
        "continuous",
        "vector",
        version=2,  # actions shuffled apart from the states they were taken in
    ),
):
    register_dataset(_info)


def list_datasets() -> list[str]:
    return sorted(DATASETS.names())


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name)


def cache_path(name: str, split: str, seed: int, root: Path | None = None) -> Path:
    return (root or cache_dir()) / f"{name}-{split}-seed{seed}.npz"


def _generation_meta(info: DatasetInfo, split: str, seed: int) -> dict[str, object]:
    import gymnasium

    # Physics or rendering may change across gymnasium releases: key the cache on it.
    return {
        "name": info.name,
        "split": split,
        "seed": seed,
        "version": info.version,
        "gymnasium": gymnasium.__version__,
    }


def load_dataset(
    name: str,
    split: str = "train",
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> SequenceDataset:
    """One split of a bundled dataset, generated on first use and cached as .npz; or of the
    user's own recordings when `name` is a .npz path or a folder (see datasets.files).

    `seed` selects an independent draw of the whole dataset; "heldout" episodes come from a
    different seed stream than "train" episodes, so the splits never share an episode.
    """
    if is_file_dataset(name):
        return load_file_dataset(name, split)
    info = dataset_info(name)
    if split not in SPLITS:
        raise ContractError(f"split must be one of {SPLITS}{suggest(split, SPLITS)}, got {split!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ContractError(f"seed must be a non-negative int, got {seed!r}")
    path = cache_path(name, split, seed, Path(cache_dir) if cache_dir is not None else None)
    meta = _generation_meta(info, split, seed)
    episodes = load_episodes(path, meta)
    if episodes is None:
        start = time.perf_counter()
        episodes = info.build(split, seed)
        log.info(
            "generated %s/%s (seed %d): %d steps in %.1fs",
            name,
            split,
            seed,
            episodes.num_steps,
            time.perf_counter() - start,
        )
        try:
            save_episodes(path, episodes, meta)
        except OSError as err:  # a read-only cache costs a regeneration, not the run
            log.warning("could not cache dataset %s at %s: %s", name, path, err)
    spec = DatasetSpec(
        name=name,
        obs_shape=info.obs_shape,
        action_dim=info.action_dim,
        action_kind=info.action_kind,
        modality=info.modality,
        num_episodes=episodes.num_episodes,
        num_steps=episodes.num_steps,
        obs_dtype=info.obs_dtype,
        vocab_size=info.vocab_size,
        split=split,
        seed=seed,
    )
    return SequenceDataset(spec, episodes)
