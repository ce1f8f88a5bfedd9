"""FID and KID between two image sets, on pytorch-fid's Inception pool features.

Conventions (stated in run.json by the runner):
- features: pytorch-fid's ``InceptionV3([3])`` (2048-d final average pool) with the TF
  2015-12-05 weights; images are uint8 RGB scaled to [0, 1], resized to 299 x 299 bilinearly
  (no antialiasing) inside the network, then mapped to [-1, 1], exactly as pytorch-fid does;
- FID: pytorch-fid's formula on float64 means and covariances; the trace of the matrix
  square root comes from covariance factors (seconds instead of scipy ``sqrtm``'s minute;
  equal to pytorch-fid's ``calculate_frechet_distance``, which ``backend="pytorch-fid"`` calls);
- KID: unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
  ``subsets`` random subsets of ``min(subset_size, n_ref, n_cand)`` images from each set,
  drawn without replacement with a seeded generator (as in the KID paper and torchmetrics).

FID and KID share one feature extractor (``feature_key``): the runner computes the features of
each image once. The network is loaded once per process and device.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.api import BenchError, SetMetric
from bench.assets import resolve
from bench.metrics.inception_weights import ASSET, build_inception

FEATURE_KEY = "inception-pool3-2048"
_NETWORKS: dict[tuple[str, str], torch.nn.Module] = {}


def _log(text: str) -> None:
    print(text, file=sys.stderr)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def inception(device: str | None = None, path: Path | None = None) -> torch.nn.Module:
    """The FID Inception network on ``device``, built once per process."""
    device = device or default_device()
    path = path or resolve(ASSET, log=_log)
    key = (str(path), device)
    if key not in _NETWORKS:
        _NETWORKS[key] = build_inception(path).to(device)
    return _NETWORKS[key]


def inception_features(images: np.ndarray, batch_size: int = 50, device: str | None = None) -> np.ndarray:
    """Pool features ``N x 2048`` (float32) of uint8 images ``N x H x W x 3``."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise BenchError(f"Inception features need uint8 N x H x W x 3 images, got {images.dtype} {images.shape}")
    device = device or default_device()
    net = inception(device)
    out = np.empty((len(images), 2048), np.float32)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device)
            x = chunk.permute(0, 3, 1, 2).float() / 255.0
            out[start:start + len(chunk)] = net(x)[0].flatten(1).cpu().numpy()
    return out


def _check_sets(reference: np.ndarray, candidate: np.ndarray, minimum: int, name: str) -> None:
    for label, feats in (("reference", reference), ("candidate", candidate)):
        if feats.ndim != 2 or len(feats) < minimum:
            raise BenchError(f"{name} needs at least {minimum} {label} images, got {len(feats)}")
    if reference.shape[1] != candidate.shape[1]:
        raise BenchError(f"{name}: feature sizes differ ({reference.shape[1]} vs {candidate.shape[1]})")


def _covariance_factor(features: torch.Tensor) -> torch.Tensor:
    """A matrix F with F^T F = the sample covariance of ``features`` (rows are images)."""
    n, d = features.shape
    centred = features - features.mean(dim=0)
    if n <= d:
        return centred / (n - 1) ** 0.5
    cov = centred.T @ centred / (n - 1)
    lower, info = torch.linalg.cholesky_ex(cov)
    if int(info) == 0:
        return lower.T
    w, v = torch.linalg.eigh(cov)  # singular covariance: a factor from its eigendecomposition
    return (v * w.clamp(min=0).sqrt()).T


def frechet_distance(reference: np.ndarray, candidate: np.ndarray, backend: str = "factor") -> float:
    """FID between two feature sets (rows are images).

    ``backend="pytorch-fid"`` calls pytorch-fid's ``calculate_frechet_distance`` (scipy's
    ``sqrtm`` of a 2048 x 2048 matrix: about a minute per call on a small CPU). The default
    ``"factor"`` computes the same formula exactly otherwise: with covariance factors
    S1 = A^T A and S2 = B^T B, the eigenvalues of S1 S2 are the squared singular values of
    A B^T, so tr(sqrtm(S1 S2)) is the sum of those singular values (A is the centred features
    over sqrt(n - 1) when n <= d, else a Cholesky factor). They come from a symmetric
    eigensolver on the smaller Gram matrix; values below its rank tolerance count as 0.
    """
    _check_sets(reference, candidate, 2, "FID")
    if backend == "pytorch-fid":
        a, b = reference.astype(np.float64), candidate.astype(np.float64)
        return float(calculate_frechet_distance(a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False)),
                                                b.mean(axis=0), np.atleast_2d(np.cov(b, rowvar=False))))
    if backend != "factor":
        raise BenchError(f"fid: unknown backend {backend!r}; choose 'factor' or 'pytorch-fid'")
    a = torch.from_numpy(reference.astype(np.float64))
    b = torch.from_numpy(candidate.astype(np.float64))
    fa, fb = _covariance_factor(a), _covariance_factor(b)
    diff = a.mean(dim=0) - b.mean(dim=0)
    cross = fa @ fb.T
    gram = cross @ cross.T if cross.shape[0] <= cross.shape[1] else cross.T @ cross
    squared = torch.linalg.eigvalsh(gram)  # squared singular values of A B^T
    tol = squared.max().clamp(min=0) * len(squared) * torch.finfo(squared.dtype).eps
    trace_sqrt = torch.where(squared > tol, squared, torch.zeros_like(squared)).sqrt().sum()
    return float(diff @ diff + (fa * fa).sum() + (fb * fb).sum() - 2 * trace_sqrt)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-sized samples with k(a, b) = (a.b / d + 1)^3."""
    m, d = len(x), x.shape[1]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(reference: np.ndarray, candidate: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float, int]:
    """KID mean and std over subsets, and the subset size used.

    The three kernel matrices are computed once over the whole sets; each subset's unbiased
    MMD^2 (the value :func:`polynomial_mmd2` gives for that subset) is then read off them.
    """
    _check_sets(reference, candidate, 2, "KID")
    size = min(subset_size, len(reference), len(candidate))
    rng = np.random.default_rng(seed)
    a, b = reference.astype(np.float64), candidate.astype(np.float64)
    d = a.shape[1]
    k_aa, k_bb, k_ab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    values = []
    for _ in range(subsets):
        ia, ib = rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False)
        s_aa, s_bb = k_aa[np.ix_(ia, ia)], k_bb[np.ix_(ib, ib)]
        within = (s_aa.sum() - np.trace(s_aa) + s_bb.sum() - np.trace(s_bb)) / (size * (size - 1))
        values.append(within - 2 * k_ab[np.ix_(ia, ib)].sum() / (size * size))
    return float(np.mean(values)), float(np.std(values)), size


class _InceptionSetMetric(SetMetric):
    feature_key: ClassVar[str] = FEATURE_KEY
    higher_is_better: ClassVar[bool] = False
    assets: ClassVar[tuple[str, ...]] = (ASSET,)

    def __init__(self, batch_size: int = 50, device: str | None = None) -> None:
        self.batch_size = batch_size
        self.device = device or default_device()
        self.last: dict = {}  # facts about the last from_features call (n, subsets, ...)

    def features(self, images: np.ndarray) -> np.ndarray:
        return inception_features(images, self.batch_size, self.device)

    def describe(self) -> dict:
        return {"features": "pytorch-fid InceptionV3 pool3 (2048-d), TF 2015-12-05 weights, "
                            "bilinear resize to 299 inside the network, input in [-1, 1]"}


class FID(_InceptionSetMetric):
    """Fréchet Inception Distance (pytorch-fid's formula; see :func:`frechet_distance`)."""

    name: ClassVar[str] = "fid"

    def __init__(self, backend: str = "factor", batch_size: int = 50, device: str | None = None) -> None:
        super().__init__(batch_size, device)
        if backend not in ("factor", "pytorch-fid"):
            raise BenchError(f"fid: unknown backend {backend!r}; choose 'factor' or 'pytorch-fid'")
        self.backend = backend

    def from_features(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        value = frechet_distance(reference, candidate, self.backend)
        self.last = {"n_reference": len(reference), "n_candidate": len(candidate)}
        return value

    def describe(self) -> dict:
        trace = ("scipy sqrtm (pytorch-fid calculate_frechet_distance)" if self.backend == "pytorch-fid"
                 else "sum of singular values of A B^T with S1 = A^T A, S2 = B^T B (float64)")
        return {**super().describe(), "trace_sqrt": trace}


class KID(_InceptionSetMetric):
    """Kernel Inception Distance: unbiased polynomial-kernel MMD^2 averaged over subsets."""

    name: ClassVar[str] = "kid"

    def __init__(self, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                 batch_size: int = 50, device: str | None = None) -> None:
        super().__init__(batch_size, device)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def from_features(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        mean, std, size = kernel_inception_distance(reference, candidate, self.subsets, self.subset_size, self.seed)
        self.last = {"n_reference": len(reference), "n_candidate": len(candidate), "std": std,
                     "subset_size": size, "subsets": self.subsets, "seed": self.seed}
        return mean

    def describe(self) -> dict:
        return {**super().describe(), "kernel": "(x.y/d + 1)^3", "subsets": self.subsets,
                "subset_size": f"min({self.subset_size}, n)", "seed": self.seed}
