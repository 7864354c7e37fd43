"""Tokenizers: images into patches, vectors into feature groups, clips into tubelets.

One module covers the three JEPA inputs. A clip [B, T, *obs_shape] is cut along time into
tubelets of `tubelet` frames (1 for I-JEPA) and along space into patches of `patch` x `patch`
pixels (images) or groups of `group` features (vectors; the last group is zero-padded). Each
tubelet is flattened and linearly embedded: the same map as the official Conv2d/Conv3d patch
embedding with stride equal to its kernel, and the same parameter count.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Tokenizer(nn.Module):
    def __init__(
        self, obs_shape: tuple[int, ...], dim: int, patch: int, group: int, tubelet: int = 1
    ) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.tubelet = tubelet
        self.is_image = len(self.obs_shape) == 3
        if self.is_image:
            channels, height, width = self.obs_shape
            if height % patch or width % patch:
                raise ValueError(f"image {height}x{width} is not divisible into {patch}px patches")
            self.patch = patch
            self.space: tuple[int, ...] = (height // patch, width // patch)
            width_in = tubelet * channels * patch * patch
        else:
            (features,) = self.obs_shape
            self.group = group
            self.space = (math.ceil(features / group),)
            self.pad = self.space[0] * group - features
            width_in = tubelet * group
        self.embed = nn.Linear(width_in, dim)

    def grid(self, frames: int = 1) -> tuple[int, ...]:
        """Token grid of a clip of `frames` frames: (time, *space), time omitted when 1 frame."""
        steps = frames // self.tubelet
        return self.space if frames == 1 else (steps, *self.space)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """clip [B, T, *obs_shape] (T a multiple of tubelet) -> tokens [B, T/t * prod(space), D]."""
        b, t = clip.shape[:2]
        if t % self.tubelet:
            raise ValueError(f"{t} frames do not split into tubelets of {self.tubelet}")
        steps, k = t // self.tubelet, self.tubelet
        if self.is_image:
            c, h, w = self.obs_shape
            p = self.patch
            x = clip.reshape(b, steps, k, c, h // p, p, w // p, p)
            x = x.permute(0, 1, 4, 6, 2, 3, 5, 7).reshape(b, steps * (h // p) * (w // p), -1)
        else:
            x = clip
            if self.pad:
                x = torch.cat([x, x.new_zeros(*x.shape[:-1], self.pad)], dim=-1)
            x = x.reshape(b, steps, k, self.space[0], self.group).permute(0, 1, 3, 2, 4)
            x = x.reshape(b, steps * self.space[0], k * self.group)
        return self.embed(x)
