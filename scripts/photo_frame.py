"""Recompute the LFW-gray face frame that real photos are aligned to (bench/photos/frame.py)
and the prior of where masks lie in it (bench/photos/mask_prior.npz).

YuNet runs on every image of the model's training pool (inpaint/weights/cl-attn.split.json),
padded by 40 px of flat gray so that the tight crops do not touch the frame; the mean of its
five landmarks over the faces found is the template, in the 160x160 crop's pixels. The prior
holds the pixels that the union of the four synthetic mask styles (drawn from each face's 68
landmarks) covers on at least PRIOR_SHARE of the pool's faces.

    BENCH_DATA=../shared/data python scripts/photo_frame.py
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data.imageio import load_rgb  # noqa: E402
from bench.detection import FaceDetector  # noqa: E402
from bench.landmarks import LandmarkDetector  # noqa: E402
from bench.photos.region import PRIOR_PATH, candidate  # noqa: E402

PAD = 40
PRIOR_SHARE = 0.25


def mean_points(paths: list[Path]) -> tuple[np.ndarray, int]:
    """Mean YuNet five points over the images (each padded by PAD px), and how many had a face."""
    detector = FaceDetector()
    found = []
    for path in paths:
        image = cv2.copyMakeBorder(load_rgb(path), PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        faces = detector.detect(image)
        if faces:
            found.append(faces[0].landmarks - PAD)
    return np.mean(found, axis=0), len(found)


def mask_prior(paths: list[Path]) -> np.ndarray:
    """Bool 160 x 160: where the synthetic masks lie on at least PRIOR_SHARE of the faces."""
    detector = LandmarkDetector()
    cover, n = np.zeros((160, 160)), 0
    for path in paths:
        image = load_rgb(path)
        landmarks, found = detector.detect(image)
        if found and image.shape[:2] == (160, 160):
            cover += candidate(image, landmarks, prior=False)
            n += 1
    return cover / n >= PRIOR_SHARE


def main() -> None:
    split = json.loads((ROOT / "inpaint/weights/cl-attn.split.json").read_text())
    root = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared/data")) / "lfw-gray"
    points, n = mean_points([root / face_id for face_id in split["ids"]])
    print(f"faces found: {n} of {len(split['ids'])}")
    print("TEMPLATE = np.array(" + json.dumps([[round(float(v), 2) for v in row] for row in points]) + ", np.float32)")
    prior = mask_prior([root / face_id for face_id in split["ids"]])
    np.savez_compressed(PRIOR_PATH, prior=prior)
    print(f"mask prior: {prior.mean():.3f} of the crop -> {PRIOR_PATH}")


if __name__ == "__main__":
    main()
