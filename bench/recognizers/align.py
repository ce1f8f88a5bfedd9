"""Preprocessing shared by the recognizers: input checks, alignment to a crop template, L2 norm.

A similarity transform (rotation, uniform scale, translation) is estimated in the least-squares
sense with Umeyama's closed form (the estimate insightface's ``face_align.estimate_norm`` gets
from scikit-image's ``SimilarityTransform``), then the image is resampled bilinearly with a
black border, as insightface's ``norm_crop`` does.
"""
from __future__ import annotations

import cv2
import numpy as np

from bench.api import BenchError

#: insightface's arcface template: the 5 points of :func:`bench.landmarks.five_point` in a
#: 112 x 112 crop (``insightface.utils.face_align.arcface_dst``).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity transform mapping ``src`` points onto ``dst`` points with least
    squared error (Umeyama 1991, no reflection). Both are ``K x 2`` with K >= 2."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 2:
        raise BenchError(f"align: need two K x 2 point sets of one shape (K >= 2), got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise BenchError("align: landmarks contain NaN or infinity")
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / src.shape[0]
    if src_var <= 1e-12:
        raise BenchError("align: landmarks collapse to a single point")
    cov = dst_c.T @ src_c / src.shape[0]
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def warp(image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resample ``image`` through the 2 x 3 ``matrix`` (image -> crop) into a crop of ``size``
    (an int for square crops or ``(width, height)``); outside the image is black."""
    width, height = (size, size) if isinstance(size, int) else size
    return cv2.warpAffine(
        np.ascontiguousarray(image), np.asarray(matrix, dtype=np.float64), (int(width), int(height)),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def align_faces(images: np.ndarray, points: np.ndarray, template: np.ndarray, size: int) -> np.ndarray:
    """Warp each image so that its ``K x 2`` points land on ``template``; returns uint8 ``N x size x size x 3``."""
    images = np.asarray(images)
    points = np.asarray(points)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise BenchError(f"align: expected uint8 images N x H x W x 3, got {images.dtype} {images.shape}")
    if points.shape[0] != images.shape[0]:
        raise BenchError(f"align: {images.shape[0]} images but {points.shape[0]} landmark sets")
    out = np.empty((images.shape[0], size, size, 3), dtype=np.uint8)
    for i, (image, pts) in enumerate(zip(images, points)):
        out[i] = warp(image, similarity_matrix(pts, template), size)
    return out


def check_inputs(images: np.ndarray, landmarks: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a recognizer's inputs (uint8 ``N x H x W x 3``, float ``N x 68 x 2``), naming it in errors."""
    images = np.asarray(images)
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise BenchError(f"{who}: expected uint8 images N x H x W x 3, got {images.dtype} {images.shape}")
    if landmarks.shape != (images.shape[0], 68, 2):
        raise BenchError(f"{who}: expected landmarks {images.shape[0]} x 68 x 2, got {landmarks.shape}")
    if not np.isfinite(landmarks).all():
        raise BenchError(f"{who}: landmarks contain NaN or infinity")
    return images, landmarks


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.isfinite(vectors).all() or (norms == 0).any():
        raise BenchError("recognizer produced a zero or non-finite embedding")
    return (vectors / norms).astype(np.float32)
