"""DiT world model configuration and its named sizes.

A diffusion transformer (Peebles & Xie, 2023) over patches of the next frame, conditioned by
adaLN-Zero on the noise level and the action, and on the current frame through its patches
(channel-concatenated to the noisy next frame). `base` is DiT-S/8 (width 384, depth 12, 6 heads,
patch 8); `ci` is a toy width for tests and quick gates. Denoising uses EDM's preconditioning and
noise distribution (Karras et al., 2022) and an Euler sampler over `sampling_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

# `ci` samples in one Euler step: at width 64 a token cannot carry an 8x8x3 patch's noise, so
# the denoiser cannot clear low noise levels and a multi-step sampler ends with that noise in
# the frame (docs/content/families/dit.md has the probes); `base` (width 384) takes 10.
# That one step is a single denoiser call at sigma_max, so `ci` trains where it samples: its
# noise distribution is centred at sigma e^0.4 = 1.5 (63% of draws above sigma 1, where the
# change is buried in noise 8x its scale), not EDM's e^-1.2 = 0.3 (16%, and 2% above sigma 3.5),
# which spends most of a small training budget on levels the sampler never visits. `ci` also
# takes a 1e-3 learning rate (the gate's measurements); `base` keeps EDM's levels and 3e-4.
CI_RECIPE: dict[str, Any] = {"sampling_steps": 1, "p_mean": 0.4, "lr": 1e-3}
SIZES: dict[str, dict[str, Any]] = {
    "ci": {"width": 64, "depth": 2, "num_heads": 4, "patch_size": 8, **CI_RECIPE},
    "base": {"width": 384, "depth": 12, "num_heads": 6, "patch_size": 8, "sampling_steps": 10},
}

# DiT-S/8 (Peebles & Xie, 2023, Table 1) and its conditioning, for the docs table.
PAPER: dict[str, Any] = {
    "width": 384,
    "depth": 12,
    "num_heads": 6,
    "patch_size": 8,
    "params_256": 33e6,  # DiT-S: 33M parameters (the paper's Table 1, 256x256 latents 32x32x4)
    "conditioning": "adaLN-Zero",
    "mlp_ratio": 4.0,
}


@dataclass
class DiTConfig(WorldModelConfig):
    """Constructor arguments of a DiT world model."""

    size: str = "ci"
    width: int = 64
    depth: int = 2
    num_heads: int = 4
    patch_size: int = 8
    mlp_ratio: float = 4.0
    sampling_steps: int = 3
    # Observed frames the denoiser sees: the current one and context_frames - 1 before it. One
    # frame shows the pendulum's angle but not which way it swings, so the next frame is
    # ambiguous and a sample of it is worse than the mean frame (DIAMOND conditions on 4).
    context_frames: int = 2
    # Denoise the change from the current frame (in [-1, 1] units), not the next frame: most of
    # a pendulum frame does not move, and a token (width 64 at ci) cannot carry a whole 8x8x3
    # patch, so a network that has to redraw the frame loses the rod's detail, while the change
    # is zero outside the few patches the rod sweeps. sigma_data is then the change's scale
    # (its standard deviation on pendulum-pixels is about 0.09), not a frame's 0.5.
    residual: bool = True
    sigma_data: float = 0.125
    # The action enters every patch token through its own projection, besides adaLN-Zero.
    action_tokens: bool = True
    # Sampler levels, as DIAMOND's: from sigma_max = 5, not image generation's 80, which lies
    # far outside the training noise (log sigma ~ N(p_mean, p_std^2): 80 is 4.6 sigmas up), so
    # the first, decisive denoiser call would be an extrapolation.
    sigma_min: float = 0.002
    sigma_max: float = 5.0
    p_mean: float = -1.2  # EDM: log sigma ~ N(p_mean, p_std^2) in training
    p_std: float = 1.2
    reward_coef: float = 1.0
    lr: float = 3e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "depth", "num_heads", "patch_size", "sampling_steps",
                     "context_frames"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.num_heads:
            raise ContractError(f"width {self.width} must be a multiple of {self.num_heads} heads")
        if len(self.obs_shape) != 3:
            raise ContractError(
                f"the dit family takes images [C, H, W], got {list(self.obs_shape)}"
            )
        _, height, width = self.obs_shape
        if height % self.patch_size or width % self.patch_size:
            raise ContractError(
                f"image {height}x{width} does not split into {self.patch_size}px patches"
            )
        if not 0 < self.sigma_min < self.sigma_max:
            raise ContractError("need 0 < sigma_min < sigma_max")
