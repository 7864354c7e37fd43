"""Tokenizers: images into patches, vectors into feature groups, clips into tubelets.

One module covers the three JEPA inputs. A clip [B, T, *obs_shape] is cut along time into
tubelets of `tubelet` frames (1 for I-JEPA) and along space into patches of `patch` x `patch`
pixels (images) or groups of `group` features (vectors; the last group is zero-padded). Each
tubelet is flattened and linearly embedded: the same map as the official Conv2d/Conv3d patch
embedding with stride equal to its kernel, and the same parameter count.

Images are standardised per channel first with the ImageNet mean and std, as the official
data pipelines of I-JEPA and V-JEPA 2 do before the patch embedding. This sets the scale the
official std-0.02 init assumes: on raw [0, 1] pixels a 8x8x3 patch embeds with a content
spread of about 0.06 against 0.7 for the fixed sin-cos positions, and the features are then
almost only position (measured on `push`: per-dimension spread of the target features 0.03).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The official pipelines' per-channel normalisation (torchvision's ImageNet statistics).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def pixel_statistics(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std [C, 1, 1] that standardise [0, 1] pixels: ImageNet's for RGB,
    their channel average for any other channel count."""
    if channels == len(IMAGENET_MEAN):
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    else:
        mean = torch.full((channels,), sum(IMAGENET_MEAN) / 3)
        std = torch.full((channels,), sum(IMAGENET_STD) / 3)
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


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
            mean, std = pixel_statistics(channels)
            self.register_buffer("pixel_mean", mean, persistent=False)
            self.register_buffer("pixel_std", std, persistent=False)
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
            clip = (clip - self.pixel_mean) / self.pixel_std
            x = clip.reshape(b, steps, k, c, h // p, p, w // p, p)
            x = x.permute(0, 1, 4, 6, 2, 3, 5, 7).reshape(b, steps * (h // p) * (w // p), -1)
        else:
            x = clip
            if self.pad:
                x = torch.cat([x, x.new_zeros(*x.shape[:-1], self.pad)], dim=-1)
            x = x.reshape(b, steps, k, self.space[0], self.group).permute(0, 1, 3, 2, 4)
            x = x.reshape(b, steps * self.space[0], k * self.group)
        return self.embed(x)
