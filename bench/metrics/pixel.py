"""Pixel metrics of uint8 RGB images: PSNR and SSIM on the whole image, PSNR and L1 in the mask.

Conventions:
- data range 255 (uint8); all arithmetic in float64;
- PSNR = 10 log10(255^2 / MSE), MSE over all pixels and channels (scikit-image's
  ``peak_signal_noise_ratio(data_range=255)``), capped at ``PSNR_CAP_DB`` = 100 dB so that an
  exact copy (MSE = 0, infinite PSNR) does not make an average infinite;
- SSIM with Wang et al.'s conventions (IEEE TIP 2004): 11 x 11 Gaussian window with sigma 1.5,
  K1 = 0.01, K2 = 0.03, population covariance, the mean over the pixels whose window lies
  inside the image, averaged over the 3 channels; equal to scikit-image's
  ``structural_similarity(channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`` to ~1e-6;
- region "mask" (``psnr-mask``, ``l1-mask``): only the hidden pixels (mask True) count. An image
  whose mask is empty has no such pixels: its score is NaN (never 0), ``compute()`` averages
  the other images and reports how many were empty in ``n_empty``;
- L1 is the mean absolute difference on the [0, 1] scale (|a - b| / 255).
"""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from bench.api import BenchError, ImageMetric

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scipy's truncate=3.5, as scikit-image uses
SSIM_WINDOW = 2 * SSIM_RADIUS + 1


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


def _gaussian_kernel() -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian (sigma 1.5, truncate 3.5: radius 5), as scikit-image uses it."""
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def ssim(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """SSIM of each image pair with Wang et al.'s conventions (see the module docstring).

    Per image, the five planes x, y, x^2, y^2, x y (centred on 128, float32) are filtered with
    one separable Gaussian pass over all channels (OpenCV). Only the pixels whose window lies
    inside the image are kept, so the border mode does not matter, exactly as scikit-image crops
    its filtered planes. Equal to scikit-image to ~1e-6.
    """
    if min(reference.shape[1:3]) < SSIM_WINDOW:
        raise BenchError(f"ssim: images of {reference.shape[1]}x{reference.shape[2]} are smaller than the "
                         f"{SSIM_WINDOW}x{SSIM_WINDOW} window")
    c1, c2 = np.float32((0.01 * 255.0) ** 2), np.float32((0.03 * 255.0) ** 2)
    kernel, r = _gaussian_kernel(), SSIM_RADIUS
    out = np.empty(len(reference), np.float64)
    for i, (ref, cand) in enumerate(zip(reference, candidate)):
        x = ref.astype(np.float32) - 128.0
        y = cand.astype(np.float32) - 128.0
        planes = np.concatenate([x, y, x * x, y * y, x * y], axis=2)
        filtered = cv2.sepFilter2D(planes, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]
        ux, uy, uxx, uyy, uxy = np.split(filtered, 5, axis=2)
        mx, my = ux + 128.0, uy + 128.0
        numerator = (2 * mx * my + c1) * (2 * (uxy - ux * uy) + c2)
        denominator = (mx * mx + my * my + c1) * ((uxx - ux * ux) + (uyy - uy * uy) + c2)
        out[i] = (numerator / denominator).mean(dtype=np.float64)
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
    """Structural similarity of the whole image (Wang et al.: 11x11 Gaussian window, sigma 1.5)."""

    name: ClassVar[str] = "ssim"
    higher_is_better: ClassVar[bool] = True
    region: ClassVar[str] = "full"

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        _check_pair(self.name, reference, candidate)
        return ssim(reference, candidate)

    def describe(self) -> dict:
        return {"data_range": 255, "window": "Gaussian 11x11, sigma 1.5", "K1": 0.01, "K2": 0.03,
                "covariance": "population", "channels": "mean of R, G, B",
                "reference": "skimage structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)"}


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
