"""Change only what is hidden: a generator that outputs ``a * c + (1 - a) * x``.

The backbone (:class:`~inpaint.networks.generator.Generator`) predicts content ``c`` and, in the
blind variant, a soft region map ``a``; the output keeps the input wherever ``a`` is 0, so the
unmasked part of a face passes through untouched and the network's capacity goes to the hidden
part (attention-guided unpaired translation: Mejjati et al., "Unsupervised Attention-guided
Image-to-Image Translation", NeurIPS 2018; Tang et al., AttentionGAN, 2019).

Region modes:

- ``given``: the occluder mask is known (the benchmark's mask). It is dilated by a few pixels
  and feathered (:func:`soft_region`), given to the backbone as an extra input channel, and
  used as ``a``.
- ``learned`` (blind): the backbone's last channel, mapped from tanh's [-1, 1] to [0, 1], is
  ``a``. No mask is needed, which is what real photos require.
- ``none``: the backbone's output is the output (CUT's recipe: the whole image regenerated).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaint.networks.generator import Generator

REGION_MODES = ("given", "learned", "none")


def soft_region(mask: torch.Tensor, dilate: int, feather: int) -> torch.Tensor:
    """Dilate a {0, 1} mask ``N x 1 x H x W`` by ``dilate`` pixels (square) and blur its edge with
    a ``2 * feather + 1`` box filter; values stay 1 on the original mask."""
    region = mask.float()
    if dilate > 0:
        region = F.max_pool2d(region, 2 * dilate + 1, stride=1, padding=dilate)
    if feather > 0:
        k = 2 * feather + 1
        blurred = F.avg_pool2d(F.pad(region, (feather,) * 4, mode="replicate"), k, stride=1)
        region = torch.maximum(blurred, mask.float())
    return region


class RegionGenerator(nn.Module):
    """Wraps a backbone so that its output is composited into the input (see the module docstring).

    ``forward(x, mask)`` returns ``(out, content, region)``; with ``return_features`` also the
    backbone's PatchNCE features of its input. ``mask`` (bool or {0, 1}, ``N x 1 x H x W``) is
    needed in ``given`` mode only.
    """

    def __init__(self, backbone: Generator, region: str = "given", channels: int = 1,
                 dilate: int = 3, feather: int = 2) -> None:
        super().__init__()
        if region not in REGION_MODES:
            raise ValueError(f"region must be one of {REGION_MODES}, got {region!r}")
        self.backbone, self.region, self.channels = backbone, region, channels
        self.dilate, self.feather = dilate, feather
        self.image_size = backbone.image_size

    @property
    def nce_channels(self) -> tuple[int, ...]:
        return self.backbone.nce_channels

    def region_of(self, mask: torch.Tensor) -> torch.Tensor:
        return soft_region(mask, self.dilate, self.feather)

    def backbone_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.region != "given":
            return x
        if mask is None:
            raise ValueError("region 'given' needs the occluder mask")
        return torch.cat([x, mask.to(x.dtype) * 2 - 1], dim=1)

    def encode_features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        return self.backbone.encode_features(self.backbone_input(x, mask))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_features: bool = False):
        raw, feats = self.backbone(self.backbone_input(x, mask), return_features=True)
        content = raw[:, : self.channels]
        if self.region == "given":
            region = self.region_of(mask).to(x.dtype)
        elif self.region == "learned":
            region = (raw[:, self.channels:] + 1) / 2
        else:
            region = torch.ones_like(x[:, :1])
        out = content if self.region == "none" else region * content + (1 - region) * x
        return (out, content, region, feats) if return_features else (out, content, region)
