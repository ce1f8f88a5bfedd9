"""Inpainters and metrics used by the runner tests, named in protocols as ``tests.plugins:Name``."""
from __future__ import annotations

import os
import time

import numpy as np

from bench.api import ImageMetric, Inpainter, SetMetric


class MeanFill(Inpainter):
    """Fills the hidden pixels with the mean visible colour; sleeps to make kills easy to time."""

    name = "mean-fill"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = float(os.environ.get("TEST_PLUGIN_DELAY", delay))

    def __call__(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        out = images.copy()
        for image, mask in zip(out, masks):
            image[mask] = image[~mask].mean(axis=0).astype(np.uint8)
        return out


class Raises(Inpainter):
    name = "raises"

    def __call__(self, images, masks):
        raise RuntimeError("model exploded")


class ReturnsNaN(Inpainter):
    name = "nan"

    def __call__(self, images, masks):
        return np.full(images.shape, np.nan, np.float32)


class WrongShape(Inpainter):
    name = "wrong-shape"

    def __call__(self, images, masks):
        return images[:, :-1]


class WrongDtype(Inpainter):
    name = "wrong-dtype"

    def __call__(self, images, masks):
        return images.astype(np.float32)


class SlowMAE(ImageMetric):
    """Mean absolute error over the whole image, slowed down so a kill can land inside it."""

    name = "slow-mae"
    higher_is_better = False

    def per_image(self, reference, candidate, masks):
        time.sleep(float(os.environ.get("TEST_METRIC_DELAY", "0")))
        diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
        return diff.reshape(len(diff), -1).mean(axis=1) * self.scale

    @property
    def scale(self) -> float:
        return float(os.environ.get("TEST_METRIC_SCALE", "1"))

    def describe(self) -> dict:
        return {"scale": self.scale}


class SlowMeanDistance(SetMetric):
    """Distance between the mean colours of two sets; slow in ``from_features`` (the aggregation)."""

    name = "slow-mean-distance"
    feature_key = "mean-colour"

    def features(self, images):
        return images.reshape(len(images), -1, 3).mean(axis=1)

    def from_features(self, reference, candidate):
        time.sleep(float(os.environ.get("TEST_AGGREGATE_DELAY", "0")))
        return float(np.linalg.norm(reference.mean(axis=0) - candidate.mean(axis=0)))


class Constant(Inpainter):
    """Fills the hidden pixels with one gray level, given as an option (and told by describe())."""

    name = "constant"

    def __init__(self, value: int = 0) -> None:
        self.value = int(value)

    def __call__(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        out = images.copy()
        out[masks] = self.value
        return out

    def describe(self) -> dict:
        return {"value": self.value}
