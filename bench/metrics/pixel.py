"""Pixel metrics of uint8 RGB images: PSNR and SSIM on the whole image, PSNR and L1 in the mask.

Conventions:
- data range 255 (uint8); all arithmetic in float64;
- PSNR = 10 log10(255^2 / MSE), MSE over all pixels and channels (scikit-image's
  ``peak_signal_noise_ratio(data_range=255)``), capped at ``PSNR_CAP_DB`` = 100 dB so that an
  exact copy (MSE = 0, infinite PSNR) does not make an average infinite;
- SSIM = scikit-image's ``structural_similarity(channel_axis=-1, data_range=255)`` with its
  defaults: 7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, the mean over the
  pixels whose window lies inside the image, averaged over the 3 channels. Computed on chunks
  of the batch in torch with exact window sums (the cropped border makes the filter's edge
  mode irrelevant); equal to scikit-image to ~1e-7;
- region "mask" (``psnr-mask``, ``l1-mask``): only the hidden pixels (mask True) count. An image
  whose mask is empty has no such pixels: its score is NaN (never 0), ``compute()`` averages
  the other images and reports how many were empty in ``n_empty``;
- L1 is the mean absolute difference on the [0, 1] scale (|a - b| / 255).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from bench.api import BenchError, ImageMetric

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 7
_SSIM_CHUNK_PIXELS = 1 << 16  # pixels per torch call: small chunks keep the 12 planes in cache


def _check_pair(name: str, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray | None = None) -> None:
    if reference.shape != candidate.shape or reference.ndim != 4 or reference.shape[-1] != 3:
        raise BenchError(f"{name}: reference {reference.shape} and candidate {candidate.shape} must be equal N x H x W x 3")
    if reference.dtype != np.uint8 or candidate.dtype != np.uint8:
        raise BenchError(f"{name}: images must be uint8, got {reference.dtype} and {candidate.dtype}")
    if masks is not None and masks.shape != reference.shape[:3]:
        raise BenchError(f"{name}: masks {masks.shape} do not match images {reference.shape[:3]}")


def _psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        psnr = 10.0 * np.log10(255.0 ** 2 / mse)
    return np.where(np.isnan(mse), np.nan, np.minimum(psnr, PSNR_CAP_DB))


def psnr(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """PSNR (dB) of each image pair, capped at ``PSNR_CAP_DB``."""
    diff = reference.astype(np.float64) - candidate.astype(np.float64)
    return _psnr_from_mse((diff ** 2).reshape(len(diff), -1).mean(axis=1))


def ssim(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """SSIM of each image pair, equal to scikit-image's defaults (see the module docstring).

    Window sums are exact: pixel values are centred on 128, so the values, their products and
    the 49-term sums are integers below 2^24, which float32 holds exactly. Only the final
    ratio is rounded to float32 (relative error ~1e-7 per pixel); the mean is taken in float64.
    With sums S over the window (n = 49 pixels), per pixel and channel:
    luminance = (2 Mx My + C1 n^2) / (Mx^2 + My^2 + C1 n^2) with M = S + 128 n, and
    structure = (2 n Sxy - 2 Sx Sy + C2 n (n-1)) / (n (Sxx + Syy) - Sx^2 - Sy^2 + C2 n (n-1)).
    """
    if min(reference.shape[1:3]) < SSIM_WINDOW:
        raise BenchError(f"ssim: images of {reference.shape[1]}x{reference.shape[2]} are smaller than the {SSIM_WINDOW}x{SSIM_WINDOW} window")
    n = SSIM_WINDOW ** 2
    c1 = (0.01 * 255.0) ** 2 * n * n
    c2 = (0.03 * 255.0) ** 2 * n * (n - 1)
    ones = torch.ones(12, 1, SSIM_WINDOW, SSIM_WINDOW)
    chunk = max(1, _SSIM_CHUNK_PIXELS // (reference.shape[1] * reference.shape[2]))
    out = np.empty(len(reference), np.float64)
    with torch.inference_mode():
        for start in range(0, len(reference), chunk):
            ref = torch.from_numpy(reference[start:start + chunk]).permute(0, 3, 1, 2)
            cand = torch.from_numpy(candidate[start:start + chunk]).permute(0, 3, 1, 2)
            planes = torch.empty(len(ref), 12, *ref.shape[2:])  # x, y, x^2 + y^2, x y
            x, y = planes[:, 0:3], planes[:, 3:6]
            x.copy_(ref)
            y.copy_(cand)
            planes[:, 0:6].sub_(128.0)
            torch.mul(x, x, out=planes[:, 6:9]).addcmul_(y, y)
            torch.mul(x, y, out=planes[:, 9:12])
            sums = F.conv2d(planes, ones, groups=12)  # valid 7x7 window sums
            sx, sy, sq, sxy = sums[:, 0:3], sums[:, 3:6], sums[:, 6:9], sums[:, 9:12]
            numerator = torch.add(c2, sxy, alpha=2 * n).addcmul_(sx, sy, value=-2)
            denominator = torch.add(c2, sq, alpha=n).addcmul_(sx, sx, value=-1).addcmul_(sy, sy, value=-1)
            mx, my = sx + 128.0 * n, sy + 128.0 * n
            numerator.mul_(torch.addcmul(torch.full_like(mx, c1), mx, my, value=2))
            denominator.mul_(torch.full_like(mx, c1).addcmul_(mx, mx).addcmul_(my, my))
            values = numerator.div_(denominator).mean(dim=(2, 3), dtype=torch.float64).mean(dim=1)
            out[start:start + len(ref)] = values.numpy()
    return out


def _masked_sums(reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray, power: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of |diff|^power over hidden pixels (all channels) and the number of values summed."""
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64)) ** power
    weights = masks.astype(np.float64)[..., None]
    return (diff * weights).reshape(len(diff), -1).sum(axis=1), masks.reshape(len(masks), -1).sum(axis=1) * 3.0


class PSNR(ImageMetric):
    """Peak signal-to-noise ratio of the whole image (dB, capped at 100)."""

    name: ClassVar[str] = "psnr"
    higher_is_better: ClassVar[bool] = True
    region: ClassVar[str] = "full"

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        _check_pair(self.name, reference, candidate)
        return psnr(reference, candidate)

    def describe(self) -> dict:
        return {"data_range": 255, "cap_db": PSNR_CAP_DB}


class SSIM(ImageMetric):
    """Structural similarity of the whole image (scikit-image's defaults, 7x7 uniform window)."""

    name: ClassVar[str] = "ssim"
    higher_is_better: ClassVar[bool] = True
    region: ClassVar[str] = "full"

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        _check_pair(self.name, reference, candidate)
        return ssim(reference, candidate)

    def describe(self) -> dict:
        return {"data_range": 255, "window": "uniform 7x7", "K1": 0.01, "K2": 0.03,
                "covariance": "sample", "channels": "mean of R, G, B", "reference": "skimage structural_similarity"}


class _MaskMetric(ImageMetric):
    """Scores over hidden pixels only; NaN for an empty mask, counted in ``n_empty``."""

    region: ClassVar[str] = "mask"

    def __init__(self) -> None:
        super().__init__()
        self.n_empty = 0

    def update(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> None:
        values = np.asarray(self.per_image(reference, candidate, masks), dtype=np.float64)
        self.n_empty += int(np.isnan(values).sum())
        self._values.append(values)

    def compute(self) -> float:
        if not self._values:
            raise BenchError(f"metric {self.name}: compute() called before update()")
        values = np.concatenate(self._values)
        if np.isnan(values).all():
            raise BenchError(f"metric {self.name}: all {len(values)} masks are empty; nothing to score")
        return float(np.nanmean(values))

    def reset(self) -> None:
        super().reset()
        self.n_empty = 0

    def describe(self) -> dict:
        return {"region": "mask (hidden pixels only)", "empty_mask": "NaN, excluded from the mean and counted"}


class PSNRMask(_MaskMetric):
    """PSNR over the hidden pixels only (dB, capped at 100; NaN for an empty mask)."""

    name: ClassVar[str] = "psnr-mask"
    higher_is_better: ClassVar[bool] = True

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> np.ndarray:
        _check_pair(self.name, reference, candidate, masks)
        total, count = _masked_sums(reference, candidate, masks.astype(bool), 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return _psnr_from_mse(np.where(count > 0, total / np.maximum(count, 1), np.nan))


class L1Mask(_MaskMetric):
    """Mean absolute error over the hidden pixels on the [0, 1] scale (NaN for an empty mask)."""

    name: ClassVar[str] = "l1-mask"
    higher_is_better: ClassVar[bool] = False

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> np.ndarray:
        _check_pair(self.name, reference, candidate, masks)
        total, count = _masked_sums(reference, candidate, masks.astype(bool), 1)
        return np.where(count > 0, total / np.maximum(count, 1) / 255.0, np.nan)
