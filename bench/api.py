"""Contracts shared by the benchmark, its plugins and the model: faces, inpainters, recognizers, metrics.

Images are always uint8 RGB arrays ``N x H x W x 3``; masks are boolean ``N x H x W`` with
True where the face is hidden. Landmarks are float32 ``N x 68 x 2`` (x, y) in dlib's 68-point
layout, detected on the clean original so that every method is aligned identically.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np


class BenchError(Exception):
    """An error with a message meant for the user (names the file, key or plugin at fault)."""


class Unavailable(BenchError):
    """A plugin cannot run here (missing weights, missing package); the message says how to get it."""


@dataclass(frozen=True)
class Face:
    """One face image of a dataset. ``id`` is its path relative to the dataset root (posix)."""

    id: str
    identity: str
    path: Path


@dataclass(frozen=True)
class Pair:
    """A verification pair of face ids; ``fold`` is 0-based (pairs.txt's own fold, or -1 if none)."""

    a: str
    b: str
    same: bool
    fold: int = -1


class Inpainter(ABC):
    """Fills the hidden part of faces. Plugins register in the entry-point group ``bench.inpainters``.

    ``needs_mask`` is False for methods that translate a masked face without being told where
    the mask is (the paper's model); such methods still receive the masks and must ignore them.
    """

    name: ClassVar[str] = "inpainter"
    needs_mask: ClassVar[bool] = True

    @abstractmethod
    def __call__(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Return inpainted uint8 images with the shape of ``images``."""

    def describe(self) -> dict:
        """Facts for run.json (checkpoint hash, options)."""
        return {}


class Recognizer(ABC):
    """Embeds faces for verification. Plugins register in the group ``bench.recognizers``.

    Constructors raise :class:`Unavailable` when their model cannot be found.
    """

    name: ClassVar[str] = "recognizer"
    dim: ClassVar[int] = 0

    @abstractmethod
    def embed(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Return L2-normalised float32 embeddings ``N x dim``; landmarks are ``N x 68 x 2``."""

    def describe(self) -> dict:
        return {}


class ImageMetric(ABC):
    """A score of each candidate image against its reference (PSNR, SSIM, LPIPS, ...).

    Follows torchmetrics' habit: ``update`` accumulates, ``compute`` returns the mean;
    ``per_image`` is what the runner calls so that it can cache, bin and bootstrap.
    Plugins register in the group ``bench.metrics``.
    """

    name: ClassVar[str] = "metric"
    higher_is_better: ClassVar[bool] = True
    region: ClassVar[str] = "full"  # "full" image or "mask" (the hidden region only)

    def __init__(self) -> None:
        self._values: list[np.ndarray] = []

    @abstractmethod
    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Return float64 scores, one per image."""

    def update(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> None:
        self._values.append(np.asarray(self.per_image(reference, candidate, masks), dtype=np.float64))

    def compute(self) -> float:
        if not self._values:
            raise BenchError(f"metric {self.name}: compute() called before update()")
        return float(np.mean(np.concatenate(self._values)))

    def reset(self) -> None:
        self._values = []


class SetMetric(ABC):
    """A distance between two sets of images computed from per-image features (FID, KID).

    The runner computes ``features`` once per image, caches them, then calls ``from_features``.
    """

    name: ClassVar[str] = "set-metric"
    higher_is_better: ClassVar[bool] = False
    feature_key: ClassVar[str] = "features"  # metrics sharing a feature extractor share this key

    @abstractmethod
    def features(self, images: np.ndarray) -> np.ndarray:
        """Return float features ``N x D``."""

    @abstractmethod
    def from_features(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        """Return the distance between the two feature sets."""
