"""Colour for a face inpainted by a luminance model.

The model is trained on grayscale faces, so on a colour photo it replaces only the luminance of
the hidden region; the chroma there (the mask's own colour) is replaced by the chroma of the
visible skin of the upper face (:func:`bench.photos.region.skin_reference`; where none is
visible, the median of a band around the region's upper half), blended in with the region's
feathered edge. Gray photos stay
gray. Conversions are ITU-R BT.601 YCrCb, as the model's own luminance.
"""
from __future__ import annotations

import cv2
import numpy as np

SKIN_BAND = 8  # px of the 160 px crop around the region where the skin's chroma is measured


def is_gray(image: np.ndarray) -> bool:
    """Whether a uint8 RGB image has three equal channels."""
    return bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def feathered(region: np.ndarray, dilate: int, sigma: float) -> np.ndarray:
    """Float ``H x W`` weights in [0, 1]: the region dilated by ``dilate`` px, then blurred."""
    mask = region.astype(np.uint8)
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, kernel)
    weight = mask.astype(np.float32)
    if sigma > 0:
        weight = cv2.GaussianBlur(weight, (0, 0), sigma)
    return np.clip(np.maximum(weight, region.astype(np.float32)), 0.0, 1.0)


def skin_chroma(image: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """Median (Cr, Cb) of the visible pixels in a band around the upper half of the region, or
    None when the band is empty."""
    rows = np.nonzero(region.any(axis=1))[0]
    if rows.size == 0:
        return None
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SKIN_BAND + 1, 2 * SKIN_BAND + 1))
    band = (cv2.dilate(region.astype(np.uint8), kernel) > 0) & ~region
    band[int((rows[0] + rows[-1]) / 2):] = False
    if not band.any():
        return None
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    return np.median(ycc[band][:, 1:], axis=0)


def recolour(original: np.ndarray, inpainted: np.ndarray, region: np.ndarray, skin: np.ndarray | None = None,
             feather: float = 2.0) -> np.ndarray:
    """The inpainted luminance with skin chroma in the region of a colour face crop.

    ``original`` and ``inpainted`` are uint8 RGB ``H x W x 3``; ``skin`` is the skin's (Cr, Cb),
    measured around the region's upper half when not given; outside the (feathered) region the
    original's chroma is kept."""
    if is_gray(original):
        return inpainted
    chroma = skin_chroma(original, region) if skin is None else np.asarray(skin, np.float32)
    out = cv2.cvtColor(inpainted, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    luma = cv2.cvtColor(inpainted, cv2.COLOR_RGB2GRAY).astype(np.float32)
    source = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    target = source[..., 1:] if chroma is None else np.broadcast_to(chroma.astype(np.float32), source[..., 1:].shape)
    weight = feathered(region, 0, feather)[..., None]
    out[..., 0] = luma
    out[..., 1:] = weight * target + (1 - weight) * source[..., 1:]
    rgb = cv2.cvtColor(np.clip(np.rint(out), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    changed = (weight[..., 0] > 0) | (inpainted != original).any(axis=-1)
    return np.where(changed[..., None], rgb, original)
