"""Differentiable augmentation of the discriminator's inputs (DiffAugment: Zhao et al., NeurIPS 2020).

With few training images a discriminator memorises them; augmenting every image it sees, real
and generated alike, with the same family of differentiable transforms stops that without
leaking the augmentations into the generated images. Here: brightness, contrast (each image
its own factor) and a translation by up to 1/8 of the side with zero padding. Images are
N x C x H x W in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n,), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n,), device=x.device)
    padded = F.pad(x, (sx, sx, sy, sy))
    rows = (torch.arange(h, device=x.device)[None, :] + sy - dy[:, None])  # N x H
    cols = (torch.arange(w, device=x.device)[None, :] + sx - dx[:, None])  # N x W
    index = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and translation with fresh random parameters per image."""
    return translation(contrast(brightness(x)))
