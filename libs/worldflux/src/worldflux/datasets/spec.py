"""DatasetSpec: what a bundled dataset holds, in the terms a model config needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from worldflux.core.errors import ContractError

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class DatasetSpec:
    """Shapes and sizes of one split of a bundled dataset.

    Continuous actions are stored scaled to [action_low, action_high] = [-1, 1] whatever the
    environment's own bounds, so every family's default action bounds fit. For discrete
    actions `action_dim` is the number of choices (the one-hot width), as in WorldModelConfig.
    `num_steps` counts stored rows: each episode of L transitions stores L + 1 observations.
    """

    name: str
    obs_shape: tuple[int, ...]
    action_dim: int
    action_kind: str  # "continuous" | "discrete"
    modality: str  # "vector" | "image" | "video" | "tokens"
    num_episodes: int
    num_steps: int
    obs_dtype: str = "float32"  # "float32" | "int64" (tokens)
    vocab_size: int = 0  # token datasets: observation tokens lie in [0, vocab_size)
    action_low: float = -1.0
    action_high: float = 1.0
    split: str = "train"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_shape", tuple(int(d) for d in self.obs_shape))
        if self.action_kind not in ("continuous", "discrete"):
            raise ContractError(
                f"action_kind must be continuous or discrete, got {self.action_kind!r}"
            )
        if self.split not in SPLITS:
            raise ContractError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.obs_dtype == "int64" and self.vocab_size < 1:
            raise ContractError("token observations need vocab_size >= 1")

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for create_world_model that match this dataset."""
        kwargs: dict[str, Any] = {
            "obs_shape": self.obs_shape,
            "action_dim": self.action_dim,
            "action_kind": self.action_kind,
            "obs_modality": self.modality,
        }
        if self.action_kind == "continuous":
            kwargs.update(action_low=self.action_low, action_high=self.action_high)
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["obs_shape"] = list(self.obs_shape)
        return data
