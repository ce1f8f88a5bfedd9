"""Run a trained generator on uint8 face images at their own resolution.

The network runs at its training size; how its output comes back depends on the region mode:

- ``given`` / ``learned``: only the region is replaced. The content and the region map are
  upsampled to the input size (bicubic / bilinear; a given mask is dilated and feathered at the
  input size with the same margins scaled), and composited there: every pixel outside the region
  is the input's own, bit for bit.
- ``none``: the whole output is resized back (the image is regenerated and resampled).

A luminance model (``channels: 1``) sees the BT.601 luma of the input; its content is the same
in the three channels, so a gray face stays gray.

``flip_average`` is test-time augmentation: the network also runs on the mirrored face, and the
two predictions (content and region map, mirrored back) are averaged before compositing. On
the validation faces it lowers LPIPS and raises PSNR in the mask, but raises KID and moves the
output's identity further from the clean face, at twice the cost; the plugins run one pass
unless ``flip_average: true`` (docs/model.md).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from inpaint.data import luminance, resize, resize_masks, to_tensor, to_uint8
from inpaint.networks.region import RegionGenerator, soft_region


@torch.inference_mode()
def inpaint_batch(generator: RegionGenerator, images: np.ndarray, masks: np.ndarray,
                  device: torch.device | str = "cpu", flip_average: bool = False) -> np.ndarray:
    """Inpaint uint8 ``N x H x W x 3`` images with bool ``N x H x W`` masks (used in ``given`` mode only)."""
    size, height, width = generator.image_size, images.shape[1], images.shape[2]
    same = (height, width) == (size, size)
    small = images if same else resize(images, size)
    x = to_tensor(small).to(device)
    if generator.channels == 1:
        x = luminance(x)
    mask = torch.from_numpy(resize_masks(masks, size) if not same else masks)[:, None].to(device)
    given = mask if generator.region == "given" else None
    if flip_average:  # the face and its mirror image in one pass (no batch statistics), then averaged
        n = len(x)
        both = generator(torch.cat([x, x.flip(-1)]), None if given is None else torch.cat([given, given.flip(-1)]))
        out, content, region = ((t[:n] + t[n:].flip(-1)) / 2 for t in both)
    else:
        out, content, region = generator(x, given)
    if generator.region == "none":
        result = to_uint8(out.expand(-1, 3, -1, -1))
        return result if same else resize(result, (height, width))
    full = to_tensor(images).to(device)
    if not same:
        content = F.interpolate(content, size=(height, width), mode="bicubic", align_corners=False).clamp(-1, 1)
    if generator.region == "given":
        scale = height / size
        big_mask = torch.from_numpy(np.asarray(masks, bool))[:, None].to(device)
        region = soft_region(big_mask, round(generator.dilate * scale), round(generator.feather * scale))
    elif not same:
        region = F.interpolate(region, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    composite = region * content.expand(-1, 3, -1, -1) + (1 - region) * full
    return to_uint8(composite)
