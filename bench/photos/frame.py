"""The face frame of LFW-gray (160x160 tight crops) and how a face in a photo is brought into it.

A face found by YuNet is aligned by the similarity transform that maps its five landmarks onto
:data:`TEMPLATE`, the mean of YuNet's five landmarks over the 1,350 training faces of LFW-gray
(``scripts/photo_frame.py`` recomputes it). In that frame dlib's 68-point predictor runs in
LFW-gray's mean face box, so the landmarks come from the same predictor, box and frame as the
benchmark's own.
"""
from __future__ import annotations

import cv2
import numpy as np

from bench.api import BenchError
from bench.landmarks import MEAN_BOX, LandmarkDetector
from bench.recognizers.align import similarity_matrix

CROP_SIZE = 160
# YuNet's five landmarks (image-left eye, image-right eye, nose tip, image-left and image-right
# mouth corner) on LFW-gray, in crop pixels.
TEMPLATE = np.array([[48.71, 63.97], [109.96, 64.66], [77.88, 97.24], [53.90, 123.66], [104.59, 124.29]],
                    np.float32)


def align_matrix(points5: np.ndarray) -> np.ndarray:
    """The 2 x 3 photo -> crop transform that puts five landmarks on :data:`TEMPLATE`."""
    points5 = np.asarray(points5, np.float64)
    if points5.shape != (5, 2):
        raise BenchError(f"alignment needs 5 x 2 landmarks, got shape {points5.shape}")
    return similarity_matrix(points5, TEMPLATE)


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine transform."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def crop_face(photo: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The aligned ``CROP_SIZE`` crop of a uint8 RGB photo; outside the photo the border is
    replicated. A face larger than the crop is first shrunk by area averaging (no aliasing)."""
    matrix = np.asarray(matrix, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.8:
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        matrix = np.hstack([matrix[:, :2] / scale, matrix[:, 2:]])
    return cv2.warpAffine(np.ascontiguousarray(photo), matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points ``K x 2`` through a 2 x 3 affine transform."""
    points = np.asarray(points, np.float64)
    return (points @ np.asarray(matrix, np.float64)[:, :2].T + np.asarray(matrix, np.float64)[:, 2]).astype(np.float32)


def crop_landmarks(detector: LandmarkDetector, crop: np.ndarray) -> np.ndarray:
    """dlib's 68 landmarks of the aligned crop, run in LFW-gray's mean face box."""
    box = tuple(float(v) for v in MEAN_BOX * CROP_SIZE)
    return detector.landmarks_in_box(crop, box)
