"""Summary statistics for per-image scores: means with bootstrap intervals, area bins."""
from __future__ import annotations

import numpy as np


def mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of the finite values and its percentile-bootstrap interval; returns (mean, low, high, n)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(values.mean())
    if n == 1 or n_boot <= 0:
        return mean, float("nan"), float("nan"), n
    rng = np.random.default_rng(seed)
    # Means of resamples, in blocks so memory stays small for large n.
    means = np.empty(n_boot)
    block = max(1, 2_000_000 // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(low), float(high), n


def bin_index(areas: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin of each mask-area fraction; the last bin includes its upper edge."""
    areas = np.asarray(areas, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges), areas, side="right") - 1
    return np.clip(index, 0, len(edges) - 2)


def bin_label(low: float, high: float) -> str:
    return f"{low * 100:.0f}-{high * 100:.0f}%"
